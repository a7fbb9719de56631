#!/usr/bin/python3
"""Reference values for tests/test_optim.c: PyTorch's Adam and SGD(momentum) run for a
few steps on a small parameter vector with fixed gradients, with and without
clip_grad_norm_. Writes tests/fixtures/train/optim.txt (plain text, one record per
line: a name, a count, then the values).

Run with Debian's interpreter (torch 1.13): /usr/bin/python3 tools/fixtures_train.py
"""
import os
import sys

import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "train")
N, STEPS = 11, 6


def record(f, name, values):
    vals = [float(v) for v in values]
    f.write("%s %d %s\n" % (name, len(vals), " ".join("%.9g" % v for v in vals)))


def run(kind, grads, p0, clip):
    p = torch.nn.Parameter(p0.clone())
    if kind == "adam":
        opt = torch.optim.Adam([p], lr=0.01, betas=(0.9, 0.999), eps=1e-8)
    else:
        opt = torch.optim.SGD([p], lr=0.05, momentum=0.9)
    out = []
    for g in grads:
        opt.zero_grad()
        p.grad = g.clone()
        if clip > 0:
            torch.nn.utils.clip_grad_norm_([p], clip)
        opt.step()
        out.append(p.detach().clone())
    return out


def main():
    torch.manual_seed(7)
    p0 = torch.randn(N, dtype=torch.float32)
    # Gradients of mixed scale (norms ~0.3 to ~30), so clipping at 1 bites on some steps.
    grads = [torch.randn(N, dtype=torch.float32) * (0.1 * 3.0 ** s) for s in range(STEPS)]
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "optim.txt"), "w") as f:
        f.write("# tools/fixtures_train.py: torch %s, N=%d, STEPS=%d\n" % (torch.__version__, N, STEPS))
        record(f, "p0", p0.tolist())
        for s, g in enumerate(grads):
            record(f, "grad%d" % s, g.tolist())
        for kind in ("adam", "sgd"):
            for clip in (0.0, 1.0):
                for s, p in enumerate(run(kind, grads, p0, clip)):
                    record(f, "%s_clip%g_step%d" % (kind, clip, s), p.tolist())
    return 0


if __name__ == "__main__":
    sys.exit(main())
