#!/usr/bin/python3
"""Manifests of the digits-en recipe (TSV `path<TAB>transcript`, as `voz train` reads them).

  digits_manifests.py fsdd --fsdd DIR --holdout SPEAKER|none --out DIR [--dev-takes 45-49]
      fsdd_words_train.tsv  isolated takes of the four training speakers, the dev takes
                            excluded (clips for `voz train --compose`, and rows as they are)
      fsdd_words_heldout.tsv every take of the held-out speaker (isolated-word test)
      With --holdout none all five speakers train and fsdd_words_heldout.tsv holds the
      dev takes of all five (unseen recordings of seen speakers).
      FSDD paths are absolute: the recordings stay in the shared folder.
  digits_manifests.py merge --out FILE M1 [M2 ...]
      one manifest of the rows of several, paths rewritten relative to FILE's folder.

FSDD file names are {digit}_{speaker}_{index}.wav and digit 0 is the word "zero".
Standard library only.
"""
import argparse
import os
import re
import sys

DIGIT_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
SPEAKERS = ["george", "jackson", "lucas", "nicolas", "yweweler"]
NAME = re.compile(r"^([0-9])_([a-z]+)_([0-9]+)\.wav$")


def die(msg):
    sys.stderr.write("digits_manifests: " + msg + "\n")
    sys.exit(1)


def write_atomic(path, rows):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("".join("%s\t%s\n" % r for r in rows))
    os.replace(tmp, path)


def cmd_fsdd(args):
    if args.holdout not in SPEAKERS + ["none"]:
        die("--holdout: expected one of %s or none, found '%s'" % (",".join(SPEAKERS), args.holdout))
    m = re.match(r"^([0-9]+)-([0-9]+)$", args.dev_takes)
    if not m:
        die("--dev-takes: expected a range like 45-49, found '%s'" % args.dev_takes)
    dev = range(int(m.group(1)), int(m.group(2)) + 1)
    root = os.path.abspath(args.fsdd)
    try:
        names = sorted(os.listdir(root))
    except OSError as e:
        die("%s: cannot list: %s" % (root, e))
    train, held = [], []
    for n in names:
        mm = NAME.match(n)
        if not mm or mm.group(2) not in SPEAKERS:
            continue
        row = (os.path.join(root, n), DIGIT_WORDS[int(mm.group(1))])
        if mm.group(2) == args.holdout:
            held.append(row)
        elif int(mm.group(3)) not in dev:
            train.append(row)
        elif args.holdout == "none":
            held.append(row)
    if not train or not held:
        die("%s: expected FSDD files {digit}_{speaker}_{index}.wav, found %d training and %d "
            "held-out takes" % (root, len(train), len(held)))
    os.makedirs(args.out, exist_ok=True)
    write_atomic(os.path.join(args.out, "fsdd_words_train.tsv"), train)
    write_atomic(os.path.join(args.out, "fsdd_words_heldout.tsv"), held)
    print("digits_manifests: %d training takes (%s), %d held-out takes (%s)"
          % (len(train), ",".join(s for s in SPEAKERS if s != args.holdout), len(held), args.holdout))


def cmd_merge(args):
    out_dir = os.path.dirname(os.path.abspath(args.out))
    rows = []
    for m in args.manifests:
        base = os.path.dirname(os.path.abspath(m))
        try:
            lines = open(m, encoding="utf-8").read().splitlines()
        except OSError as e:
            die("%s: cannot read: %s" % (m, e))
        for k, line in enumerate(lines, 1):
            if not line.strip():
                continue
            parts = line.split("\t")
            if len(parts) != 2:
                die("%s:%d: expected path<TAB>transcript, found %d fields" % (m, k, len(parts)))
            p = parts[0] if os.path.isabs(parts[0]) else os.path.join(base, parts[0])
            rows.append((os.path.relpath(p, out_dir), parts[1]))
    write_atomic(args.out, rows)
    print("digits_manifests: %d rows in %s" % (len(rows), args.out))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fsdd", help="isolated-word manifests of FSDD")
    f.add_argument("--fsdd", required=True)
    f.add_argument("--holdout", required=True)
    f.add_argument("--dev-takes", default="45-49")
    f.add_argument("--out", required=True)
    g = sub.add_parser("merge", help="concatenate manifests")
    g.add_argument("--out", required=True)
    g.add_argument("manifests", nargs="+")
    args = ap.parse_args()
    cmd_fsdd(args) if args.cmd == "fsdd" else cmd_merge(args)


if __name__ == "__main__":
    main()
