#!/bin/bash
# tests/e2e_transcribe.sh — `voz transcribe` and `voz info` end to end on the committed
# fixture (tests/fixtures/e2e, from tools/fixtures_e2e.py): the transcript of the clip
# equals PyTorch's, a resampled stereo 24-bit copy gives the same, bad inputs and bad
# models fail with one line naming the file, output formats parse, write errors count.
# Environment: VOZ (the binary, default build/release/voz).
set -u
# shellcheck source=tests/lib_e2e.sh
. "$(dirname "$0")/lib_e2e.sh"

# expect_fail NAME FILE_NAMED ARGS...: exit 1, nothing on stdout, exactly one line on
# stderr, starting "voz: " and containing FILE_NAMED.
expect_fail() {
    local name=$1 named=$2
    shift 2
    run "$@"
    local lines
    lines=$(printf '%s' "$err" | grep -c '')
    if [ "$rc" -eq 1 ] && [ -z "$out" ] && [ "$lines" -eq 1 ] && [[ "$err" == "voz: "* ]] &&
        [[ "$err" == *"$named"* ]]; then
        ok "$name ($err)"
    else
        bad "$name" "exit $rc, expected 1; stdout '$out'" "stderr ($lines lines): $err"
    fi
}

if [ ! -x "$VOZ" ]; then
    echo "FAIL no voz binary at $VOZ"
    echo "0 passed, 1 failed"
    exit 1
fi
want=$(cat "$FIX/transcript.txt")

# ---- the reference transcript ---------------------------------------------------------
run transcribe -m "$MODEL" --decoder greedy "$CLIP"
if [ "$rc" -eq 0 ] && [ "$out" = "$want" ] && [ -z "$err" ]; then
    ok "greedy transcript equals PyTorch's: '$out'"
else
    bad "greedy transcript" "exit $rc, got '$out', expected '$want'" "stderr: $err"
fi

# The same clip at 44.1 kHz, stereo, 24-bit: resampled and downmixed to the same text.
sox -q "$CLIP" -r 44100 -c 2 -b 24 "$tmp/clip44.wav"
run transcribe -m "$MODEL" --decoder greedy "$tmp/clip44.wav"
if [ "$rc" -eq 0 ] && [ "$out" = "$want" ]; then
    ok "44.1 kHz stereo 24-bit copy gives the same transcript"
else
    bad "44.1 kHz stereo 24-bit copy" "exit $rc, got '$out', expected '$want'" "stderr: $err"
fi

# Hiss after the speech of a file that starts in digital silence is not speech: the
# silence set the floor so low that 4 s of -65 dBFS white noise became "six six" (the
# default model, an FSDD take).
TAKE=${VOZ_SHARED:-../shared}/data/fsdd/7_george_40.wav
if [ -r "$TAKE" ]; then
    sox -q -n -r 8000 -c 1 -b 16 "$tmp/sil.wav" trim 0 1
    sox -q -n -r 8000 -c 1 -b 16 "$tmp/hiss.wav" synth 4 whitenoise vol -65dB
    sox -q "$tmp/sil.wav" "$TAKE" "$tmp/hiss.wav" "$tmp/take_hiss.wav"
    run transcribe "$tmp/take_hiss.wav"
    [ "$rc" -eq 0 ] && [ "$out" = seven ] && ok "speech, then -65 dBFS hiss: '$out'" ||
        bad "speech then hiss" "exit $rc, got '$out', expected 'seven'" "$err"
else
    echo "skip: no FSDD take $TAKE for the hiss check"
fi

# Standard input.
"$VOZ" transcribe -m "$MODEL" --decoder greedy - <"$CLIP" >"$tmp/out" 2>"$tmp/err"
rc=$?
if [ "$rc" -eq 0 ] && [ "$(cat "$tmp/out")" = "$want" ]; then
    ok "'-' reads standard input"
else
    bad "standard input" "exit $rc, got '$(cat "$tmp/out")'" "stderr: $(cat "$tmp/err")"
fi

# Several files: FILE<TAB>text per line, in order.
cp "$CLIP" "$tmp/second.wav"
run transcribe -m "$MODEL" --decoder greedy "$CLIP" "$tmp/second.wav"
expected=$(printf '%s\t%s\n%s\t%s' "$CLIP" "$want" "$tmp/second.wav" "$want")
if [ "$rc" -eq 0 ] && [ "$out" = "$expected" ]; then
    ok "several files give FILE<TAB>text lines"
