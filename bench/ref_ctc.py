"""bench/ref_ctc.py THREADS REPS DIR — the reference side of `ctc_loss`: loss and
gradient alone, torch.nn.functional.ctc_loss (reduction 'sum') + backward on the
same log-probabilities [T][B][C] and labels [B][L] as bench.c. torch's gradient with
respect to log_probs is exp(logprobs) - posterior, the same quantity as voz's dlogits."""
import sys

import torch
import torch.nn.functional as F

import ref_common as rc


def main():
    threads, reps, folder = rc.setup(sys.argv[1:], "ref_ctc.py THREADS REPS DIR")
    sh = rc.shapes(folder)
    T, B, C, L = sh["train_T"], sh["train_B"], sh["C"], sh["train_L"]
    lp = torch.from_numpy(rc.load(folder, "ctc_logprobs.f32", shape=(T, B, C))).requires_grad_()
    labels = torch.from_numpy(rc.load(folder, "labels.i32", "int32", (B, L)).astype("int64"))
    in_lens = torch.full((B,), T, dtype=torch.long)
    tgt_lens = torch.full((B,), L, dtype=torch.long)
    out = {}

    def run():
        lp.grad = None
        loss = F.ctc_loss(lp, labels, in_lens, tgt_lens, blank=sh["blank"], reduction="sum")
        loss.backward()
        out["loss"] = float(loss)

    timing = rc.time_case(run, reps)
    voz = rc.load_voz(folder, "ctc_loss", (T, B, C))
    diff = float("nan") if voz is None else float(abs(voz - lp.grad.numpy()).max())
    rc.report("ctc_loss", threads, timing, out["loss"], diff)


if __name__ == "__main__":
    main()
