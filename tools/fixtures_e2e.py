#!/usr/bin/python3
"""End-to-end reference fixtures for tests/test_model_file.c and tests/e2e_transcribe.sh.

Run with Debian's interpreter (torch 1.13, torchaudio 0.13):
    /usr/bin/python3 tools/fixtures_e2e.py [OUT_DIR]      (default tests/fixtures/e2e)

What it does, all deterministic (fixed seeds, one thread):
  1. synthesizes spoken digit strings with espeak-ng (several voices, rates and pitches),
     resampled to 16 kHz with torchaudio and quantised to 16 bits over a faint fixed
     noise floor (2 LSB) so no frame is digital silence;
  2. computes features exactly as voz does with its default options (frontend/
     features.c): torchaudio.compliance.kaldi.mfcc of samples * 32768 with dither 0,
     deltas and delta-deltas by Kaldi's compute-deltas rule (one 9-tap filter over
     edge-replicated base frames, which is what voz implements; applying
     torchaudio.functional.compute_deltas twice differs in the first and last four
     frames), then per-utterance mean/variance normalisation with population variance
     floored at 1e-10 (VOZ_CMVN_VAR_FLOOR);
  3. trains a 2-layer bidirectional LSTM (H = 32) + linear + log-softmax with CTC over
     the characters of the digit words for a fixed number of epochs (a few minutes);
  4. exports it with tools/torch2voz.py and writes the references for the clip.

Output (small, committed):
  clip.wav        the test clip: "seven three nine two" (espeak-ng en-us), 16 kHz mono 16-bit
  model.voz       the trained model (written by torch2voz.write_voz)
  features.f32    float32 [T][39]: the clip's features (float64 pipeline, stored f32)
  logprobs.f32    float32 [T][C]: PyTorch's log-posteriors of the clip (float64 forward)
  transcript.txt  PyTorch's greedy CTC transcript of the clip (labels joined, words
                  split at the space class and joined by single spaces)
"""
import math
import os
import random
import subprocess
import sys
import tempfile
import time
import wave

import numpy as np
import torch
import torch.nn as nn
import torchaudio
import torchaudio.compliance.kaldi as kaldi
import torchaudio.functional as AF

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch2voz  # noqa: E402

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "e2e")
RATE = 16000
EPOCHS = 50           # fixed, so the result does not depend on the machine's load
STOP_LOSS = 0.05      # or earlier: CTC loss per target character, averaged over an epoch
N_TRAIN = 100         # utterances, the clip included
SEED = 20260103
CLIP_TEXT = "seven three nine two"
CLIP_VOICE = ("en-us", 150, 50)

WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
ALPHABET = ["", " "] + sorted(set("".join(WORDS)))
VOICES = ["en-us", "en-gb", "en-us+m2", "en-gb-x-rp", "en-us+f2", "en+m4", "en-029", "en-gb-scotland"]

# voz's default feature options in torchaudio's vocabulary (voz_feature_default_params).
MFCC_OPTS = dict(sample_frequency=16000.0, frame_length=25.0, frame_shift=10.0, preemphasis_coefficient=0.97,
                 remove_dc_offset=True, window_type="povey", round_to_power_of_two=True, snip_edges=True,
                 dither=0.0, num_mel_bins=23, low_freq=20.0, high_freq=0.0, num_ceps=13, cepstral_lifter=22.0,
                 use_energy=False, raw_energy=True, energy_floor=0.0, htk_compat=False)
DELTA_WINDOW = 2
VAR_FLOOR = 1e-10


def espeak(text, voice, speed, pitch, noise_rng):
    """int16 samples at RATE of espeak-ng saying `text`."""
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "s.wav")
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", path, text],
                       check=True, stderr=subprocess.DEVNULL)
        w, r = torchaudio.load(path)
    w = AF.resample(w[0:1].double(), r, RATE)[0].numpy()
    x = w * 32768.0 + 2.0 * noise_rng.standard_normal(w.shape[0])
    return np.clip(np.round(x), -32768, 32767).astype(np.int16)


