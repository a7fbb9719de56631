#!/usr/bin/env python3
"""Seed corpora for the libFuzzer targets in fuzz/ (fuzz/run.sh calls this).

    python3 tools/make_fuzz_seeds.py OUT_DIR

writes OUT_DIR/audio, OUT_DIR/model and OUT_DIR/manifest: small, valid or nearly
valid inputs that start the fuzzer inside each format instead of at its first byte.
Standard library only (any Python 3), plus sox for the formats it writes (FLAC, Ogg,
AIFF, AU, W64) when it is installed. Deterministic: the same files on every run.

audio    WAV images written here byte by byte: every sample encoding the reader knows
         (8-bit unsigned, 16/24/32-bit PCM, 32/64-bit float, WAVE_FORMAT_EXTENSIBLE),
         1-3 channels, extra chunks (LIST, fact, odd-sized with a pad byte) before the
         data, lying RIFF/data sizes (0, 0xFFFFFFFF, past the end), no samples, one
         frame, a NaN sample; and sox's conversions of one of them.
model    tiny voz model files (models/FORMAT.md) for each cell type (one an ensemble of
         three networks, format version 2), uni- and
         bidirectional, with and without word list, metadata and an unknown section.
manifest TSV and DeepSpeech CSV manifests with the cases the parser distinguishes
         (BOM, CRLF, quotes, line breaks in quotes, blank lines, bad characters,
         empty transcripts, duplicates), and word lists.
"""
import math
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

# ---- audio -------------------------------------------------------------------------

RATE = 8000


def tone(n, channels, rate=RATE):
    """n frames of a 440 Hz tone (channel c a little quieter), values in [-1, 1)."""
    return [[0.5 * (1 - 0.2 * c) * math.sin(2 * math.pi * 440 * i / rate) for c in range(channels)]
            for i in range(n)]


