#!/usr/bin/python3
"""Convert a PyTorch acoustic model to a voz model file, or dump a voz model file.

    /usr/bin/python3 tools/torch2voz.py STATE_DICT.pt CONFIG.json OUT.voz
    /usr/bin/python3 tools/torch2voz.py --dump MODEL.voz [--tensors]
    /usr/bin/python3 tools/torch2voz.py --set-meta MODEL.voz --meta KEY=VALUE... --out OUT.voz

STATE_DICT.pt is a torch.save()d state dict whose keys are `rnn.*` (an nn.LSTM, nn.GRU
or nn.RNN) and `fc.*` (the nn.Linear after it), the names acoustic/net.h uses; other
keys are an error. CONFIG.json describes everything else:

    {"cell": "lstm", "layers": 2, "hidden": 32, "bidirectional": true,
     "alphabet": ["", " ", "e", ...], "blank": 0, "sample_rate": 16000,
     "features": {"num_ceps": 13, ...},        voz_feature_params fields; omitted = default
     "words": ["one", "two", ...],              optional
     "metadata": {"name": "...", ...}}          optional

Every option can also be given on the command line (--cell, --layers, --hidden,
--bidirectional/--unidirectional, --alphabet FILE (one class a line, the blank an
empty line; "<space>" for the space), --blank, --sample-rate, --feature KEY=VALUE,
--words FILE, --meta KEY=VALUE); they override the JSON. The writer is independent of
the C one (acoustic/model_file.c) and follows models/FORMAT.md, so each checks the
other. The dump reads a file with the same checks the C reader makes (magic, version,
sizes, checksum, tensor table) and prints it.

--set-meta copies a model with metadata entries added or replaced and everything else
unchanged (a decoding default such as vtln_ensemble, without retraining); with no
--meta the copy is byte-identical.

The module is importable: write_voz() and read_voz() are what tools/fixtures_e2e.py uses.
"""
import argparse
import json
import math
import struct
import sys
import zlib

MAGIC = b"VOZMODEL"
VERSION = 2          # the newest this reads; one network is written as version 1
MAX_MEMBERS = 8      # networks in one file (version 2: an ensemble)
HEADER = 24

# voz_feature_default_params() (frontend/features.c), field order as in FORMAT.md.
FEATURE_FIELDS = [
    # name, kind ("f" f32 / "i" i32), default
    ("sample_rate", "f", 16000.0), ("frame_length_ms", "f", 25.0), ("frame_shift_ms", "f", 10.0),
    ("preemph", "f", 0.97), ("remove_dc", "i", 1), ("window", "i", 0), ("round_pow2", "i", 1),
    ("snip_edges", "i", 1), ("dither", "f", 0.0), ("num_mel_bins", "i", 23), ("low_freq", "f", 20.0),
    ("high_freq", "f", 0.0), ("num_ceps", "i", 13), ("cepstral_lifter", "f", 22.0), ("use_energy", "i", 0),
    ("raw_energy", "i", 1), ("energy_floor", "f", 0.0), ("htk_compat", "i", 0), ("delta_order", "i", 2),
    ("delta_window", "i", 2), ("cmvn", "i", 1), ("cmvn_var", "i", 1),
]
WINDOWS = ["povey", "hamming", "hanning", "rectangular", "blackman"]
CMVNS = ["none", "utterance", "running"]
CELLS = ["lstm", "gru", "rnn_tanh", "rnn_relu"]
GATES = {"lstm": 4, "gru": 3, "rnn_tanh": 1, "rnn_relu": 1}


def default_features():
    return {name: default for name, _, default in FEATURE_FIELDS}


def tensor_layout(cell, input_dim, hidden, layers, bidirectional, classes):
    """[(name, shape)] in acoustic/net.h order: per layer, per direction, w_ih w_hh b_ih b_hh; then fc."""
    G = GATES[cell] * hidden
    D = hidden * (2 if bidirectional else 1)
    out = []
    for l in range(layers):
        I = input_dim if l == 0 else D
        for suffix in ([""] + (["_reverse"] if bidirectional else [])):
            out += [(f"rnn.weight_ih_l{l}{suffix}", (G, I)), (f"rnn.weight_hh_l{l}{suffix}", (G, hidden)),
                    (f"rnn.bias_ih_l{l}{suffix}", (G,)), (f"rnn.bias_hh_l{l}{suffix}", (G,))]
    out += [("fc.weight", (classes, D)), ("fc.bias", (classes,))]
    return out


