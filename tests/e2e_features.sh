#!/bin/bash
# tests/e2e_features.sh — `voz features` end to end: the committed fixture clip gives the
# features tools/fixtures_e2e.py computed with torchaudio (tests/fixtures/e2e), as text
# and as .npy; standard input gives the same; -o writes atomically; bad inputs and bad
# usage fail with the right status and one line naming the problem.
# Environment: VOZ (the binary, default build/release/voz).
set -u
# shellcheck source=tests/lib_e2e.sh
. "$(dirname "$0")/lib_e2e.sh"

# expect_status NAME STATUS TEXT ARGS...: exit STATUS, nothing on stdout, one stderr
# line starting "voz: " and containing TEXT.
expect_status() {
    local name=$1 want=$2 text=$3
    shift 3
    run "$@"
    local lines
    lines=$(grep -c '' "$tmp/err")
    if [ "$rc" -eq "$want" ] && [ ! -s "$tmp/out" ] && [ "$lines" -eq 1 ] && [[ "$err" == "voz: "* ]] &&
        [[ "$err" == *"$text"* ]]; then
        ok "$name ($err)"
    else
        bad "$name" "exit $rc, expected $want; stdout $(wc -c <"$tmp/out") bytes" "stderr ($lines lines): $err"
    fi
}

# compare_text FILE: rows x 39 columns within 1e-4 of the reference float32 matrix.
compare_text() {
    od -An -v -tf4 -w156 "$FIX/features.f32" |
        awk -v got="$1" 'BEGIN { bad = 0; worst = 0 }
            { ref[NR] = $0 }
            END {
                n = 0
                while ((getline line < got) > 0) {
                    n++
                    m = split(line, g, " "); split(ref[n], r, " ")
                    if (m != 39) { print "row " n " has " m " values"; exit 1 }
                    for (i = 1; i <= 39; i++) {
                        d = g[i] - r[i]; if (d < 0) d = -d
                        if (d > worst) { worst = d; wr = n; wc = i }
                    }
                }
                if (n != NR) { print n " rows, expected " NR; exit 1 }
                if (worst > 1e-4) { print "worst |diff| " worst " at row " wr " col " wc; exit 1 }
                print n " rows, worst |diff| " worst
            }'
}

if [ ! -x "$VOZ" ]; then
    echo "FAIL no voz binary at $VOZ"
    echo "0 passed, 1 failed"
    exit 1
fi

# ---- help ------------------------------------------------------------------------------
run features --help
if [ "$rc" -eq 0 ] && grep -q -- '--model' "$tmp/out" && grep -q -- '--format text|npy' "$tmp/out" &&
    grep -q -- '--output' "$tmp/out" && grep -q 'default: text' "$tmp/out"; then
    ok "--help lists every option and its default"
else
    bad "--help" "exit $rc" "$(cat "$tmp/out")"
fi

# ---- values ----------------------------------------------------------------------------
run features -m "$MODEL" "$CLIP"
if [ "$rc" -eq 0 ] && [ -z "$err" ] && msg=$(compare_text "$tmp/out"); then
    ok "text features equal the torchaudio reference ($msg)"
else
    bad "text features" "exit $rc: $err" "${msg:-}"
fi
cp "$tmp/out" "$tmp/ref.txt"

cat "$CLIP" | "$VOZ" features -m "$MODEL" - >"$tmp/stdin.txt" 2>"$tmp/err"
if [ $? -eq 0 ] && cmp -s "$tmp/stdin.txt" "$tmp/ref.txt"; then
    ok "standard input through a pipe gives the same features"
else
    bad "stdin" "$(cat "$tmp/err")"
fi

# a 44.1 kHz stereo 24-bit copy is resampled and downmixed to nearly the same features
if sox -q "$CLIP" -r 44100 -c 2 -b 24 "$tmp/clip44.wav" 2>/dev/null; then
    run features -m "$MODEL" "$tmp/clip44.wav"
    rows=$(grep -c '' "$tmp/out")
    ref_rows=$(grep -c '' "$tmp/ref.txt")
    if [ "$rc" -eq 0 ] && [ "$rows" -eq "$ref_rows" ]; then
        ok "44.1 kHz stereo copy: $rows frames at the model's rate"
    else
        bad "44.1 kHz copy" "exit $rc, $rows rows, expected $ref_rows: $err"
    fi
fi

