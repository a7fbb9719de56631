#!/usr/bin/python3
"""Connected-digit test and dev strings composed from FSDD recordings.

Each string is 1..7 random digits; each digit is a random take of that digit by one of
the chosen speakers (one speaker per string, as a real caller would be), joined by
random 50-300 ms gaps of digital silence, with 100-300 ms of silence before and after.
Seeded: the same arguments always give the same files.

Output: OUT/NAME/NNNNN.wav (8 kHz 16-bit mono) and OUT/NAME.tsv (`path<TAB>transcript`,
path relative to OUT, transcript like "three one four"; FSDD's 0 is "zero").
Standard library only.
"""
import argparse
import os
import random
import sys
import wave

DIGIT_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
SPEAKERS = ["george", "jackson", "lucas", "nicolas", "yweweler"]
RATE = 8000


def die(msg):
    sys.stderr.write("compose_digits: " + msg + "\n")
    sys.exit(1)


def parse_range(s, what):
    """'A-B' (inclusive) or 'A:B' -> (A, B)."""
    for sep in ("-", ":"):
        if sep in s:
            a, b = s.split(sep, 1)
            try:
                lo, hi = int(a), int(b)
            except ValueError:
                break
            if lo > hi:
                break
            return lo, hi
    die("%s: expected a range like 45-49, found '%s'" % (what, s))


def read_clip(path):
    """16-bit mono 8 kHz PCM frames of one FSDD take (checked: the files are input)."""
    try:
        with wave.open(path, "rb") as w:
            if w.getnchannels() != 1 or w.getsampwidth() != 2 or w.getframerate() != RATE:
                die("%s: expected 8000 Hz mono 16-bit, found %d Hz, %d channels, %d-bit"
                    % (path, w.getframerate(), w.getnchannels(), 8 * w.getsampwidth()))
            n = w.getnframes()
            if n <= 0 or n > 10 * RATE:
                die("%s: expected 1 to %d samples, found %d" % (path, 10 * RATE, n))
            data = w.readframes(n)
    except (OSError, wave.Error, EOFError) as e:
        die("%s: cannot read: %s" % (path, e))
    if len(data) != 2 * n:
        die("%s: truncated, expected %d bytes of samples, found %d" % (path, 2 * n, len(data)))
    return data


def silence(rng, lo_ms, hi_ms):
    return b"\0\0" * int(round(rng.uniform(lo_ms, hi_ms) * RATE / 1000.0))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fsdd", required=True, help="folder of {digit}_{speaker}_{index}.wav")
    ap.add_argument("--speakers", required=True, help="comma-separated FSDD speakers")
    ap.add_argument("--takes", default="0-49", help="take indices to draw from, e.g. 45-49")
    ap.add_argument("--count", type=int, default=200, help="number of strings")
    ap.add_argument("--words", default="1-7", help="digits per string, e.g. 1-7")
    ap.add_argument("--gap-ms", default="50-300", help="silence between digits")
    ap.add_argument("--edge-ms", default="100-300", help="silence before and after")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", required=True, help="output folder")
    ap.add_argument("--name", required=True, help="set name: audio in OUT/NAME/, manifest OUT/NAME.tsv")
    args = ap.parse_args()

    speakers = [s for s in args.speakers.split(",") if s]
    for s in speakers:
        if s not in SPEAKERS:
            die("--speakers: expected some of %s, found '%s'" % (",".join(SPEAKERS), s))
    if not speakers:
        die("--speakers: expected at least one speaker")
    t_lo, t_hi = parse_range(args.takes, "--takes")
    w_lo, w_hi = parse_range(args.words, "--words")
    g_lo, g_hi = parse_range(args.gap_ms, "--gap-ms")
    e_lo, e_hi = parse_range(args.edge_ms, "--edge-ms")
    if w_lo < 1 or args.count < 1:
        die("--words and --count: expected at least 1")

    # The seed and the set name both feed the generator, so a dev set and a test set
    # made with the same --seed still differ.
    rng = random.Random("%d-%s" % (args.seed, args.name))
    clips = {}
    rows = []
    os.makedirs(os.path.join(args.out, args.name), exist_ok=True)
    for i in range(args.count):
        spk = rng.choice(speakers)
        digits = [rng.randrange(10) for _ in range(rng.randint(w_lo, w_hi))]
        parts = [silence(rng, e_lo, e_hi)]
        for k, d in enumerate(digits):
            take = rng.randint(t_lo, t_hi)
            path = os.path.join(args.fsdd, "%d_%s_%d.wav" % (d, spk, take))
            if path not in clips:
                clips[path] = read_clip(path)
            if k > 0:
                parts.append(silence(rng, g_lo, g_hi))
            parts.append(clips[path])
        parts.append(silence(rng, e_lo, e_hi))
        rel = "%s/%05d.wav" % (args.name, i)
        final = os.path.join(args.out, rel)
        tmp = final + ".tmp"
        with wave.open(tmp, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(RATE)
            w.writeframes(b"".join(parts))
        os.replace(tmp, final)
        rows.append("%s\t%s\n" % (rel, " ".join(DIGIT_WORDS[d] for d in digits)))
    manifest = os.path.join(args.out, args.name + ".tsv")
    with open(manifest + ".tmp", "w") as f:
        f.write("".join(rows))
    os.replace(manifest + ".tmp", manifest)
    print("compose_digits: wrote %d strings to %s" % (len(rows), manifest))


if __name__ == "__main__":
    main()
