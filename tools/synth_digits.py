#!/usr/bin/python3
"""Synthetic English digit speech for the digits-en model: isolated words and connected
strings from espeak-ng, flite and festival voices, resampled to 8 kHz 16-bit mono.

Owns the voice inventory and its train / held-out split. Every random choice (voice, rate,
pitch, words) is drawn up front from a seeded generator in a fixed order, so the file
lists and the audio are the same on every run; the work itself runs on --jobs processes.

Output (under --out):
  words_train.tsv     isolated words of train voices (clips for `voz train --compose`)
  strings_train.tsv   connected strings of train voices (rows for `voz train --train`)
  strings_dev.tsv     connected strings of train voices, fresh renditions (dev set)
  strings_heldout.tsv connected strings of held-out voices (the "synthetic held-out" test)
  voices.tsv          the inventory: voice, engine, gender, split
  <set>/NNNNN.wav     the audio; <set>.meta.tsv says which voice and settings made each file
Manifests are `path<TAB>transcript` with paths relative to --out.

Standard library only; needs espeak-ng, flite, festival (voices kal_diphone,
ked_diphone, cmu_us_slt_arctic_hts) and sox on PATH.
"""
import argparse
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor

WORDS = ["zero", "oh", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
RATE = 8000

ESPEAK_ACCENTS = ["en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan",
                  "en-gb-x-gbcwmd", "en-029", "en-us-nyc"]
# espeak-ng voice variants (from `espeak-ng --voices=variant`) by the gender they declare.
# "Mr serious" is left out: its file name has a space, which the -v syntax cannot carry.
ESPEAK_FEMALE = ["Alicia", "Andrea", "Annie", "aunty", "belinda", "linda", "steph", "steph2",
                 "steph3", "anika", "anikaRobot", "f1", "f2", "f3", "f4", "f5", "whisperf",
                 "grandma"]
ESPEAK_MALE = ["", "adam", "Alex", "Andy", "AnxiousAndy", "antonio", "benjamin", "boris",
               "caleb", "croak", "david", "Demonic", "Denis", "Diogo", "ed", "edward",
               "edward2", "fast", "Gene", "Gene2", "grandpa", "gustave", "announcer",
               "Henrique", "Hugo", "iven", "iven2", "iven3", "iven4", "Jacky", "john",
               "kaukovalta", "klatt", "klatt2", "klatt3", "klatt4", "klatt5", "klatt6", "Lee",
               "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "marcelo", "Marco", "Mario",
               "max", "Michael", "michel", "miguel", "Mike", "Nguyen", "norbert", "pablo",
               "paul", "pedro", "quincy", "RicishayMax", "RicishayMax2", "RicishayMax3", "rob",
               "robert", "robosoft", "robosoft2", "robosoft3", "robosoft4", "robosoft5",
               "robosoft6", "robosoft7", "robosoft8", "sandro", "shelby", "Storm", "travis",
               "Tweaky", "UniRobot", "victor", "whisper", "zac"]
# flite's built-in voices (awb_time is a talking clock, not a general voice).
FLITE = {"kal": "M", "kal16": "M", "awb": "M", "rms": "M", "slt": "F"}
# Festival voices: kal/ked from festvox-kallpc16k/kdlpc16k, slt from festvox-us-slt-hts.
FESTIVAL = {"kal_diphone": "M", "ked_diphone": "M", "cmu_us_slt_arctic_hts": "F"}

# Voices never used for training: whole espeak variants (on every accent) and one flite
# voice, at least one female and one male, so the held-out WER measures unseen voices.
HELDOUT_ESPEAK = {"f4": "F", "Andrea": "F", "m3": "M", "Lee": "M"}
HELDOUT_FLITE = ["rms"]


def die(msg):
    sys.stderr.write("synth_digits: " + msg + "\n")
    sys.exit(1)


def inventory():
    """All voices as (voice_id, engine, name, gender, split)."""
    rows = []
    for acc in ESPEAK_ACCENTS:
        for var, g in [(v, "F") for v in ESPEAK_FEMALE] + [(v, "M") for v in ESPEAK_MALE]:
            vid = "espeak:" + acc + ("+" + var if var else "")
            rows.append((vid, "espeak", vid[7:], g, "heldout" if var in HELDOUT_ESPEAK else "train"))
    for v, g in FLITE.items():
        rows.append(("flite:" + v, "flite", v, g, "heldout" if v in HELDOUT_FLITE else "train"))
    for v, g in FESTIVAL.items():
        rows.append(("festival:" + v, "festival", v, g, "train"))
    return rows


def pick_voice(rng, split):
    """A voice for one utterance. Train: half espeak, a quarter each flite and festival
    (their voices are closer to natural speech); gender balanced within espeak; the two
    slt voices weighted up because they are the only natural female ones."""
    if split == "train":
        r = rng.random()
        if r < 0.5:
            acc = rng.choice(ESPEAK_ACCENTS)
            female = rng.random() < 0.5
            pool = [v for v in (ESPEAK_FEMALE if female else ESPEAK_MALE) if v not in HELDOUT_ESPEAK]
            var = rng.choice(pool)
            return ("espeak", acc + ("+" + var if var else ""), "F" if female else "M")
        if r < 0.75:
            v = rng.choice(["kal", "kal16", "awb", "slt", "slt"])
            return ("flite", v, FLITE[v])
        v = rng.choice(["kal_diphone", "ked_diphone", "cmu_us_slt_arctic_hts", "cmu_us_slt_arctic_hts"])
        return ("festival", v, FESTIVAL[v])
    if rng.random() < 0.75:
        acc = rng.choice(ESPEAK_ACCENTS)
        var = rng.choice(sorted(HELDOUT_ESPEAK))
        return ("espeak", acc + "+" + var, HELDOUT_ESPEAK[var])
    v = rng.choice(HELDOUT_FLITE)
    return ("flite", v, FLITE[v])


def plan_one(rng, split, words, connected):
    """One utterance: the engine settings and the sox post-processing, all drawn here."""
    engine, voice, gender = pick_voice(rng, split)
    job = {"engine": engine, "voice": voice, "gender": gender, "text": " ".join(words)}
    if engine == "espeak":
        job["rate"] = rng.randint(110, 230)         # words per minute (default 175)
        job["pitch"] = rng.randint(15, 85)          # 0-99 (default 50)
        job["gap"] = rng.randint(0, 18) if connected else 0   # extra pause between words, 10 ms units
        job["cents"] = 0
    else:
        job["stretch"] = round(rng.uniform(0.8, 1.3), 3)
        if engine == "flite":
            job["f0"] = rng.randint(150, 230) if gender == "F" else rng.randint(85, 140)
        # A pitch shift by resampling also moves the formants: a cheap way to vary the
        # vocal tract of the few natural voices (shifted up, male voices sound younger).
        job["cents"] = 0 if rng.random() < 0.3 else rng.randint(-250, 350)
    job["highpass"] = rng.choice([50, 80, 120, 200])
    job["peak_db"] = round(rng.uniform(-20.0, -2.0), 1)
    if connected:
        # Strings carry their own leading and trailing silence, as the test strings do.
        job["pad"] = [round(rng.uniform(0.05, 0.3), 3), round(rng.uniform(0.05, 0.3), 3)]
    else:
        job["pad"] = [0.0, 0.0]   # clips for composition are trimmed, as FSDD takes are
    return job


def make_plan(args):
    """The full, ordered job list of every set."""
    sets = {}
    rng = random.Random("%d-words_train" % args.seed)
    sets["words_train"] = [plan_one(rng, "train", [WORDS[i % len(WORDS)]], False)
                           for i in range(args.train_words)]
    for name, split, n in [("strings_train", "train", args.train_strings),
                           ("strings_dev", "train", args.dev_strings),
                           ("strings_heldout", "heldout", args.heldout_strings)]:
        rng = random.Random("%d-%s" % (args.seed, name))
        jobs = []
        for _ in range(n):
            k = rng.randint(1, 7)
            jobs.append(plan_one(rng, split, [rng.choice(WORDS) for _ in range(k)], True))
        sets[name] = jobs
    for name, jobs in sets.items():
        for i, j in enumerate(jobs):
            j["path"] = "%s/%05d.wav" % (name, i)
    return sets


def run(cmd, what, stdin=None):
    p = subprocess.run(cmd, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if p.returncode != 0:
        raise RuntimeError("%s: %s failed (exit %d): %s" % (what, cmd[0], p.returncode,
                                                              p.stderr.decode(errors="replace").strip()[:300]))
    return p


def postprocess(job, raw, out_dir):
    """Raw synthesizer output -> 8 kHz 16-bit mono: optional pitch shift / tempo, high-pass
    (microphone variety), trim to the speech, normalise to the drawn peak, pad."""
    final = os.path.join(out_dir, job["path"])
    tmp = final + ".tmp.wav"
    fx = []
    if job["cents"]:
        fx += ["pitch", str(job["cents"])]
    if job["engine"] == "festival" and job["voice"].endswith("_hts"):
        # Festival's HTS engine ignores Duration_Stretch; change the tempo afterwards.
        fx += ["tempo", "-s", "%.3f" % (1.0 / job["stretch"])]
    fx += ["highpass", str(job["highpass"]), "rate", "-v", str(RATE), "gain", "-n", "-3",
           "silence", "1", "0.005", "0.2%", "reverse", "silence", "1", "0.005", "0.2%", "reverse",
           "gain", "-n", str(job["peak_db"])]
    if job["pad"][0] > 0 or job["pad"][1] > 0:
        fx += ["pad", str(job["pad"][0]), str(job["pad"][1])]
    run(["sox", "-q", "-D", raw, "-r", str(RATE), "-b", "16", "-c", "1", "-e", "signed-integer",
         tmp] + fx, "%s (%s '%s')" % (job["path"], job["voice"], job["text"]))
    with open(tmp, "rb") as f:
        size = len(f.read())
    if size < 44 + 2 * RATE // 10:   # under 0.1 s of audio: the synthesizer said nothing
        os.remove(tmp)
        raise RuntimeError("%s: %s produced under 0.1 s of audio for '%s'" % (job["path"], job["voice"], job["text"]))
    os.replace(tmp, final)


def synth_single(job, out_dir):
    """One espeak-ng or flite utterance."""
    with tempfile.TemporaryDirectory(prefix="synth-") as td:
        raw = os.path.join(td, "raw.wav")
        what = "%s (%s)" % (job["path"], job["voice"])
        if job["engine"] == "espeak":
            run(["espeak-ng", "-v", job["voice"], "-s", str(job["rate"]), "-p", str(job["pitch"]),
                 "-g", str(job["gap"]), "-w", raw, job["text"]], what)
        else:
            run(["flite", "-voice", job["voice"], "--setf", "duration_stretch=%s" % job["stretch"],
                 "--setf", "int_f0_target_mean=%d" % job["f0"], "-t", job["text"], "-o", raw], what)
        postprocess(job, raw, out_dir)
    return len(job["text"])


def synth_festival(jobs, out_dir):
    """A batch of festival utterances in one festival process (it takes ~0.5 s to start)."""
    with tempfile.TemporaryDirectory(prefix="synth-fest-") as td:
        lines = []
        for i, job in enumerate(jobs):
            lines.append("(voice_%s)" % job["voice"])
            lines.append("(Parameter.set 'Duration_Stretch %s)" % job["stretch"])
            lines.append("(utt.save.wave (utt.synth (Utterance Text \"%s\")) \"%s/%d.wav\" 'riff)"
                         % (job["text"], td, i))
        scm = os.path.join(td, "batch.scm")
        with open(scm, "w") as f:
            f.write("\n".join(lines) + "\n")
        run(["festival", "--batch", scm], "festival batch starting at %s" % jobs[0]["path"])
        for i, job in enumerate(jobs):
            postprocess(job, os.path.join(td, "%d.wav" % i), out_dir)
    return len(jobs)


def write_atomic(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def check_tools():
    for t in ["espeak-ng", "flite", "festival", "sox"]:
        if shutil.which(t) is None:
            die("%s is not installed (the recipe installs it: models/digits-en/recipe.sh)" % t)
    p = subprocess.run(["flite", "-lv"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    have = p.stdout.decode(errors="replace").split()
    for v in FLITE:
        if v not in have:
            die("flite voice '%s' is missing (flite -lv lists: %s)" % (v, " ".join(have[2:])))
    for v in FESTIVAL:
        p = subprocess.run(["festival", "--batch", "(voice_%s)" % v],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if p.returncode != 0 or b"not defined" in p.stdout or b"SIOD ERROR" in p.stdout:
            die("festival voice '%s' is missing (install festvox-kallpc16k festvox-kdlpc16k "
                "festvox-us-slt-hts)" % v)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="output folder")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--train-words", type=int, default=2200, help="isolated words, train voices")
    ap.add_argument("--train-strings", type=int, default=4000, help="connected strings, train voices")
    ap.add_argument("--dev-strings", type=int, default=150)
    ap.add_argument("--heldout-strings", type=int, default=300)
    ap.add_argument("--force", action="store_true", help="regenerate even if up to date")
    args = ap.parse_args()

    check_tools()
    plan = make_plan(args)
    digest = hashlib.sha256(json.dumps(plan, sort_keys=True).encode()).hexdigest()
    os.makedirs(args.out, exist_ok=True)
    stamp = os.path.join(args.out, "plan.sha256")
    if not args.force and os.path.exists(stamp) and open(stamp).read().strip() == digest and \
            all(os.path.exists(os.path.join(args.out, n + ".tsv")) for n in plan):
        print("synth_digits: %s is up to date (%d files)" % (args.out, sum(map(len, plan.values()))))
        return
    if os.path.exists(stamp):
        os.remove(stamp)
    for name in plan:
        # Start each set afresh so no file of an earlier, larger plan lingers.
        shutil.rmtree(os.path.join(args.out, name), ignore_errors=True)
        os.makedirs(os.path.join(args.out, name))

    # espeak/flite jobs one by one; festival jobs in batches of 100 per process.
    singles = [j for jobs in plan.values() for j in jobs if j["engine"] != "festival"]
    fest = [j for jobs in plan.values() for j in jobs if j["engine"] == "festival"]
    batches = [fest[i:i + 100] for i in range(0, len(fest), 100)]
    total = len(singles) + len(fest)
    done, report = 0, 1000
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as ex:
        futs = [ex.submit(synth_festival, b, args.out) for b in batches]
        futs += [ex.submit(synth_single, j, args.out) for j in singles]
        for k, f in enumerate(futs):
            try:
                f.result()
            except RuntimeError as e:
                ex.shutdown(cancel_futures=True)
                die(str(e))
            done += len(batches[k]) if k < len(batches) else 1
            if done >= report:
                print("synth_digits: %d/%d files" % (done, total), flush=True)
                report += 1000

    for name, jobs in plan.items():
        write_atomic(os.path.join(args.out, name + ".tsv"),
                     "".join("%s\t%s\n" % (j["path"], j["text"]) for j in jobs))
        keys = ["path", "voice", "engine", "gender", "text"]
        write_atomic(os.path.join(args.out, name + ".meta.tsv"),
                     "\t".join(keys + ["settings"]) + "\n" +
                     "".join("\t".join([str(j[k]) for k in keys] +
                                       [json.dumps({k: v for k, v in j.items() if k not in keys})]) + "\n"
                             for j in jobs))
    write_atomic(os.path.join(args.out, "voices.tsv"), "voice\tengine\tname\tgender\tsplit\n" +
                 "".join("\t".join(r) + "\n" for r in inventory()))
    write_atomic(stamp, digest + "\n")
    print("synth_digits: wrote %d files under %s" % (total, args.out))


if __name__ == "__main__":
    main()