def member_layout(layout, members):
    """The tensor names and shapes of an ensemble: member 0 under the plain names,
    member j >= 1 under "member<j>." + the plain name (FORMAT.md, version 2)."""
    return [(n if j == 0 else f"member{j}.{n}", shape) for j in range(members) for n, shape in layout]


def count_members(names):
    """1 + the highest member index among state-dict style names."""
    top = 0
    for n in names:
        if n.startswith("member") and len(n) > 8 and n[6].isdigit() and n[7] == ".":
            top = max(top, int(n[6]))
    return top + 1


def _pad8(b):
    return b + b"\0" * (-len(b) % 8)


def _string(s):
    raw = s.encode("utf-8")
    if b"\0" in raw:
        raise ValueError(f"string {s!r} contains a NUL character")
    return struct.pack("<I", len(raw)) + raw


def _section(tag, payload):
    assert len(tag) == 4
    return _pad8(tag.encode("ascii") + struct.pack("<IQ", 0, len(payload)) + payload)


def write_voz(path, *, cell, hidden, layers, bidirectional, alphabet, blank, tensors, sample_rate=16000,
              features=None, words=None, metadata=None):
    """Writes a voz model. `tensors` maps state-dict names to float arrays (numpy or
    torch); names under "member<j>." are further networks of an ensemble. `features`
    overrides voz's default feature options. Returns the bytes."""
    import numpy as np

    if cell == "rnn":
        cell = "rnn_tanh"
    if cell not in CELLS:
        raise ValueError(f"cell must be one of {CELLS}, not {cell!r}")
    feat = default_features()
    for k, v in (features or {}).items():
        if k not in feat:
            raise ValueError(f"unknown feature option {k!r}")
        if k == "window" and isinstance(v, str):
            v = WINDOWS.index(v)
        if k == "cmvn" and isinstance(v, str):
            v = CMVNS.index(v)
        feat[k] = v
    feat["sample_rate"] = float(sample_rate)
    input_dim = int(feat["num_ceps"]) * (1 + int(feat["delta_order"]))
    classes = len(alphabet)
    if not 0 <= blank < classes or alphabet[blank] != "":
        raise ValueError(f"blank {blank} must index the empty string of the alphabet")
    if any(a == "" for i, a in enumerate(alphabet) if i != blank):
        raise ValueError("only the blank class may be empty")

    body = b""
    fpay = struct.pack("<I", int(sample_rate))
    for name, kind, _ in FEATURE_FIELDS:
        fpay += struct.pack("<f", float(feat[name])) if kind == "f" else struct.pack("<i", int(feat[name]))
    body += _section("FEAT", fpay)
    body += _section("NET ", struct.pack("<Iiiiiii", CELLS.index(cell), input_dim, hidden, layers,
                                         1 if bidirectional else 0, classes, blank))
    body += _section("ALPH", struct.pack("<I", classes) + b"".join(_string(a) for a in alphabet))
    if words:
        for w in words:
            if not w or any(ord(ch) <= 32 or ord(ch) == 127 for ch in w):
                raise ValueError(f"word {w!r} is empty or has a space or control character")
        body += _section("WORD", struct.pack("<I", len(words)) + b"".join(_string(w) for w in words))
    if metadata:
        body += _section("META", struct.pack("<I", len(metadata)) +
                         b"".join(_string(k) + _string(str(v)) for k, v in metadata.items()))

    members = count_members(tensors)
    if members > MAX_MEMBERS:
        raise ValueError(f"{members} member networks, at most {MAX_MEMBERS} fit in a model file")
    layout = member_layout(tensor_layout(cell, input_dim, hidden, layers, bidirectional, classes), members)
    names = {n for n, _ in layout}
    extra = sorted(set(tensors) - names)
    missing = sorted(names - set(tensors))
    if extra or missing:
        raise ValueError(f"state dict does not match the configuration: missing {missing}, unexpected {extra}")
    arrays = []
    for name, shape in layout:
        t = tensors[name]
        a = t.detach().cpu().numpy() if hasattr(t, "detach") else np.asarray(t)
        a = np.ascontiguousarray(a, dtype="<f4")
        if tuple(a.shape) != shape:
            raise ValueError(f"tensor {name!r} has shape {list(a.shape)}, expected {list(shape)}")
        if not np.isfinite(a).all():
            raise ValueError(f"tensor {name!r} has non-finite values")
        arrays.append((name, a))

    # The table's size fixes where DATA starts, hence every tensor's absolute offset.
    table_len = 4 + sum(4 + len(n.encode()) + 8 + 8 * a.ndim + 16 for n, a in arrays)
    data_payload_start = HEADER + len(body) + 16 + (table_len + 7) // 8 * 8 + 16
    offsets, pos = [], data_payload_start
    for _, a in arrays:
        pos = (pos + 63) // 64 * 64
        offsets.append(pos)
        pos += a.nbytes
    table = struct.pack("<I", len(arrays))
    for (n, a), off in zip(arrays, offsets):
        table += _string(n) + struct.pack("<II", 0, a.ndim) + struct.pack(f"<{a.ndim}Q", *a.shape)
        table += struct.pack("<QQ", off, a.nbytes)
    assert len(table) == table_len
    body += _section("TENS", table)
    data = bytearray()
    for (_, a), off in zip(arrays, offsets):
        data += b"\0" * (off - data_payload_start - len(data))
        data += a.tobytes()
    body += _section("DATA", bytes(data))

    size = HEADER + len(body) + 4
    blob = MAGIC + struct.pack("<IIQ", 2 if members > 1 else 1, HEADER, size) + body
    blob += struct.pack("<I", zlib.crc32(blob) & 0xFFFFFFFF)
    _write_atomic(path, blob)
    return blob