def encode(frames, tag, bits):
    """Little-endian sample bytes: tag 1 = PCM (8-bit unsigned), 3 = IEEE float."""
    out = bytearray()
    for fr in frames:
        for v in fr:
            if tag == 3:
                out += struct.pack("<f" if bits == 32 else "<d", v)
            elif bits == 8:
                out.append(max(0, min(255, int(round(v * 128)) + 128)))
            else:
                full = 1 << (bits - 1)
                q = max(-full, min(full - 1, int(round(v * full))))
                out += q.to_bytes(bits // 8, "little", signed=True)
    return bytes(out)


def chunk(cid, payload, size=None):
    """A RIFF chunk, padded to an even length; `size` overrides the size field."""
    b = cid + struct.pack("<I", len(payload) if size is None else size) + payload
    return b + (b"\0" if len(payload) % 2 else b"")


def fmt_chunk(tag, channels, bits, extensible=False, cb=False):
    align = channels * bits // 8
    base = struct.pack("<HHIIHH", 0xFFFE if extensible else tag, channels, RATE, RATE * align, align, bits)
    if extensible:
        guid = struct.pack("<H", tag) + b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
        mask = (1 << channels) - 1
        base += struct.pack("<HHI", 22, bits, mask) + guid
    elif cb:
        base += struct.pack("<H", 0)
    return chunk(b"fmt ", base)


def wav(tag=1, bits=16, channels=1, n=200, extensible=False, pre=b"", riff_size=None, data_size=None,
        frames=None, post=b"", cut=0, cb=False):
    data = encode(frames if frames is not None else tone(n, channels), tag, bits)
    body = b"WAVE" + fmt_chunk(tag, channels, bits, extensible, cb) + pre + chunk(b"data", data, data_size) + post
    img = b"RIFF" + struct.pack("<I", len(body) if riff_size is None else riff_size) + body
    return img[:len(img) - cut] if cut else img


def audio_seeds():
    list_chunk = chunk(b"LIST", b"INFO" + chunk(b"INAM", b"seed\0"))
    fact = chunk(b"fact", struct.pack("<I", 200))
    odd = chunk(b"junk", b"abc")
    s = {
        "u8.wav": wav(1, 8), "s16.wav": wav(1, 16), "s24.wav": wav(1, 24), "s32.wav": wav(1, 32),
        "f32.wav": wav(3, 32), "f64.wav": wav(3, 64),
        "ext_s16_stereo.wav": wav(1, 16, 2, extensible=True), "ext_f32.wav": wav(3, 32, extensible=True),
        "ext_s24_3ch.wav": wav(1, 24, 3, n=100, extensible=True),
        "stereo.wav": wav(1, 16, 2), "fmt18_cb.wav": wav(1, 16, cb=True),
        "chunks_before_data.wav": wav(1, 16, pre=list_chunk + fact + odd),
        "chunk_after_data.wav": wav(1, 16, post=list_chunk),
        "riff_size_0.wav": wav(riff_size=0), "riff_size_ffffffff.wav": wav(riff_size=0xFFFFFFFF),
        "data_size_0.wav": wav(data_size=0), "data_size_ffffffff.wav": wav(data_size=0xFFFFFFFF),
        "data_past_end.wav": wav(data_size=100000), "truncated_mid_sample.wav": wav(cut=1),
        "no_samples.wav": wav(n=0), "one_frame.wav": wav(n=1), "header_only.wav": wav(n=0)[:36],
        "nan_sample.wav": wav(3, 32, frames=[[0.1], [float("nan")], [0.2]]),
        "inf_sample.wav": wav(3, 64, frames=[[0.1], [float("inf")], [0.2]]),
        "quiet_dc.wav": wav(1, 16, frames=[[0.6 + 1e-4 * math.sin(i)] for i in range(200)]),
        "text.txt": b"this is not audio\n", "empty.bin": b"", "mp3_header.mp3": b"ID3\x03\x00\x00\x00\x00\x00\x0a"
        + b"\xff\xfb\x90\x64" + bytes(60),
    }
    return s


def sox_seeds(src_bytes):
    """The s16 seed converted by sox into the other containers libsndfile reads."""
    out = {}
    if not shutil.which("sox"):
        return out
    with tempfile.TemporaryDirectory() as d:
        src = os.path.join(d, "in.wav")
        with open(src, "wb") as f:
            f.write(src_bytes)
        for name in ["sox.flac", "sox.ogg", "sox.aiff", "sox.au", "sox.w64", "sox.caf"]:
            dst = os.path.join(d, name)
            r = subprocess.run(["sox", "-q", src, dst], stderr=subprocess.DEVNULL)
            if r.returncode == 0 and os.path.getsize(dst) > 0:
                with open(dst, "rb") as f:
                    out[name] = f.read()
    return out


# ---- model -------------------------------------------------------------------------

CELLS = {"lstm": (0, 4), "gru": (1, 3), "rnn_tanh": (2, 1), "rnn_relu": (3, 1)}


def section(tag, payload):
    b = tag + struct.pack("<IQ", 0, len(payload)) + payload
    return b + bytes(-len(b) % 8)


def vstr(s):
    b = s.encode("utf-8")
    return struct.pack("<I", len(b)) + b


def model(cell="lstm", layers=1, bidi=0, hidden=2, classes=("", " ", "a", "b"), words=(), meta=(),
          extra=b"", feat_over=None, members=1):
    feat = dict(rate=8000, frame_length=25.0, frame_shift=10.0, preemph=0.97, remove_dc=1, window=0, round_pow2=1,
                snip_edges=1, dither=0.0, num_mel_bins=5, low_freq=20.0, high_freq=0.0, num_ceps=3, lifter=22.0,
                use_energy=0, raw_energy=1, energy_floor=0.0, htk_compat=0, delta_order=1, delta_window=2, cmvn=1,
                cmvn_var=1)
    feat.update(feat_over or {})
    f = feat
    feat_b = struct.pack("<Iffffiiiififfifiifiiiii", f["rate"], float(f["rate"]), f["frame_length"], f["frame_shift"],
                         f["preemph"], f["remove_dc"], f["window"], f["round_pow2"], f["snip_edges"], f["dither"],
                         f["num_mel_bins"], f["low_freq"], f["high_freq"], f["num_ceps"], f["lifter"],
                         f["use_energy"], f["raw_energy"], f["energy_floor"], f["htk_compat"], f["delta_order"],
                         f["delta_window"], f["cmvn"], f["cmvn_var"])
    assert len(feat_b) == 92
    in_dim = f["num_ceps"] * (1 + f["delta_order"])
    code, gates = CELLS[cell]
    C = len(classes)
    net_b = struct.pack("<Iiiiiii", code, in_dim, hidden, layers, bidi, C, 0)
    alph_b = struct.pack("<I", C) + b"".join(vstr(c) for c in classes)
    # Tensors in voz_net_tensor() order (any order is allowed in the table).
    G, D = gates * hidden, hidden * (1 + bidi)
    tensors = []
    for l in range(layers):
        for sfx in ([""] if not bidi else ["", "_reverse"]):
            I = in_dim if l == 0 else D
            tensors += [("rnn.weight_ih_l%d%s" % (l, sfx), [G, I]), ("rnn.weight_hh_l%d%s" % (l, sfx), [G, hidden]),
                        ("rnn.bias_ih_l%d%s" % (l, sfx), [G]), ("rnn.bias_hh_l%d%s" % (l, sfx), [G])]
    tensors += [("fc.weight", [C, D]), ("fc.bias", [C])]
    # An ensemble (format version 2): the same set again per member, behind "member<j>.".
    tensors += [("member%d.%s" % (j, n), shape) for j in range(1, members) for n, shape in tensors]

    def table(offsets):
        t = struct.pack("<I", len(tensors))
        for (name, shape), off in zip(tensors, offsets):
            numel = 1
            for d in shape:
                numel *= d
            t += vstr(name) + struct.pack("<II", 0, len(shape)) + b"".join(struct.pack("<Q", d) for d in shape)
            t += struct.pack("<QQ", off, 4 * numel)
        return t

    head = bytearray(24)
    body = section(b"FEAT", feat_b) + section(b"NET ", net_b) + section(b"ALPH", alph_b)
    if words:
        body += section(b"WORD", struct.pack("<I", len(words)) + b"".join(vstr(w) for w in words))
    if meta:
        body += section(b"META", struct.pack("<I", len(meta)) + b"".join(vstr(k) + vstr(v) for k, v in meta))
    body += extra
    tens_len = len(table([0] * len(tensors)))
    data_start = 24 + len(body) + 16 + tens_len + (-tens_len % 8) + 16
    data, offsets, k = bytearray(), [], 0
    for name, shape in tensors:
        numel = 1
        for d in shape:
            numel *= d
        data += bytes(-(data_start + len(data)) % 64)
        offsets.append(data_start + len(data))
        for _ in range(numel):
            data += struct.pack("<f", ((k * 37) % 17 - 8) / 20.0)
            k += 1
    body += section(b"TENS", table(offsets)) + section(b"DATA", bytes(data))
    img = bytearray(b"VOZMODEL" + struct.pack("<II", 2 if members > 1 else 1, 24) + bytes(8)) + body
    total = len(img) + 4
    img[16:24] = struct.pack("<Q", total)
    return bytes(img) + struct.pack("<I", zlib.crc32(bytes(img)) & 0xFFFFFFFF)


def model_seeds():
    return {
        "lstm.voz": model("lstm"),
        "gru_bidi_2layers_words_meta.voz": model("gru", layers=2, bidi=1, words=("ab", "ba", "a"),
                                                 meta=(("name", "seed"), ("license", "none"))),
        "lstm_bidi_ensemble_of_3.voz": model("lstm", bidi=1, words=("ab", "a"), members=3),
        "rnn_tanh_extra_section.voz": model("rnn_tanh", extra=section(b"XTRA", b"future data"),
                                            feat_over=dict(delta_order=0, cmvn=0)),
        "rnn_relu_options.voz": model("rnn_relu", bidi=1, classes=("", "x", " ", "\u00e9", "\u4e2d"),
                                      feat_over=dict(snip_edges=0, window=4, htk_compat=1, use_energy=1,
                                                     delta_order=2, cmvn=2, rate=16000, num_mel_bins=8,
                                                     num_ceps=4, round_pow2=0, frame_length=20.0)),
    }


# ---- manifests ---------------------------------------------------------------------

def manifest_seeds():
    return {
        "plain.tsv": b"a.wav\thello world\nsub/b.wav\tone two\n/abs/c.wav\tthree\n",
        "crlf_bom.tsv": b"\xef\xbb\xbfa.wav\tHello  World\r\nb.wav\t  it's\tfine \r\n\r\n",
        "bad.tsv": b"a.wav\tone #1\nno tab here\n\tpath missing\nb.wav\t\nc.wav\t\xff\xfe\nd.wav\tok\n",
        "duplicates.tsv": b"a.wav\tone\na.wav\tone\nb.wav\ttwo\na.wav\tone\n",
        "unicode.tsv": "a.wav\t\u00c9t\u00e9 \u00f1o \u0416 \u4e2d\nb.wav\tae\u00a0ea\n".encode("utf-8"),
        "deepspeech.csv": b"wav_filename,wav_filesize,transcript\na.wav,1234,hello world\n"
                          b"\"b,c.wav\",12,\"quoted, with comma\"\n\"d.wav\",1,\"two\nlines\"\n"
                          b"e.wav,1,\"say \"\"hi\"\"\"\n\nf.wav,2\n",
        "csv_crlf.csv": b"\xef\xbb\xbftranscript,wav_filename\r\nhi there,a.wav\r\n\"x\",\"b.wav\"\r\n",
        "csv_unterminated.csv": b"wav_filename,transcript\na.wav,\"never closed\n",
        "words.txt": b"one\ntwo\n\n  three \nfour\r\n",
        "empty.txt": b"",
    }


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make_fuzz_seeds.py OUT_DIR")
    out = sys.argv[1]
    audio = audio_seeds()
    audio.update(sox_seeds(audio["s16.wav"]))
    for sub, seeds in (("audio", audio), ("model", model_seeds()), ("manifest", manifest_seeds())):
        d = os.path.join(out, sub)
        os.makedirs(d, exist_ok=True)
        for name, data in sorted(seeds.items()):
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
        print("%s: %d seeds in %s" % (sub, len(seeds), d))


if __name__ == "__main__":
    main()