else
    bad "several files" "exit $rc, got:" "$out"
fi

# A bad file among good ones: the good ones are still transcribed, exit 1, one line.
run transcribe -m "$MODEL" --decoder greedy "$CLIP" "$tmp/missing.wav" "$tmp/second.wav"
lines=$(printf '%s' "$err" | grep -c '')
if [ "$rc" -eq 1 ] && [ "$(printf '%s\n' "$out" | grep -c '')" -eq 2 ] && [ "$lines" -eq 1 ] &&
    [[ "$err" == "voz: $tmp/missing.wav"* ]]; then
    ok "a failing file among good ones: others transcribed, exit 1"
else
    bad "a failing file among good ones" "exit $rc; stdout:" "$out" "stderr: $err"
fi

# ---- JSON ------------------------------------------------------------------------------
weird="$tmp/we\"ird	name\\.wav"
cp "$CLIP" "$weird"
run transcribe -m "$MODEL" --decoder greedy --format json "$CLIP" "$weird"
printf '%s\n' "$out" >"$tmp/json"
if [ "$rc" -eq 0 ] && python3 - "$tmp/json" "$CLIP" "$weird" "$want" <<'EOF'
import json, sys
lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
assert len(lines) == 2, lines
for line, name in zip(lines, sys.argv[2:4]):
    o = json.loads(line)
    assert set(o) == {"file", "duration", "text", "words"}, o
    assert o["file"] == name, (o["file"], name)
    assert o["text"] == sys.argv[4], o["text"]
    assert [w["word"] for w in o["words"]] == o["text"].split(), o
    assert 1.0 < o["duration"] < 5.0, o["duration"]
    prev = 0.0
    for w in o["words"]:
        assert prev <= w["start"] < w["end"] <= o["duration"] + 0.05, w
        prev = w["start"]
EOF
then
    ok "json: one object per file per line, escaping, word times"
else
    bad "json output" "exit $rc:" "$out"
fi
if printf '%s\n' "$out" | head -n 1 | python3 -m json.tool >/dev/null; then
    ok "json: python3 -m json.tool accepts it"
else
    bad "json.tool" "$out"
fi

# ---- decoders --------------------------------------------------------------------------
# auto uses the model's word list (beam search): every output word is in the list.
run transcribe -m "$MODEL" "$CLIP"
vocab=" zero one two three four five six seven eight nine "
okw=1
for w in $out; do [[ "$vocab" == *" $w "* ]] || okw=0; done
if [ "$rc" -eq 0 ] && [ -n "$out" ] && [ "$okw" -eq 1 ]; then
    ok "auto decoder with the model's word list: '$out'"
else
    bad "auto decoder" "exit $rc, got '$out'" "stderr: $err"
fi
printf 'two\nnine\n\n  seven  \n' >"$tmp/words.txt"
run transcribe -m "$MODEL" --decoder beam --beam 8 --words "$tmp/words.txt" "$CLIP"
okw=1
for w in $out; do [[ " two nine seven " == *" $w "* ]] || okw=0; done
if [ "$rc" -eq 0 ] && [ "$okw" -eq 1 ]; then
    ok "--words constrains the beam search: '$out'"
else
    bad "--words" "exit $rc, got '$out'" "stderr: $err"
fi
run transcribe -m "$MODEL" --decoder greedy --threads 2 "$CLIP"
if [ "$rc" -eq 0 ] && [ "$out" = "$want" ]; then
    ok "--threads 2 gives the same transcript"
else
    bad "--threads 2" "exit $rc, got '$out'" "stderr: $err"
fi