def _write_atomic(path, blob):
    """Writes a new file beside `path` and renames it over: never a half-written model.
    As the C writer does: a symlink at `path` is followed (its target, even a missing
    one, is what gets written), the temporary file is created exclusively and not
    through a symlink, only a regular file (or nothing) is replaced, and a replaced
    file keeps its permissions."""
    import os
    import stat

    if os.path.islink(path):
        path = os.path.realpath(path)
    mode = None
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            raise ValueError(f"{path}: exists and is not a regular file")
        mode = stat.S_IMODE(st.st_mode)
    except FileNotFoundError:
        pass
    tmp = f"{path}.tmp.{os.getpid()}"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644)
    except FileExistsError:
        raise ValueError(f"{tmp}: already exists (another writer's, or planted): not written through") from None
    try:
        with os.fdopen(fd, "wb") as f:
            if mode is not None:
                os.fchmod(f.fileno(), mode)
            f.write(blob)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


class FormatError(Exception):
    pass


def check_warps(text):
    """The rule voz applies to metadata vtln_ensemble at load (recognizer/model.c):
    'none', or 1 to 8 plain decimal factors from 0.5 to 2, comma separated."""
    if text == "none":
        return
    parts = text.split(",")
    if len(parts) > 8:
        raise ValueError(f"vtln_ensemble {text[:64]!r} lists more than 8 factors")
    for t in parts:
        ok = bool(t) and len(t) < 32 and all(c in "0123456789.eE+-" for c in t)
        try:
            w = float(t) if ok else 0.0
        except ValueError:
            w = 0.0
        if not 0.5 <= w <= 2.0:
            raise ValueError(f"vtln_ensemble: {t[:64]!r} in {text[:64]!r} is not a factor from 0.5 to 2")


