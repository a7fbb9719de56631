"""bench/ref_mfcc.py THREADS REPS DIR — the reference side of the `mfcc` case:
torchaudio.compliance.kaldi.mfcc on the same 60 s of 16 kHz audio as bench.c, Kaldi
defaults, dither 0, 13 coefficients, no deltas, no CMVN. voz reads floats in [-1, 1]
and scales by 32768 (Kaldi's int16 convention), so torchaudio gets the scaled samples."""
import sys

import torch
import torchaudio.compliance.kaldi as kaldi

import ref_common as rc


def main():
    threads, reps, folder = rc.setup(sys.argv[1:], "ref_mfcc.py THREADS REPS DIR")
    sh = rc.shapes(folder)
    rate = sh["mfcc_rate"]
    audio = rc.load(folder, "audio.f32")
    wav = torch.from_numpy(audio * 32768.0).unsqueeze(0)
    out = {}

    def run():
        with torch.no_grad():
            out["f"] = kaldi.mfcc(wav, sample_frequency=rate, dither=0.0, num_ceps=13,
                                  num_mel_bins=23, use_energy=False, snip_edges=True)

    timing = rc.time_case(run, reps)
    f = out["f"].numpy()
    voz = rc.load_voz(folder, "mfcc", None)
    diff = float("nan")
    if voz is not None and voz.size == f.size:
        diff = float(abs(voz.reshape(f.shape) - f).max())
    elif voz is not None:
        print("ref_mfcc.py: voz wrote %d values, torchaudio %d" % (voz.size, f.size), file=sys.stderr)
    rc.report("mfcc", threads, timing, f.shape[0], diff)


if __name__ == "__main__":
    main()
