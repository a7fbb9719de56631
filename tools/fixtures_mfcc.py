#!/usr/bin/python3
"""Reference MFCC (with VTLN warps) and delta fixtures for tests/test_mfcc.c.

Run with Debian's interpreter (it has torch 1.13 and torchaudio 0.13):
    /usr/bin/python3 tools/fixtures_mfcc.py [tests/fixtures/mfcc]

Writes, into the output folder:
  *.in.f32      input signals, float32 little-endian, samples in [-1, 1]
  *.mfcc.f32    torchaudio.compliance.kaldi.mfcc of the input times 32768 (computed
                in float64, stored as float32), [T][C]
  deltas_ta.f32     base default16 MFCC + torchaudio compute_deltas (win 5, replicate)
                    applied once and twice: [T][3C]
  deltas_kaldi.f32  the same base with Kaldi's compute-deltas rule (one 9-tap filter
                    for order 2 over edge-replicated base frames), written out here
                    from its definition: [T][3C]
  cases.txt     one line per MFCC case: key=value pairs naming the input, every
                option that differs from voz's defaults, and the output shape T, C.

Signals are synthesized with a fixed seed (chirp + tones + noise, a stretch of exact
digital silence, a DC step), plus one espeak-ng phrase resampled to 16 kHz.
"""
import math
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torchaudio
import torchaudio.compliance.kaldi as kaldi
import torchaudio.functional as AF

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "mfcc")

# voz's defaults (voz_feature_default_params) in torchaudio's vocabulary.
DEFAULTS = dict(
    sample_frequency=16000.0, frame_length=25.0, frame_shift=10.0, preemphasis_coefficient=0.97,
    remove_dc_offset=True, window_type="povey", round_to_power_of_two=True, snip_edges=True,
    dither=0.0, num_mel_bins=23, low_freq=20.0, high_freq=0.0, num_ceps=13, cepstral_lifter=22.0,
    use_energy=False, raw_energy=True, energy_floor=0.0, htk_compat=False,
)
# torchaudio option -> key in cases.txt (voz_feature_params field names).
KEYS = dict(
    sample_frequency="sample_rate", frame_length="frame_length_ms", frame_shift="frame_shift_ms",
    preemphasis_coefficient="preemph", remove_dc_offset="remove_dc", window_type="window",
    round_to_power_of_two="round_pow2", snip_edges="snip_edges", dither="dither",
    num_mel_bins="num_mel_bins", low_freq="low_freq", high_freq="high_freq", num_ceps="num_ceps",
    cepstral_lifter="cepstral_lifter", use_energy="use_energy", raw_energy="raw_energy",
    energy_floor="energy_floor", htk_compat="htk_compat",
    vtln_warp="vtln_warp", vtln_low="vtln_low", vtln_high="vtln_high",
)


def synth(rate, seconds, top_hz, seed):
    """Chirp 80 Hz -> top_hz, two tones, white noise; 80 ms of exact zeros and a DC step."""
    rng = np.random.default_rng(seed)
    n = int(rate * seconds)
    t = np.arange(n) / rate
    f0, f1 = 80.0, top_hz
    k = (f1 - f0) / seconds
    x = 0.3 * np.sin(2 * np.pi * (f0 * t + 0.5 * k * t * t))
    x += 0.1 * np.sin(2 * np.pi * 440.0 * t) + 0.05 * np.sin(2 * np.pi * 1234.5 * t + 0.3)
    x += 0.01 * rng.standard_normal(n)
    x[(t >= 0.6) & (t < 0.75)] += 0.25  # a DC step: remove_dc matters
    x[(t >= 0.40) & (t < 0.48)] = 0.0  # digital silence: the log floors must agree
    return x.astype(np.float32)


def espeak(rate, seed):
    """An espeak-ng phrase at `rate`, with a faint noise floor (3 LSB) so no frame's
    spectrum sits at float rounding level, where two FFTs may disagree."""
    with tempfile.TemporaryDirectory() as d:
        wav = os.path.join(d, "s.wav")
        subprocess.run(["espeak-ng", "-v", "en", "-s", "160", "-w", wav, "seven three nine"], check=True)
        w, r = torchaudio.load(wav)
    w = AF.resample(w[0:1], r, rate)[0].numpy().astype(np.float64)
    w = w[: int(rate * 1.0)]
    rng = np.random.default_rng(seed)
    w += 1e-4 * rng.standard_normal(w.shape[0])
    return w.astype(np.float32)


def write_f32(name, a):
    a = np.ascontiguousarray(a, dtype="<f4")
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(a.tobytes())


def mfcc(x, **opts):
    o = dict(DEFAULTS)
    o.update(opts)
    # The float32 samples times 32768 (exact), analysed in float64: the reference is
    # torchaudio's algorithm without its own float32 rounding (which alone reaches ~7e-5
    # of the lifter weight per coefficient on speech), stored as float32.
    wav = torch.from_numpy(x.astype(np.float32).astype(np.float64) * 32768.0).unsqueeze(0)
    return kaldi.mfcc(wav, **o).numpy().astype(np.float32), o