def read_voz(path):
    """Reads and checks a voz model; returns a dict (tensors as numpy float32 arrays)."""
    import numpy as np

    with open(path, "rb") as f:
        blob = f.read()
    n = len(blob)
    if blob[:8] != MAGIC[: min(8, n)] or n == 0:
        raise FormatError(f"{path}: not a voz model (bad magic)")
    if n < HEADER + 4:
        raise FormatError(f"{path}: truncated: {n} bytes")
    version, hsize, fsize = struct.unpack_from("<IIQ", blob, 8)
    if not 1 <= version <= VERSION:
        raise FormatError(f"{path}: format version {version}, this reader knows 1 to {VERSION}")
    if fsize != n:
        raise FormatError(f"{path}: header says {fsize} bytes, file has {n}")
    if hsize < HEADER or hsize % 8 or hsize > n - 4:
        raise FormatError(f"{path}: bad header size {hsize}")
    stored = struct.unpack_from("<I", blob, n - 4)[0]
    computed = zlib.crc32(blob[: n - 4]) & 0xFFFFFFFF
    if stored != computed:
        raise FormatError(f"{path}: checksum mismatch (file says 0x{stored:08x}, computed 0x{computed:08x})")
    sections, pos = {}, hsize
    while pos < n - 4:
        if n - 4 - pos < 16:
            raise FormatError(f"{path}: section header cut off at {pos}")
        tag = blob[pos:pos + 4].decode("ascii", "replace")
        flags, psize = struct.unpack_from("<IQ", blob, pos + 4)
        start = pos + 16
        if flags or psize > n - 4 - start:
            raise FormatError(f"{path}: section {tag!r} has flags {flags} / size {psize} past the end")
        if tag in sections:
            raise FormatError(f"{path}: section {tag!r} twice")
        sections[tag] = (start, psize)
        pos = start + (psize + 7) // 8 * 8
    if pos != n - 4:
        raise FormatError(f"{path}: sections overrun the checksum")
    for tag in ("FEAT", "NET ", "ALPH", "TENS", "DATA"):
        if tag not in sections:
            raise FormatError(f"{path}: section {tag!r} missing")

    def payload(tag):
        s, p = sections[tag]
        return blob[s:s + p]

    def strings(buf, at, count):
        out = []
        for _ in range(count):
            if at + 4 > len(buf):
                raise FormatError(f"{path}: string table overruns its section")
            (ln,) = struct.unpack_from("<I", buf, at)
            if at + 4 + ln > len(buf):
                raise FormatError(f"{path}: string overruns its section")
            out.append(buf[at + 4:at + 4 + ln].decode("utf-8"))
            at += 4 + ln
        return out, at

    fp = payload("FEAT")
    if len(fp) != 4 + 4 * len(FEATURE_FIELDS):
        raise FormatError(f"{path}: FEAT has {len(fp)} bytes")
    sample_rate = struct.unpack_from("<I", fp, 0)[0]
    feat = {}
    for i, (name, kind, _) in enumerate(FEATURE_FIELDS):
        feat[name] = struct.unpack_from("<f" if kind == "f" else "<i", fp, 4 + 4 * i)[0]
    np_ = payload("NET ")
    if len(np_) != 28:
        raise FormatError(f"{path}: NET has {len(np_)} bytes")
    cell, input_dim, hidden, layers, bidi, classes, blank = struct.unpack("<Iiiiiii", np_)
    if cell >= len(CELLS):
        raise FormatError(f"{path}: unknown cell {cell}")
    cell = CELLS[cell]
    if input_dim != feat["num_ceps"] * (1 + feat["delta_order"]):
        raise FormatError(f"{path}: input dim {input_dim} does not match the features")
    ap = payload("ALPH")
    (count,) = struct.unpack_from("<I", ap, 0)
    if count != classes:
        raise FormatError(f"{path}: alphabet has {count} classes, expected {classes}")
    alphabet, _ = strings(ap, 4, count)
    if not 0 <= blank < classes or alphabet[blank] != "":
        raise FormatError(f"{path}: bad blank {blank}")
    words, metadata = [], {}
    if "WORD" in sections:
        wp = payload("WORD")
        words, _ = strings(wp, 4, struct.unpack_from("<I", wp, 0)[0])
    if "META" in sections:
        mp = payload("META")
        kv, _ = strings(mp, 4, 2 * struct.unpack_from("<I", mp, 0)[0])
        metadata = dict(zip(kv[0::2], kv[1::2]))

    base = tensor_layout(cell, input_dim, hidden, layers, bool(bidi), classes)
    tp = payload("TENS")
    (nt,) = struct.unpack_from("<I", tp, 0)
    members = nt // len(base) if base else 0
    if nt % len(base) or not 1 <= members <= (MAX_MEMBERS if version >= 2 else 1):
        raise FormatError(f"{path}: tensor table has {nt} tensors, expected {len(base)} per network "
                          f"({'1' if version < 2 else f'1 to {MAX_MEMBERS}'} networks in version {version})")
    layout = dict(member_layout(base, members))
    at, tensors = 4, {}
    dstart, dsize = sections["DATA"]
    extents = []
    for _ in range(nt):
        (name,), at = strings(tp, at, 1)
        if at + 8 > len(tp):
            raise FormatError(f"{path}: the tensor table ends inside entry {name!r}")
        dtype, ndim = struct.unpack_from("<II", tp, at)
        at += 8
        if dtype != 0:
            raise FormatError(f"{path}: tensor {name!r} has dtype {dtype}, expected 0 (f32)")
        if ndim not in (1, 2) or at + 8 * ndim + 16 > len(tp):
            raise FormatError(f"{path}: tensor {name!r} has {ndim} dimensions or its entry is cut off")
        shape = struct.unpack_from(f"<{ndim}Q", tp, at)
        at += 8 * ndim
        off, nbytes = struct.unpack_from("<QQ", tp, at)
        at += 16
        if name not in layout or name in tensors:
            raise FormatError(f"{path}: unexpected or repeated tensor {name!r}")
        if tuple(shape) != layout[name]:
            raise FormatError(f"{path}: tensor {name!r} has shape {list(shape)}, expected {list(layout[name])}")
        if nbytes != 4 * math.prod(shape):
            raise FormatError(f"{path}: tensor {name!r} says {nbytes} bytes, expected {4 * math.prod(shape)}")
        if off % 64:
            raise FormatError(f"{path}: tensor {name!r} at offset {off} is not 64-byte aligned")
        if off < dstart or off + nbytes > dstart + dsize:
            raise FormatError(f"{path}: tensor {name!r} at {off} (+{nbytes}) is outside the data section")
        for other, lo, hi in extents:
            if off < hi and lo < off + nbytes:
                raise FormatError(f"{path}: tensors {name!r} and {other!r} overlap in the file")
        extents.append((name, off, off + nbytes))
        t = np.frombuffer(blob, dtype="<f4", count=nbytes // 4, offset=off).reshape(shape).copy()
        if not np.isfinite(t).all():
            raise FormatError(f"{path}: tensor {name!r} holds a value that is not finite")
        tensors[name] = t
    if at != len(tp):
        raise FormatError(f"{path}: section TENS has {len(tp) - at} stray bytes after the table")
    if set(tensors) != set(layout):
        raise FormatError(f"{path}: tensors missing: {sorted(set(layout) - set(tensors))}")
    return dict(version=version, size=n, crc32=stored, members=members, sample_rate=sample_rate, features=feat,
                cell=cell,
                input_dim=input_dim, hidden=hidden, layers=layers, bidirectional=bool(bidi), classes=classes,
                blank=blank, alphabet=alphabet, words=words, metadata=metadata, tensors=tensors)


def dump(path, show_tensors):
    m = read_voz(path)
    print(f"{path}: voz model version {m['version']}, {m['size']} bytes, CRC-32 0x{m['crc32']:08x}")
    print(f"sample rate {m['sample_rate']} Hz")
    print("features: " + " ".join(f"{k}={v:g}" for k, v in m["features"].items()))
    print(f"net: {m['cell']} layers={m['layers']} hidden={m['hidden']} bidirectional={m['bidirectional']} "
          f"input_dim={m['input_dim']} classes={m['classes']} blank={m['blank']} members={m['members']}")
    print("alphabet: " + " ".join(json.dumps(a) for a in m["alphabet"]))
    print("words: " + (" ".join(m["words"]) if m["words"] else "none"))
    for k, v in m["metadata"].items():
        print(f"meta {k}: {v}")
    total = 0
    for name, t in m["tensors"].items():
        total += t.size
        line = f"tensor {name} {list(t.shape)} mean={t.mean():.6g} std={t.std():.6g}"
        print(line)
        if show_tensors:
            print("  " + " ".join(f"{x:.6g}" for x in t.reshape(-1)[:8]) + (" ..." if t.size > 8 else ""))
    print(f"parameters: {total}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dump", metavar="MODEL", help="print a voz model file and exit")
    ap.add_argument("--tensors", action="store_true", help="with --dump: the first values of each tensor")
    ap.add_argument("--set-meta", metavar="MODEL", help="copy MODEL to --out with the --meta entries set")
    ap.add_argument("--out", dest="out_path", metavar="OUT", help="with --set-meta: the file to write")
    ap.add_argument("state_dict", nargs="?")
    ap.add_argument("config", nargs="?", help="JSON description (see above)")
    ap.add_argument("out", nargs="?")
    ap.add_argument("--cell", choices=CELLS + ["rnn"])
    ap.add_argument("--layers", type=int)
    ap.add_argument("--hidden", type=int)
    ap.add_argument("--bidirectional", dest="bidirectional", action="store_true", default=None)
    ap.add_argument("--unidirectional", dest="bidirectional", action="store_false")
    ap.add_argument("--alphabet", metavar="FILE")
    ap.add_argument("--blank", type=int)
    ap.add_argument("--sample-rate", type=int)
    ap.add_argument("--feature", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--words", metavar="FILE")
    ap.add_argument("--meta", action="append", default=[], metavar="KEY=VALUE")
    args = ap.parse_args()
    try:
        if args.dump:
            dump(args.dump, args.tensors)
            return 0
        if args.set_meta:
            if not args.out_path:
                ap.error("--set-meta needs --out OUT")
            m = read_voz(args.set_meta)
            meta = dict(m["metadata"])
            for kv in args.meta:
                k, eq, v = kv.partition("=")
                if not k or not eq:
                    ap.error(f"--meta needs KEY=VALUE, not {kv!r}")
                meta[k] = v
            if "vtln_ensemble" in meta:
                check_warps(meta["vtln_ensemble"])
            feats = {k: v for k, v in m["features"].items() if k != "sample_rate"}
            write_voz(args.out_path, cell=m["cell"], hidden=m["hidden"], layers=m["layers"],
                      bidirectional=m["bidirectional"], alphabet=m["alphabet"], blank=m["blank"],
                      tensors=m["tensors"], sample_rate=m["sample_rate"], features=feats, words=m["words"],
                      metadata=meta)
            return 0
        if not args.state_dict or not args.out:
            ap.error("need STATE_DICT CONFIG OUT (CONFIG may be '-' for none), or --dump MODEL")
        cfg = {}
        if args.config and args.config != "-":
            with open(args.config) as f:
                cfg = json.load(f)
        for key in ("cell", "layers", "hidden", "bidirectional", "blank", "sample_rate"):
            if getattr(args, key) is not None:
                cfg[key] = getattr(args, key)
        if args.alphabet:
            with open(args.alphabet, encoding="utf-8") as f:
                cfg["alphabet"] = [" " if ln == "<space>" else ln for ln in f.read().split("\n")[:-1]]
        if args.words:
            with open(args.words, encoding="utf-8") as f:
                cfg["words"] = [w.strip() for w in f if w.strip()]
        feats = dict(cfg.get("features", {}))
        for kv in args.feature:
            k, _, v = kv.partition("=")
            feats[k] = v if k in ("window", "cmvn") and not v.lstrip("-").isdigit() else float(v)
        meta = dict(cfg.get("metadata", {}))
        for kv in args.meta:
            k, _, v = kv.partition("=")
            meta[k] = v
        import torch

        sd = torch.load(args.state_dict, map_location="cpu")
        write_voz(args.out, cell=cfg.get("cell", "lstm"), hidden=int(cfg["hidden"]), layers=int(cfg["layers"]),
                  bidirectional=bool(cfg.get("bidirectional", True)), alphabet=cfg["alphabet"],
                  blank=int(cfg.get("blank", 0)), tensors=sd, sample_rate=int(cfg.get("sample_rate", 16000)),
                  features=feats, words=cfg.get("words"), metadata=meta)
    except struct.error as e:
        print(f"torch2voz: {args.dump or args.set_meta}: truncated or malformed section ({e})", file=sys.stderr)
        return 1
    except (OSError, ValueError, KeyError, FormatError) as e:
        print(f"torch2voz: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