# ---- bad inputs: exit 1, one line naming the file -------------------------------------
head -c 30 "$CLIP" >"$tmp/trunc.wav"
expect_fail "truncated WAV header" "$tmp/trunc.wav" transcribe -m "$MODEL" "$tmp/trunc.wav"
: >"$tmp/empty.wav"
expect_fail "empty file" "$tmp/empty.wav" transcribe -m "$MODEL" "$tmp/empty.wav"
printf 'this is not audio\n' >"$tmp/text.wav"
expect_fail "text file" "$tmp/text.wav" transcribe -m "$MODEL" "$tmp/text.wav"
# A device is refused at once (it used to be copied to /tmp until the disk was full).
expect_fail "a device" "/dev/zero: is a device" transcribe -m "$MODEL" /dev/zero
# Standard input is named once ("voz: standard input: ...", not "voz: -: standard input: ...").
cat "$tmp/text.wav" | "$VOZ" transcribe -m "$MODEL" - >"$tmp/out" 2>"$tmp/err"
rc=$? err=$(cat "$tmp/err")
if [ "$rc" -eq 1 ] && [ "$(grep -c '' "$tmp/err")" -eq 1 ] && [[ "$err" == "voz: standard input: "* ]]; then
    ok "text on standard input ($err)"
else
    bad "text on standard input" "exit $rc, expected 1" "stderr: $err"
fi
mkdir "$tmp/dir.wav"
expect_fail "a directory" "$tmp/dir.wav" transcribe -m "$MODEL" "$tmp/dir.wav"
expect_fail "a missing file" "$tmp/missing.wav" transcribe -m "$MODEL" "$tmp/missing.wav"

# ---- bad models -------------------------------------------------------------------------
size=$(stat -c %s "$MODEL")
head -c $((size / 2)) "$MODEL" >"$tmp/trunc.voz"
expect_fail "truncated model" "$tmp/trunc.voz" transcribe -m "$tmp/trunc.voz" "$CLIP"
[[ "$err" == *"truncated"* ]] || bad "truncated model message" "$err"
cp "$MODEL" "$tmp/flip.voz"
printf '\xff' | dd of="$tmp/flip.voz" bs=1 seek=$((size / 2)) conv=notrunc status=none
expect_fail "model with a flipped byte" "$tmp/flip.voz" transcribe -m "$tmp/flip.voz" "$CLIP"
[[ "$err" == *"checksum mismatch"* ]] || bad "flipped byte message" "$err"
cp "$MODEL" "$tmp/magic.voz"
printf 'XOZ' | dd of="$tmp/magic.voz" bs=1 seek=0 conv=notrunc status=none
expect_fail "model with a wrong magic" "$tmp/magic.voz" transcribe -m "$tmp/magic.voz" "$CLIP"
[[ "$err" == *"not a voz model (bad magic)"* ]] || bad "bad magic message" "$err"
expect_fail "a WAV given as the model" "$CLIP" transcribe -m "$CLIP" "$CLIP"
expect_fail "a directory as the model" "$tmp/dir.wav" transcribe -m "$tmp/dir.wav" "$CLIP"
expect_fail "voz info on a truncated model" "$tmp/trunc.voz" info "$tmp/trunc.voz"

# ---- write errors -------------------------------------------------------------------------
"$VOZ" transcribe -m "$MODEL" "$CLIP" >/dev/full 2>"$tmp/err"
rc=$?
if [ "$rc" -eq 1 ] && [ "$(grep -c '' "$tmp/err")" -eq 1 ]; then
    ok "writing to /dev/full exits 1 ($(cat "$tmp/err"))"
else
    bad "/dev/full" "exit $rc" "$(cat "$tmp/err")"
fi
"$VOZ" transcribe -m "$MODEL" "$CLIP" >&- 2>"$tmp/err"
rc=$?
if [ "$rc" -eq 1 ]; then ok "closed standard output exits 1"; else bad "closed stdout" "exit $rc"; fi
"$VOZ" info "$MODEL" >/dev/full 2>/dev/null
rc=$?
if [ "$rc" -eq 1 ]; then ok "voz info to /dev/full exits 1"; else bad "voz info /dev/full" "exit $rc"; fi

# ---- usage ------------------------------------------------------------------------------
for args in "transcribe" "transcribe --decoder fast $CLIP" "transcribe --beam 0 $CLIP" \
    "transcribe --threads 9 $CLIP" "transcribe --format xml $CLIP" "transcribe --nonesuch $CLIP" \
    "transcribe $CLIP -m" "info a b"; do
    # shellcheck disable=SC2086
    run $args
    if [ "$rc" -eq 2 ]; then ok "usage error: voz $args"; else bad "usage error: voz $args" "exit $rc" "$err"; fi
