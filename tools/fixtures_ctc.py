#!/usr/bin/python3
"""tools/fixtures_ctc.py — reference CTC losses and gradients from PyTorch for
tests/test_ctc.c. Run with Debian's /usr/bin/python3 (torch 1.13):

    /usr/bin/python3 tools/fixtures_ctc.py [tests/fixtures/ctc]

For every case, random float64 logits [T][C] go through log_softmax and
torch.nn.functional.ctc_loss(reduction='sum'); autograd gives the gradient w.r.t. the
logits. Written per case NAME (little-endian float32, row-major [T][C]):
  NAME.lp.f32    the log-softmax outputs the C code reads
  NAME.grad.f32  d loss / d logits
and one line in cases.txt: NAME T C blank L loss label_1 ... label_L
(loss printed with 17 significant digits).
"""
import os
import sys

import numpy as np
import torch

# (name, T, C, blank, labels or label length, logit scale)
# A label list is used as given; an int asks for that many random labels.
CASES = [
    ("two_frames", 2, 3, 0, [1], 1.0),
    ("empty_label", 6, 4, 0, [], 2.0),
    ("repeats", 8, 4, 0, [1, 1, 2, 2], 1.5),
    ("tight_repeats", 7, 3, 0, [1, 1, 1, 2], 1.0),   # T == min frames
    ("blank_last", 12, 5, 4, [0, 3, 3, 1], 2.0),     # blank is not class 0
    ("blank_middle", 15, 6, 2, 5, 3.0),
    ("medium", 40, 10, 0, 12, 2.0),
    ("peaky", 60, 29, 0, 20, 12.0),                  # confident, trained-like outputs
    ("long", 150, 29, 0, 40, 3.0),
]


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/ctc"
    os.makedirs(out, exist_ok=True)
    gen = torch.Generator().manual_seed(20240611)
    lines = []
    for name, T, C, blank, lab, scale in CASES:
        if isinstance(lab, int):
            # random non-blank labels, with a forced repeat to exercise the
            # no-skip rule between identical labels
            cls = [c for c in range(C) if c != blank]
            idx = torch.randint(len(cls), (lab,), generator=gen).tolist()
            lab = [cls[i] for i in idx]
            if len(lab) >= 3:
                lab[2] = lab[1]
        logits = (torch.randn(T, C, generator=gen, dtype=torch.float64) * scale)
        logits.requires_grad_(True)
        lp = torch.log_softmax(logits, dim=1)
        targets = torch.tensor([lab], dtype=torch.long)
        loss = torch.nn.functional.ctc_loss(
            lp.unsqueeze(1), targets if lab else torch.zeros(1, 0, dtype=torch.long),
            torch.tensor([T]), torch.tensor([len(lab)]), blank=blank,
            reduction="sum", zero_infinity=False)
        loss.backward()
        lp.detach().numpy().astype("<f4").tofile(os.path.join(out, name + ".lp.f32"))
        logits.grad.numpy().astype("<f4").tofile(os.path.join(out, name + ".grad.f32"))
        lines.append(" ".join([name, str(T), str(C), str(blank), str(len(lab)),
                               "%.17g" % loss.item()] + [str(x) for x in lab]))
    with open(os.path.join(out, "cases.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