# ---- npy ----------------------------------------------------------------------------------
"$VOZ" features -m "$MODEL" --format npy "$CLIP" >"$tmp/a.npy" 2>"$tmp/err"
rc=$?
T=$(grep -c '' "$tmp/ref.txt")
size=$(wc -c <"$tmp/a.npy")
magic=$(head -c 8 "$tmp/a.npy" | od -An -tx1 | tr -d ' \n')
hlen=$(od -An -j8 -N2 -tu2 "$tmp/a.npy" | tr -d ' ')
header=$(head -c $((10 + hlen)) "$tmp/a.npy" | tail -c "$hlen")
if [ "$rc" -eq 0 ] && [ "$magic" = "934e554d50590100" ] && [ $(((10 + hlen) % 64)) -eq 0 ] &&
    [[ "$header" == *"'descr': '<f4'"* ]] && [[ "$header" == *"'shape': ($T, 39)"* ]] &&
    [ "$size" -eq $((10 + hlen + T * 39 * 4)) ]; then
    ok "npy: v1.0 header '${header%%\}*}}', $size bytes"
else
    bad "npy" "exit $rc, magic $magic, header '$header', $size bytes" "$(cat "$tmp/err")"
fi
# its data are the text values (to the 6 digits text keeps)
tail -c $((T * 39 * 4)) "$tmp/a.npy" >"$tmp/a.f32"
od -An -v -tf4 -w156 "$tmp/a.f32" | awk -v ref="$tmp/ref.txt" '
    { getline line < ref; m = split(line, r, " "); split($0, g, " ")
      for (i = 1; i <= m; i++) { d = g[i] - r[i]; if (d < 0) d = -d; t = r[i] < 0 ? -r[i] : r[i]
          if (d > 1e-5 * (t > 1 ? t : 1)) { print "row " NR " col " i ": " g[i] " vs " r[i]; exit 1 } } }' >"$tmp/msg"
if [ $? -eq 0 ] && [ ! -s "$tmp/msg" ]; then
    ok "npy data equal the text output"
else
    bad "npy data" "$(cat "$tmp/msg")"
fi

# ---- -o ------------------------------------------------------------------------------------
run features -m "$MODEL" --format npy -o "$tmp/o.npy" "$CLIP"
if [ "$rc" -eq 0 ] && [ ! -s "$tmp/out" ] && cmp -s "$tmp/o.npy" "$tmp/a.npy" &&
    [ -z "$(ls "$tmp" | grep '\.tmp\.')" ]; then
    ok "-o writes the same bytes, no temporary left"
else
    bad "-o" "exit $rc: $err"
fi
echo keep >"$tmp/keep.txt"
expect_status "missing input" 1 "$tmp/nope.wav" features -m "$MODEL" -o "$tmp/keep.txt" "$tmp/nope.wav"
if [ "$(cat "$tmp/keep.txt")" = keep ] && [ -z "$(ls "$tmp" | grep '\.tmp\.')" ]; then
    ok "a failed run leaves -o OUT untouched"
else
    bad "failed run touched OUT"
fi
expect_status "unwritable output" 1 "$tmp/no/dir/x.txt" features -m "$MODEL" -o "$tmp/no/dir/x.txt" "$CLIP"
if [ -w /dev/full ]; then
    "$VOZ" features -m "$MODEL" "$CLIP" >/dev/full 2>"$tmp/err"
    rc=$?
    if [ "$rc" -eq 1 ] && grep -q "error writing to standard output" "$tmp/err"; then
        ok "a full disk on stdout is an error"
    else
        bad "/dev/full" "exit $rc: $(cat "$tmp/err")"
    fi
fi

# ---- bad input and bad usage --------------------------------------------------------------
printf 'not audio at all\n' >"$tmp/text.wav"
expect_status "text file" 1 "$tmp/text.wav: not a supported audio file" features -m "$MODEL" "$tmp/text.wav"
: >"$tmp/empty.wav"
expect_status "empty file" 1 "$tmp/empty.wav: is empty" features -m "$MODEL" "$tmp/empty.wav"
expect_status "directory" 1 "is a directory" features -m "$MODEL" "$tmp"
expect_status "bad model" 1 "$tmp/text.wav" features -m "$tmp/text.wav" "$CLIP"
expect_status "bad format" 2 "--format" features -m "$MODEL" --format csv "$CLIP"
expect_status "two files" 2 "one audio file" features -m "$MODEL" "$CLIP" "$CLIP"
expect_status "unknown option" 2 "--frobnicate" features --frobnicate "$CLIP"
expect_status "missing value" 2 "-o" features "$CLIP" -o
run features
if [ "$rc" -eq 2 ] && grep -q "usage: voz features" "$tmp/err"; then
    ok "no file: usage on stderr, exit 2"
else
    bad "no file" "exit $rc: $err"
fi

# ---- the default model ---------------------------------------------------------------------
run features "$CLIP"
if [ "$rc" -eq 0 ]; then
    cols=$(head -n 1 "$tmp/out" | wc -w)
    ok "default model: $(grep -c '' "$tmp/out") frames of $cols values"
elif [ "$rc" -eq 1 ] && [[ "$err" == *"no default model"* ]]; then
    ok "no default model built in: '$err'"
else
    bad "default model" "exit $rc: $err"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