done
run transcribe --help
missing_opt=""
for o in --model --format --decoder --beam --words --threads; do
    [[ "$out" == *"$o"* ]] || missing_opt="$missing_opt $o"
done
if [ "$rc" -eq 0 ] && [ -z "$missing_opt" ] && [ "$(printf '%s\n' "$out" | grep -c default)" -ge 5 ]; then
    ok "transcribe --help lists every option with its default"
else
    bad "transcribe --help" "exit $rc, missing:$missing_opt"
fi

# Without -m: the built-in model, or the one-line explanation.
run transcribe "$CLIP"
if [ "$rc" -eq 0 ] ||
    { [ "$rc" -eq 1 ] && [ "$err" = "voz: no default model is built into this voz; give one with -m MODEL" ]; }; then
    ok "without -m: default model or a clear message (exit $rc)"
else
    bad "without -m" "exit $rc" "$err"
fi

# Standard input is spooled whole (some formats need seeking), but a signal still
# ends it: SIGINT or SIGTERM while a writer holds the pipe open ends voz within 5 s
# with 130/143 (or 1 and a message), and the spool never had a name in a folder
# (every file descriptor of voz is a pipe, a terminal, the model or a deleted file).
# Python starts voz so SIGINT is not ignored as in a background shell job.
for sig in INT TERM; do
    res=$(python3 - "$VOZ" "$MODEL" "$CLIP" "$sig" << 'EOF2'
import os, signal, subprocess, sys, time
voz, model, clip, sig = sys.argv[1:5]
p = subprocess.Popen([voz, "transcribe", "-m", model, "-"], stdin=subprocess.PIPE,
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
p.stdin.write(open(clip, "rb").read()[:20000])
p.stdin.flush()
time.sleep(1.0)
named = []
for fd in os.listdir(f"/proc/{p.pid}/fd"):
    try:
        t = os.readlink(f"/proc/{p.pid}/fd/{fd}")
    except OSError:
        continue
    if t.startswith("/") and not t.startswith("/dev/") and not t.endswith("(deleted)") \
            and os.path.realpath(t) != os.path.realpath(model):
        named.append(t)
p.send_signal(getattr(signal, "SIG" + sig))
t0 = time.time()
try:
    rc = p.wait(timeout=5)
except subprocess.TimeoutExpired:
    p.kill()
    print("still running 5 s after SIG" + sig)
    sys.exit()
err = p.stderr.read().decode(errors="replace").strip()
want = -getattr(signal, "SIG" + sig)
if named:
    print("named files open while spooling: " + " ".join(named))
elif rc == want or rc == 128 - want or (rc == 1 and err.startswith("voz: ")):
    print(f"ok exit {rc} after {time.time() - t0:.2f} s")
else:
    print(f"exit {rc}, stderr '{err}'")
EOF2
)
    if [[ "$res" == "ok "* ]]; then
        ok "transcribe - interrupted by SIG$sig while spooling: ${res#ok }, no named temporary file"
    else
        bad "transcribe - interrupted by SIG$sig while spooling" "$res"
    fi
done

# ---- voz info -----------------------------------------------------------------------------
run info "$MODEL"
crc=$(python3 -c 'import sys, zlib; b = open(sys.argv[1], "rb").read(); print("0x%08x" % (zlib.crc32(b[:-4]) & 0xffffffff))' "$MODEL")
missing_txt=""
for s in "BiLSTM" "rnn.l0" "rnn.l1" "fc" "[T, 64]" "[T, 17]" "total parameters: 44,881" "sample rate: 16000 Hz" \
    "num_mel_bins     23" "cmvn             utterance" "0:<blank>" '1:" "' "word list: 10 words" \
    'name: "e2e-fixture"' "file size: $(python3 -c 'import sys; print(f"{int(sys.argv[1]):,}")' "$size") bytes" \
    "CRC-32: $crc"; do
    [[ "$out" == *"$s"* ]] || missing_txt="$missing_txt [$s]"
done
if [ "$rc" -eq 0 ] && [ -z "$missing_txt" ]; then
    ok "voz info describes the model"
else
    bad "voz info" "exit $rc, missing:$missing_txt" "$out"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
