"""bench/ref_nets.py CASE THREADS REPS DIR — the reference side of the network cases
with the same parameters and inputs as bench.c (the block and tensor table written by
`bench gen`, loaded as a state dict since the names are PyTorch's):
  bilstm_forward / gru_forward  nn.LSTM / nn.GRU (2 layers, bidirectional) + Linear +
                                log_softmax under torch.no_grad(), T = 1000, B = 1
  train_step                    the LSTM net in train mode, B = 16 x T = 300: CTC loss
                                (sum / B) + backward + clip_grad_norm_ + Adam step."""
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

import ref_common as rc


class Net(nn.Module):
    def __init__(self, cell, I, H, layers, C):
        super().__init__()
        rnn = nn.LSTM if cell == "lstm" else nn.GRU
        self.rnn = rnn(I, H, layers, bidirectional=True)
        self.fc = nn.Linear(2 * H, C)

    def forward(self, x):  # x [T][B][I] -> log-probabilities [T][B][C]
        y, _ = self.rnn(x)
        return F.log_softmax(self.fc(y), dim=-1)


def load_net(folder, cell, sh):
    net = Net(cell, sh["I"], sh["H"], sh["layers"], sh["C"])
    block = rc.load(folder, "%s.params.f32" % cell)
    state = {}
    with open(os.path.join(folder, "%s.tensors.tsv" % cell)) as f:
        for line in f:
            name, off, numel, ndim, s0, s1 = line.split("\t")
            off, numel = int(off), int(numel)
            shape = (int(s0), int(s1)) if int(ndim) == 2 else (int(s0),)
            state[name] = torch.from_numpy(block[off:off + numel].reshape(shape).copy())
    net.load_state_dict(state, strict=True)
    return net


def main():
    if len(sys.argv) != 5:
        sys.exit("usage: ref_nets.py CASE THREADS REPS DIR")
    case = sys.argv[1]
    threads, reps, folder = rc.setup(sys.argv[2:], "ref_nets.py CASE THREADS REPS DIR")
    sh = rc.shapes(folder)
    I, C = sh["I"], sh["C"]
    if case in ("bilstm_forward", "gru_forward"):
        T, B = sh["fwd_T"], sh["fwd_B"]
        net = load_net(folder, "lstm" if case == "bilstm_forward" else "gru", sh).eval()
        x = torch.from_numpy(rc.load(folder, "x_fwd.f32", shape=(T, B, I)))
        out = {}

        def run():
            with torch.no_grad():
                out["y"] = net(x)

        timing = rc.time_case(run, reps)
        y = out["y"].numpy()
        voz = rc.load_voz(folder, case, (T, B, C))
        diff = float("nan") if voz is None else float(abs(voz - y).max())
        rc.report(case, threads, timing, float(y.flat[0]), diff)
    elif case == "train_step":
        T, B, L = sh["train_T"], sh["train_B"], sh["train_L"]
        net = load_net(folder, "lstm", sh).train()
        x = torch.from_numpy(rc.load(folder, "x_train.f32", shape=(T, B, I)))
        labels = torch.from_numpy(rc.load(folder, "labels.i32", "int32", (B, L)).astype(np.int64))
        in_lens = torch.full((B,), T, dtype=torch.long)
        tgt_lens = torch.full((B,), L, dtype=torch.long)
        opt = torch.optim.Adam(net.parameters(), lr=sh["adam_lr"])
        losses = []

        def run():
            opt.zero_grad()
            lp = net(x)
            loss = F.ctc_loss(lp, labels, in_lens, tgt_lens, blank=sh["blank"], reduction="sum") / B
            loss.backward()
            nn.utils.clip_grad_norm_(net.parameters(), sh["clip_norm"])
            opt.step()
            losses.append(float(loss))

        timing = rc.time_case(run, reps)
        # The check value is the loss of the first (warm-up) step: same parameters and
        # batch on both sides, so voz's first loss must agree with it.
        rc.report(case, threads, timing, losses[0], float("nan"))
    else:
        sys.exit("ref_nets.py: unknown case '%s' (bilstm_forward, gru_forward, train_step)" % case)


if __name__ == "__main__":
    main()