def kaldi_deltas(x, order=2, window=2):
    """Kaldi's DeltaFeatures: scales[i] = scales[i-1] (*) [-w..w] / sum j^2, applied to
    the base frames with indices clamped to [0, T-1]."""
    scales = [np.array([1.0])]
    ramp = np.arange(-window, window + 1, dtype=np.float64)
    for _ in range(order):
        scales.append(np.convolve(scales[-1], ramp) / np.sum(ramp * ramp))
    T = x.shape[0]
    out = [x.astype(np.float64)]
    for i in range(1, order + 1):
        half = i * window
        acc = np.zeros_like(out[0])
        for j in range(-half, half + 1):
            idx = np.clip(np.arange(T) + j, 0, T - 1)
            acc += scales[i][j + half] * x[idx].astype(np.float64)
        out.append(acc)
    return np.concatenate(out, axis=1).astype(np.float32)


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    signals = {
        "synth16k": synth(16000, 1.0, 6500.0, 1),
        "synth8k": synth(8000, 1.0, 3600.0, 2),
        "speech16k": espeak(16000, 3),
        "speech8k": espeak(8000, 4),
    }
    for name, x in signals.items():
        write_f32(name + ".in.f32", x)

    cases = [
        ("default16", "synth16k", {}),
        ("default8", "synth8k", dict(sample_frequency=8000.0)),
        ("speech16", "speech16k", {}),
        ("speech8", "speech8k", dict(sample_frequency=8000.0)),
        # Set 1: hamming, reflected edges, 40 bins, 20 ceps, band stops 400 Hz below Nyquist.
        ("hamming_nosnip", "synth16k", dict(window_type="hamming", snip_edges=False, num_mel_bins=40,
                                            num_ceps=20, high_freq=-400.0)),
        ("hamming_nosnip_speech", "speech16k", dict(window_type="hamming", snip_edges=False,
                                                    num_mel_bins=40, num_ceps=20, high_freq=-400.0)),
        # Set 2: hann, log energy after the window replaces c0, no DC removal, no lifter,
        # FFT of exactly the frame length (400, not 512).
        ("hann_energy", "synth16k", dict(window_type="hanning", use_energy=True, raw_energy=False,
                                         remove_dc_offset=False, cepstral_lifter=0.0,
                                         round_to_power_of_two=False)),
        ("hann_energy8", "speech8k", dict(sample_frequency=8000.0, window_type="hanning", use_energy=True,
                                          raw_energy=False, remove_dc_offset=False, cepstral_lifter=0.0,
                                          round_to_power_of_two=False)),
        # Set 3: blackman with band limits and no pre-emphasis, reflected edges, at 8 kHz.
        ("blackman_band", "synth8k", dict(sample_frequency=8000.0, window_type="blackman", low_freq=100.0,
                                          high_freq=3000.0, preemphasis_coefficient=0.0, num_mel_bins=15,
                                          snip_edges=False)),
        # Set 4: rectangular, 20/5 ms frames, HTK order with a floored raw energy last.
        ("rect_htk", "synth8k", dict(sample_frequency=8000.0, window_type="rectangular", frame_length=20.0,
                                     frame_shift=5.0, low_freq=300.0, high_freq=-500.0, htk_compat=True,
                                     use_energy=True, energy_floor=10.0, num_ceps=12, cepstral_lifter=10.0)),
        # Set 5: HTK order with c0 (scaled by sqrt 2) last, 30 ms frames, shift not a
        # divisor of the frame.
        ("htk_c0", "speech16k", dict(htk_compat=True, frame_length=30.0, frame_shift=7.0, num_mel_bins=26)),
        # Set 6: VTLN warps of the mel bank (the trainer's VTLP), the digits model's
        # 8 kHz setting stretched and squeezed, and moved knees at 16 kHz.
        ("vtln_up8", "speech8k", dict(sample_frequency=8000.0, vtln_warp=1.12)),
        ("vtln_down8", "speech8k", dict(sample_frequency=8000.0, vtln_warp=0.88)),
        ("vtln_knees16", "speech16k", dict(vtln_warp=0.93, vtln_low=300.0, vtln_high=-1200.0, num_mel_bins=40)),
    ]
    lines = []
    for name, sig, opts in cases:
        feats, o = mfcc(signals[sig], **opts)
        write_f32(name + ".mfcc.f32", feats)
        kv = ["name=" + name, "input=" + sig + ".in.f32"]
        for k, v in sorted(opts.items()):
            if isinstance(v, bool):
                v = int(v)
            kv.append("%s=%s" % (KEYS[k], v))
        kv += ["T=%d" % feats.shape[0], "C=%d" % feats.shape[1]]
        lines.append(" ".join(kv))
        if name == "default16":
            base = feats
    with open(os.path.join(OUT, "cases.txt"), "w") as f:
        f.write("# written by tools/fixtures_mfcc.py; options not named are voz's defaults\n")
        f.write("\n".join(lines) + "\n")

    # Deltas of the default16 base features.
    spec = torch.from_numpy(base.T.copy())  # (C, T): torchaudio wants (..., freq, time)
    d1 = AF.compute_deltas(spec, win_length=5, mode="replicate")
    d2 = AF.compute_deltas(d1, win_length=5, mode="replicate")
    ta = torch.cat([spec, d1, d2], dim=0).T.numpy()
    write_f32("deltas_ta.f32", ta)
    write_f32("deltas_kaldi.f32", kaldi_deltas(base))
    kd = kaldi_deltas(base)
    diff = np.abs(kd - ta)
    C = base.shape[1]
    print("deltas: order 1 max |kaldi - torchaudio| = %.3g" % diff[:, C:2 * C].max())
    print("deltas: order 2 max |kaldi - torchaudio| = %.3g (edges), %.3g (frames 2..T-3)"
          % (diff[:, 2 * C:].max(), diff[2:-2, 2 * C:].max()))
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print("wrote %d cases to %s (%d bytes)" % (len(cases), OUT, total))


if __name__ == "__main__":
    main()
