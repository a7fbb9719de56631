#!/usr/bin/python3
"""Reference tensors for tests/test_net.c, computed by PyTorch (run with Debian's
/usr/bin/python3, which has torch 1.13):

    /usr/bin/python3 tools/fixtures_rnn.py [tests/fixtures/rnn]

Each case is a small network (nn.LSTM / nn.GRU / nn.RNN + nn.Linear + log_softmax)
run on a padded batch through pack_padded_sequence, so padded frames behave as in
voz. The loss is L = sum(logprobs * R * mask) with a fixed random R; the file holds
the state dict, the input, the log-probabilities, dL/dlogits (pre-softmax, what
voz_net_backward takes), dL/dx and dL/d(every parameter).

Inputs are drawn in float32 and the reference is computed in float64 from those
exact values, so the C test measures voz's float32 error alone.

File format (<case>.bin, little-endian): records of
    u32 name length, name bytes (UTF-8), u32 ndim, u32 shape[ndim], f32 data[numel]
Records: "config" [8] = cell, input_dim, hidden, layers, bidirectional, classes, T, B
(cell: 0 lstm, 1 gru, 2 rnn_tanh, 3 rnn_relu); "lens" [B]; the state-dict tensors
under their names ("rnn.weight_ih_l0", ..., "fc.weight", "fc.bias"); "x" [T,B,I];
"logprobs" [T,B,C] (0 at padded frames); "dlogits" [T,B,C]; "grad.x" [T,B,I];
"grad.<name>" for every parameter; "loss" [1].
"""
import os
import struct
import sys

import torch
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

CELLS = {"lstm": 0, "gru": 1, "rnn_tanh": 2, "rnn_relu": 3}

# name, cell, I, H, layers, bidirectional, C, T, lens (B = len(lens)), weight scale
CASES = [
    ("lstm_bi2", "lstm", 7, 8, 2, True, 6, 50, [50, 37, 21], 1.0),
    ("gru_bi2", "gru", 7, 5, 2, True, 6, 53, [41, 53, 12], 1.0),
    ("rnn_tanh_bi2", "rnn_tanh", 7, 16, 2, True, 6, 50, [50, 33, 8], 1.0),
    ("rnn_relu_bi2", "rnn_relu", 7, 6, 2, True, 6, 51, [26, 51, 44], 1.0),
    ("lstm_uni1", "lstm", 7, 9, 1, False, 6, 50, [50, 17, 35], 1.0),
    ("gru_uni1", "gru", 7, 10, 1, False, 6, 50, [30, 50, 1], 1.0),
]


class Net(nn.Module):
    def __init__(self, cell, I, H, layers, bidir, C):
        super().__init__()
        if cell == "lstm":
            self.rnn = nn.LSTM(I, H, num_layers=layers, bidirectional=bidir)
        elif cell == "gru":
            self.rnn = nn.GRU(I, H, num_layers=layers, bidirectional=bidir)
        else:
            self.rnn = nn.RNN(I, H, num_layers=layers, bidirectional=bidir,
                              nonlinearity="tanh" if cell == "rnn_tanh" else "relu")
        self.fc = nn.Linear(H * (2 if bidir else 1), C)

    def forward(self, x, lens):
        packed = pack_padded_sequence(x, lens, enforce_sorted=False)
        out, _ = self.rnn(packed)
        out, _ = pad_packed_sequence(out, total_length=x.shape[0])
        z = self.fc(out)
        z.retain_grad()
        return z, torch.log_softmax(z, dim=-1)


def record(f, name, t):
    t = t.detach().to(torch.float32).contiguous()
    shape = list(t.shape) if t.dim() else [1]
    nb = name.encode()
    f.write(struct.pack("<I", len(nb)) + nb)
    f.write(struct.pack("<I", len(shape)) + struct.pack("<%dI" % len(shape), *shape))
    f.write(t.numpy().astype("<f4").tobytes())


def make_case(outdir, seed, name, cell, I, H, layers, bidir, C, T, lens, scale):
    torch.manual_seed(seed)
    B = len(lens)
    net = Net(cell, I, H, layers, bidir, C)
    with torch.no_grad():
        for p in net.parameters():  # float32 values, then exact in float64
            p.mul_(scale)
    net = net.double()
    x = torch.randn(T, B, I, dtype=torch.float32).double().requires_grad_(True)
    R = torch.randn(T, B, C, dtype=torch.float32).double()
    lens_t = torch.tensor(lens, dtype=torch.int64)
    mask = (torch.arange(T)[:, None] < lens_t[None, :]).double()[:, :, None]
    z, logp = net(x, lens_t)
    loss = (logp * R * mask).sum()
    loss.backward()
    path = os.path.join(outdir, name + ".bin")
    with open(path, "wb") as f:
        cfg = [CELLS[cell], I, H, layers, int(bidir), C, T, B]
        record(f, "config", torch.tensor(cfg, dtype=torch.float64))
        record(f, "lens", lens_t.double())
        for k, v in net.state_dict().items():
            record(f, k, v)
        record(f, "x", x)
        record(f, "logprobs", logp * mask)
        record(f, "dlogits", z.grad)
        record(f, "grad.x", x.grad)
        for k, p in net.named_parameters():
            record(f, "grad." + k, p.grad)
        record(f, "loss", loss)
    print("%s: %s, %d bytes, loss %.6f" % (path, cell, os.path.getsize(path), loss.item()))


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/rnn"
    os.makedirs(outdir, exist_ok=True)
    torch.set_num_threads(1)
    for k, case in enumerate(CASES):
        make_case(outdir, 1000 + k, *case)


if __name__ == "__main__":
    main()