def write_wav(path, pcm):
    with wave.open(path, "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(RATE)
        f.writeframes(pcm.astype("<i2").tobytes())


def delta_filters(order, w):
    """Kaldi's DeltaFeatures scales: order i is order i-1 convolved with [-w..w]/sum(j^2)."""
    norm = sum(j * j for j in range(-w, w + 1))
    scales = [np.array([1.0])]
    for _ in range(order):
        prev = scales[-1]
        cur = np.zeros(len(prev) + 2 * w)
        for j in range(-w, w + 1):
            cur[j + w:j + w + len(prev)] += j * prev / norm
        scales.append(cur)
    return scales


def features(pcm16):
    """[T][39] float64: MFCC + deltas + delta-deltas (Kaldi's rule) + utterance CMVN."""
    x = torch.from_numpy(pcm16.astype(np.float64))[None, :]  # = samples * 32768
    base = kaldi.mfcc(x, **MFCC_OPTS).numpy()  # [T][13]
    T = base.shape[0]
    out = [base]
    for f in delta_filters(2, DELTA_WINDOW)[1:]:
        half = (len(f) - 1) // 2
        idx = np.clip(np.arange(T)[:, None] + np.arange(-half, half + 1)[None, :], 0, T - 1)
        out.append(np.einsum("tk,tkc->tc", np.broadcast_to(f, (T, len(f))), base[idx]))
    feats = np.concatenate(out, axis=1)
    mean = feats.mean(axis=0)
    var = ((feats - mean) ** 2).mean(axis=0)
    return (feats - mean) / np.sqrt(np.maximum(var, VAR_FLOOR))


class Net(nn.Module):
    def __init__(self, input_dim, hidden, classes):
        super().__init__()
        self.rnn = nn.LSTM(input_dim, hidden, num_layers=2, bidirectional=True)
        self.fc = nn.Linear(2 * hidden, classes)

    def forward(self, x, lens):
        packed = nn.utils.rnn.pack_padded_sequence(x, lens, enforce_sorted=False)
        out, _ = self.rnn(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, total_length=x.shape[0])
        return torch.log_softmax(self.fc(out), dim=-1)  # [T][B][C]


def greedy(lp):
    best = lp.argmax(axis=1)
    labels, prev = [], -1
    for k in best:
        if k != prev and k != 0:
            labels.append(int(k))
        prev = k
    text = "".join(ALPHABET[k] for k in labels)
    return " ".join(text.split())


def encode(text):
    return [ALPHABET.index(ch) for ch in text]


def main():
    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    rng = random.Random(SEED)
    noise = np.random.default_rng(SEED)
    os.makedirs(OUT, exist_ok=True)

    clip = espeak(CLIP_TEXT, *CLIP_VOICE, noise)
    data = [(CLIP_TEXT, features(clip))]
    for i in range(N_TRAIN - 1):
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 5)))
        pcm = espeak(text, rng.choice(VOICES), rng.randint(130, 190), rng.randint(35, 65), noise)
        data.append((text, features(pcm)))
    print(f"{len(data)} utterances, {sum(f.shape[0] for _, f in data)} frames", file=sys.stderr)

    net = Net(39, 32, len(ALPHABET))
    opt = torch.optim.Adam(net.parameters(), lr=5e-3)
    ctc = nn.CTCLoss(blank=0, zero_infinity=True)
    t0, epoch, batch = time.time(), 0, 8
    order = list(range(len(data)))
    while epoch < EPOCHS:
        rng.shuffle(order)
        total = 0.0
        for b in range(0, len(order), batch):
            items = [data[i] for i in order[b:b + batch]]
            lens = [f.shape[0] for _, f in items]
            x = torch.zeros(max(lens), len(items), 39)
            for j, (_, f) in enumerate(items):
                x[: f.shape[0], j] = torch.from_numpy(f).float()
            targets = [torch.tensor(encode(t)) for t, _ in items]
            lp = net(x, lens)
            loss = ctc(lp, torch.cat(targets), torch.tensor(lens), torch.tensor([len(t) for t in targets]))
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(net.parameters(), 5.0)
            opt.step()
            total += loss.item() * len(items)
        epoch += 1
        print(f"epoch {epoch}: loss {total / len(data):.3f} ({time.time() - t0:.0f} s)", file=sys.stderr)
        if total / len(data) < STOP_LOSS:
            break

    net = net.double().eval()
    with torch.no_grad():
        correct = 0
        for text, f in data:
            lp = net(torch.from_numpy(f)[:, None, :], [f.shape[0]])[:, 0].numpy()
            correct += greedy(lp) == text
        clip_feats = data[0][1]
        lp = net(torch.from_numpy(clip_feats)[:, None, :], [clip_feats.shape[0]])[:, 0].numpy()
    transcript = greedy(lp)
    print(f"training set: {correct}/{len(data)} exact; clip: {transcript!r} (said {CLIP_TEXT!r})", file=sys.stderr)

    sd = {k: v.float() for k, v in net.state_dict().items()}
    torch2voz.write_voz(
        os.path.join(OUT, "model.voz"), cell="lstm", hidden=32, layers=2, bidirectional=True, alphabet=ALPHABET,
        blank=0, tensors=sd, sample_rate=RATE, words=WORDS,
        metadata={"name": "e2e-fixture", "recipe": "tools/fixtures_e2e.py",
                  "data": f"{len(data)} espeak-ng digit strings (the clip included), {epoch} epochs",
                  "note": "a test fixture, not a useful recognizer"})
    # The reference is computed with the float32 weights the file holds.
    net.load_state_dict({k: v.double() for k, v in sd.items()})
    with torch.no_grad():
        lp = net(torch.from_numpy(clip_feats)[:, None, :], [clip_feats.shape[0]])[:, 0].numpy()
    transcript = greedy(lp)
    write_wav(os.path.join(OUT, "clip.wav"), clip)
    clip_feats.astype("<f4").tofile(os.path.join(OUT, "features.f32"))
    lp.astype("<f4").tofile(os.path.join(OUT, "logprobs.f32"))
    with open(os.path.join(OUT, "transcript.txt"), "w") as f:
        f.write(transcript + "\n")
    # Margin of the greedy choice: how far the best class is ahead of the second, per frame.
    s = np.sort(lp, axis=1)
    print(f"wrote {OUT}: T={lp.shape[0]} C={lp.shape[1]}, transcript {transcript!r}, "
          f"smallest argmax margin {np.min(s[:, -1] - s[:, -2]):.4f}", file=sys.stderr)


if __name__ == "__main__":
    main()
