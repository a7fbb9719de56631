#!/bin/bash
# tests/e2e_cli.sh — the command line itself: option errors name the argument that
# failed (combined short options, abbreviations, a missing value), '--' passes file
# names starting with '-', every subcommand's --help lists its options, a FIFO as a
# model or a training manifest is refused at once instead of blocking, and
# `voz eval --digits/--equiv` scoring (plain WER stays the default).
# Environment: VOZ (the binary), VOZ_SHARED (the shared folder, for two FSDD clips).
source "$(dirname "$0")/lib_e2e.sh"
VOZ=$(cd "$(dirname "$VOZ")" && pwd)/$(basename "$VOZ")
FIX=$(pwd)/$FIX MODEL=$(pwd)/$MODEL CLIP=$(pwd)/$CLIP

# expect_usage NAME MESSAGE ARGS...: exit 2 and exactly "voz: MESSAGE" on stderr.
expect_usage() {
    local name=$1 msg=$2; shift 2
    run "$@"
    [ $rc -eq 2 ] && [ "$err" = "voz: $msg" ] && ok "$name: $err" || bad "$name" "exit $rc" "stderr: $err" "expected: voz: $msg"
}

# ---- option errors name the failing argument -------------------------------------------
expect_usage "unknown short option" "unknown option '-x' (see voz transcribe --help)" transcribe -x a.wav
expect_usage "unknown letter after a valid long option" "unknown option '-x' (see voz transcribe --help)" \
    transcribe --threads=1 -xy a.wav
expect_usage "unknown long option with a value" "unknown option '--bogus' (see voz transcribe --help)" \
    transcribe --bogus=3 a.wav
expect_usage "flag given a value" "option '--help' takes no value, found '3' (see voz transcribe --help)" \
    transcribe --help=3
expect_usage "missing value" "option '--format' needs a value (see voz transcribe --help)" transcribe a.wav --format
expect_usage "missing short value" "option '-m' needs a value (see voz transcribe --help)" transcribe a.wav -m
expect_usage "abbreviation named in full" "option '--output' needs a value (see voz features --help)" features a.wav --out
expect_usage "eval unknown" "unknown option '-q' (see voz eval --help)" eval -q m.tsv
expect_usage "eval missing value" "option '--equiv' needs a value (see voz eval --help)" eval m.tsv --equiv
expect_usage "train missing value" "option '--out' needs a value (see voz train --help)" train --out
expect_usage "train unknown short" "unknown option '-x' (see voz train --help)" train -x
expect_usage "train flag with value" "option '--resume' takes no value, found '1' (see voz train --help)" \
    train --resume=1
expect_usage "A:B option with a second colon" "--specaug-mel needs two whole numbers as A:B, not '2:3:4'" \
    train --specaug-mel 2:3:4
expect_usage "A:B option without a colon" "--specaug-time needs two whole numbers as A:B, not '2'" \
    train --specaug-time 2
expect_usage "info unknown" "unknown option '-x' (see voz info --help)" info -x
run transcribe -m"$tmp/nonexistent.voz" "$CLIP"
[ $rc -eq 1 ] && [[ "$err" == "voz: $tmp/nonexistent.voz: cannot open"* ]] && ok "-mFILE is the model FILE" ||
    bad "-mFILE" "exit $rc" "$err"

# ---- '--' passes names starting with '-' -------------------------------------------------
cp "$CLIP" "$tmp/-clip.wav"
cp "$MODEL" "$tmp/-m.voz"
(cd "$tmp" && "$VOZ" transcribe -m ./-m.voz -- -clip.wav >out1 2>err1; echo $? >rc1)
ref=$("$VOZ" transcribe -m "$MODEL" "$CLIP" 2>&1)
[ "$(cat "$tmp/rc1")" = 0 ] && [ "$(cat "$tmp/out1")" = "$ref" ] && ok "transcribe -- -clip.wav: '$ref'" ||
    bad "transcribe -- -clip.wav" "$(cat "$tmp/err1")"
(cd "$tmp" && "$VOZ" info -- -m.voz >out2 2>err2; echo $? >rc2)
[ "$(cat "$tmp/rc2")" = 0 ] && grep -q 'CRC-32' "$tmp/out2" && ok "info -- -m.voz" || bad "info -- -m.voz" "$(cat "$tmp/err2")"
(cd "$tmp" && "$VOZ" features -m ./-m.voz -o ./-f.txt -- -clip.wav 2>err3; echo $? >rc3)
[ "$(cat "$tmp/rc3")" = 0 ] && [ -s "$tmp/-f.txt" ] && ok "features -o ./-f.txt -- -clip.wav" ||
    bad "features -- -clip.wav" "$(cat "$tmp/err3")"

# ---- every subcommand's --help lists its options ------------------------------------------
check_help() {
    local cmd=$1; shift
    local help missing=()
    help=$("$VOZ" $cmd --help 2>&1) || { bad "$cmd --help exit status"; return; }
    for o in "$@"; do grep -q -- "$o\b" <<<"$help" || missing+=("$o"); done
    [ ${#missing[@]} -eq 0 ] && ok "$cmd --help lists $*" || bad "$cmd --help lacks ${missing[*]}"
}
check_help transcribe --model --format --decoder --beam --vtln --words --threads --help
check_help features --model --format --output --help
check_help info --help
check_help eval --model --decoder --beam --vtln --threads --equiv --digits --verbose --help
check_help train --out --train --compose --dev --compose-count --compose-words --gap-ms --skip-bad --cell \
    --layers --hidden --sample-rate --alphabet --words --epochs --batch-size --optimizer --lr --momentum --clip \
    --warmup --lr-decay --plateau --seed --threads --augment-variants --speed --snr-db --gain-db --specaug-time \
    --specaug-freq --specaug-mel --crop --vtlp --dropout --resume --checkpoint-every --max-minutes --name --meta --verbose --help

# ---- training options checked before any work: usage errors (exit 2) -------------------------------
for bad_opt in "--alphabet aa" "--alphabet=" "--crop 1.5:50" "--crop 0.5" "--vtlp 0.4:1.1" "--vtlp 1.2:1.1" \
               "--sample-rate 1000 --vtlp 0.9:1.1" "--meta vtln_ensemble=abc" "--sample-rate 1000 --meta vtln_ensemble=1.1" \
               "--crop 0.5:50" "--speed 0.9:1.1" "--compose $tmp/none.tsv --augment-variants 0 --gain-db -3:3"; do
    # shellcheck disable=SC2086
    "$VOZ" train --out "$tmp/u.voz" --train "$tmp/none.tsv" $bad_opt >/dev/null 2>"$tmp/err"
    rc=$?
    [ $rc -eq 2 ] && [ "$(grep -c '' "$tmp/err")" -eq 1 ] && [ ! -e "$tmp/u.voz" ] && ok "train $bad_opt: $(cat "$tmp/err")" ||
        bad "train $bad_opt" "exit $rc (expected 2)" "$(cat "$tmp/err")"
done

# ---- --vtln: a bad list, or an ensemble for the greedy decoder, is a usage error -----------------
printf '%s\tseven three nine two\n' "$CLIP" >"$tmp/clip.tsv"
for args in "transcribe --vtln 0.4 $CLIP" "transcribe --vtln 1,x $CLIP" "live --input $CLIP --vtln ,1" \
            "eval --vtln 0.9,1.1 --decoder greedy $tmp/clip.tsv" "transcribe --decoder greedy --vtln 0.9,1.1 $CLIP"; do
    # shellcheck disable=SC2086
    "$VOZ" $args >"$tmp/out" 2>"$tmp/err"
    rc=$?
    [ $rc -eq 2 ] && [ ! -s "$tmp/out" ] && [ "$(grep -c '' "$tmp/err")" -eq 1 ] && ok "${args%% /*}: $(cat "$tmp/err")" ||
        bad "$args" "exit $rc (expected 2)" "$(cat "$tmp/err")"
done
run transcribe --vtln none "$CLIP"
plain=$out
run transcribe --vtln 0.9,1.1 "$CLIP"
[ $rc -eq 0 ] && [ -n "$out" ] && [ -n "$plain" ] && ok "transcribe --vtln none / 0.9,1.1: '$plain' / '$out'" ||
    bad "transcribe with --vtln" "exit $rc" "$err"

# ---- voz ensemble: networks trained apart in one file, combined by the beam decoder -------------
# The fixture model holds one network; joined with itself it must decode as itself.
DIGITS=models/digits-en/digits-en.voz
run transcribe -m "$MODEL" --decoder beam "$CLIP"
alone=$out
run ensemble -o "$tmp/ens.voz" "$MODEL" "$MODEL"
[ $rc -eq 0 ] && "$VOZ" info "$tmp/ens.voz" | grep -q '^networks: 2 of this shape' &&
    "$VOZ" info "$tmp/ens.voz" | grep -q 'ensemble: "2 networks from model.voz (crc 0x[0-9a-f]*), model.voz' &&
    ok "ensemble of two: $out" ||
    bad "ensemble of two" "exit $rc" "$err"
[[ "$err" == *"model.voz: its network 1 is identical to network 1 of $MODEL: it adds decoding time"* ]] &&
    ok "a network joined twice is warned about" || bad "no warning for a network joined twice" "$err"
run transcribe -m "$tmp/ens.voz" --decoder beam "$CLIP"
both=$out
run transcribe -m "$tmp/ens.voz" --decoder beam --members 1 "$CLIP"
[ -n "$alone" ] && [ "$both" = "$alone" ] && [ "$out" = "$alone" ] && ok "identical members decode as one: '$both'" ||
    bad "identical members" "alone '$alone', both '$both', --members 1 '$out'"
run ensemble -o "$tmp/ens8.voz" "$tmp/ens.voz" "$tmp/ens.voz" "$tmp/ens.voz" "$tmp/ens.voz"
[ $rc -eq 0 ] && "$VOZ" info "$tmp/ens8.voz" | grep -q '^networks: 8 ' && ok "ensembles join into one of 8" ||
    bad "ensemble of ensembles" "exit $rc" "$err"
echo keep >"$tmp/keep.voz"
for args in "$tmp/ens8.voz $MODEL:at most 8 fit" "$DIGITS $MODEL:cannot join $DIGITS: its sample rate differs" \
            "$DIGITS $CLIP:not a voz model" "$DIGITS $tmp/missing.voz:cannot open"; do
    want=${args#*:}
    # shellcheck disable=SC2086
    run ensemble -o "$tmp/keep.voz" ${args%%:*}
    [ $rc -eq 1 ] && [[ "$err" == *"$want"* ]] && [ "$(grep -c '' "$tmp/err")" -eq 1 ] && [ "$(cat "$tmp/keep.voz")" = keep ] &&
        ok "ensemble refused, output untouched: $err" || bad "ensemble ${args%%:*}" "exit $rc" "$err"
done
# Replacing keeps the old file's permissions; a dangling link's target is created; file
# names that are not UTF-8 are stored escaped (\xNN), never as a file no reader loads.
cp "$MODEL" "$tmp/priv.voz"; chmod 600 "$tmp/priv.voz"
run ensemble -o "$tmp/priv.voz" "$MODEL" "$MODEL"
[ $rc -eq 0 ] && [ "$(stat -c %a "$tmp/priv.voz")" = 600 ] && ok "replaced output keeps mode 600" ||
    bad "output mode" "exit $rc, mode $(stat -c %a "$tmp/priv.voz")" "$err"
ln -s made.voz "$tmp/dangling.voz"
run ensemble -o "$tmp/dangling.voz" "$MODEL" "$MODEL"
[ $rc -eq 0 ] && [ -L "$tmp/dangling.voz" ] && "$VOZ" info "$tmp/made.voz" >/dev/null 2>&1 &&
    ok "dangling link as output: its target written, the link kept" ||
    bad "dangling link as output" "exit $rc, $(ls -l "$tmp" | grep -E 'made|dangling')" "$err"
cp "$MODEL" "$tmp/"$'latin\xe9.voz'
run ensemble -o "$tmp/u8.voz" "$MODEL" "$tmp/"$'latin\xe9.voz'
[ $rc -eq 0 ] && "$VOZ" info "$tmp/u8.voz" 2>&1 | grep -aq 'latin\\\\xe9.voz (crc' &&
    ok "a file name that is not UTF-8 is stored escaped, the model loads" ||
    bad "non-UTF-8 file name in metadata" "exit $rc" "$err" "$("$VOZ" info "$tmp/u8.voz" 2>&1 | tail -n 3)"
for args in "ensemble $DIGITS $DIGITS" "ensemble -o $tmp/e.voz $DIGITS" "transcribe -m $tmp/ens.voz --members 3 $CLIP" \
            "transcribe -m $tmp/ens.voz --members 0 $CLIP" "eval -m $tmp/ens.voz --members 2 --decoder greedy $tmp/clip.tsv" "transcribe --members 3 $CLIP" \
            "live -m $tmp/ens.voz --members 9 --input $CLIP"; do
    # shellcheck disable=SC2086
    run $args
    [ $rc -eq 2 ] && [ -z "$out" ] && [ "$(grep -c '' "$tmp/err")" -eq 1 ] && [ ! -e "$tmp/e.voz" ] && ok "${args%% *} usage: $err" ||
        bad "$args" "exit $rc (expected 2)" "$err"
done

# ---- voz eval - : the manifest from standard input, paths from the current folder ----------------
out=$(printf '%s\tseven three nine two\n' "$CLIP" | "$VOZ" eval - 2>"$tmp/err" | head -n 1)
[ "$out" = "WER 0.00%" ] && ok "eval - (a manifest on standard input): $out" || bad "eval -" "'$out'" "$(cat "$tmp/err")"
# ... and a manifest that is a pipe by name (process substitution) reads rows the same way.
out=$("$VOZ" eval <(printf '%s\tseven three nine two\n' "$CLIP") 2>"$tmp/err" | head -n 1)
[ "$out" = "WER 0.00%" ] && ok "eval <(...): rows relative to the current folder: $out" ||
    bad "eval <(...)" "'$out'" "$(cat "$tmp/err")"
"$VOZ" eval - <&- >/dev/null 2>"$tmp/err"
rc=$?
[ $rc -eq 1 ] && grep -q "standard input: is closed, expected a manifest" "$tmp/err" && ok "eval - with stdin closed: $(cat "$tmp/err")" ||
    bad "eval - <&-" "exit $rc" "$(cat "$tmp/err")"

# ---- a FIFO is refused at once, not waited on --------------------------------------------------
mkfifo "$tmp/fifo"
run_t() { timeout 10 "$VOZ" "$@" >"$tmp/out" 2>"$tmp/err"; rc=$?; err=$(cat "$tmp/err"); }
run_t info "$tmp/fifo"
[ $rc -eq 1 ] && [[ "$err" == *"fifo: is a FIFO (named pipe), not a regular file"* ]] && ok "info FIFO: $err" ||
    bad "info FIFO" "exit $rc (124: blocked)" "$err"
run_t transcribe -m "$tmp/fifo" "$CLIP"
[ $rc -eq 1 ] && [[ "$err" == *"is a FIFO"* ]] && ok "transcribe -m FIFO" || bad "transcribe -m FIFO" "exit $rc" "$err"
run_t train --out "$tmp/t.voz" --train "$tmp/fifo" --sample-rate 8000
[ $rc -eq 1 ] && [[ "$err" == *"fifo: not a regular file"* ]] && [ ! -e "$tmp/t.voz" ] && ok "train FIFO manifest: $err" ||
    bad "train FIFO manifest" "exit $rc" "$err"
printf '%s\tseven\n' "$tmp/fifo" >"$tmp/fifo_row.tsv"
run_t eval -m "$MODEL" "$tmp/fifo_row.tsv"
[ $rc -eq 1 ] && [[ "$err" == *"fifo_row.tsv:1: cannot read audio '$tmp/fifo': is a FIFO (named pipe)"* ]] &&
    ok "eval FIFO row: $err" || bad "eval FIFO row" "exit $rc (124: blocked)" "$err"

# ---- eval scoring: plain WER by default, --digits and --equiv map oh to zero ---------------------
FSDD=${VOZ_SHARED:-../shared}/data/fsdd
if [ -r "$FSDD/0_george_0.wav" ]; then
    printf '%s\toh\n%s\tzero\n' "$(cd "$FSDD" && pwd)/0_george_0.wav" "$(cd "$FSDD" && pwd)/0_jackson_0.wav" >"$tmp/oh.tsv"
    printf '# digits\nzero oh\n' >"$tmp/eq.txt"
    wer() { sed -n 's/^WER \(.*\)%$/\1/p' <<<"$1"; }
    run eval "$tmp/oh.tsv" --decoder greedy; plain=$(wer "$out")
    run eval --digits "$tmp/oh.tsv" --decoder greedy; digits=$(wer "$out")
    run eval --equiv "$tmp/eq.txt" "$tmp/oh.tsv" --decoder greedy; equiv=$(wer "$out")
    [ "$plain" = "50.00" ] && [ "$digits" = "0.00" ] && [ "$equiv" = "0.00" ] &&
        ok "eval WER: plain $plain%, --digits $digits%, --equiv $equiv%" ||
        bad "eval oh/zero scoring" "plain '$plain' (expected 50.00), --digits '$digits', --equiv '$equiv' (0.00)"
    printf 'zero\n' >"$tmp/eq1.txt"
    run eval --equiv "$tmp/eq1.txt" "$tmp/oh.tsv"
    [ $rc -eq 1 ] && [[ "$err" == *"eq1.txt:1: 'zero' alone"* ]] && ok "bad --equiv: $err" || bad "bad --equiv" "exit $rc" "$err"
else
    echo "skip: no FSDD under $FSDD for the eval scoring checks"
fi

# ---- --words: normalised like transcripts, checked once against the model --------------
printf 'SEVEN\nThree\nnine\ntwo\n' >"$tmp/words_uc.txt"
ref=$("$VOZ" transcribe -m "$MODEL" "$CLIP" 2>/dev/null)
for c in transcribe live eval; do
    case $c in
        transcribe) run transcribe -m "$MODEL" --words "$tmp/words_uc.txt" "$CLIP" ;;
        live) run live -m "$MODEL" --words "$tmp/words_uc.txt" --input "$CLIP" ;;
        eval) printf '%s\t%s\n' "$CLIP" "$ref" >"$tmp/clip.tsv"
              run eval -m "$MODEL" --words "$tmp/words_uc.txt" "$tmp/clip.tsv" ;;
    esac
    if [ $c = eval ]; then
        [ $rc -eq 0 ] && [[ "$out" == "WER 0.00%"* ]] && ok "eval --words with upper case: WER 0" || bad "eval --words" "exit $rc" "$out" "$err"
    else
        [ $rc -eq 0 ] && [ "$out" = "$ref" ] && ok "$c --words with upper-case words: '$out'" || bad "$c --words" "exit $rc" "out '$out'" "$err"
    fi
done
printf 'one\n\ntw\xc3\xb6\n' >"$tmp/words_bad.txt"
run transcribe -m "$MODEL" --words "$tmp/words_bad.txt" "$CLIP" "$CLIP" "$CLIP"
n=$(printf '%s\n' "$err" | grep -c .)
[ $rc -eq 1 ] && [ "$n" -eq 1 ] && [[ "$err" == "voz: $tmp/words_bad.txt:3: the model cannot spell"* ]] && [ -z "$out" ] &&
    ok "unspellable word: one line before any file: $err" || bad "unspellable --words" "exit $rc, $n line(s)" "$err"

# ---- eval gates silence like transcribe: dither gives an empty hypothesis ----------------
if command -v sox >/dev/null; then
    sox -n -r 8000 -b 16 -c 1 "$tmp/dither.wav" synth 3 whitenoise vol 0.00006 2>/dev/null
    printf 'dither.wav\tone\n' >"$tmp/dither.tsv"
    run transcribe "$tmp/dither.wav"; t_out=$out
    run eval --verbose "$tmp/dither.tsv"
    [ $rc -eq 0 ] && [ -z "$t_out" ] && printf '%s\n' "$out" | grep -qx 'HYP: *' && grep -q '^WER 100.00%' <<<"$out" &&
        ok "eval of dither: empty hypothesis like transcribe" || bad "eval of dither" "transcribe '$t_out'" "$out"
fi

# ---- an output that is an input is refused, the input left intact ---------------------
cp "$CLIP" "$tmp/in.wav"; sum=$(cksum <"$tmp/in.wav")
run features -o "$tmp/in.wav" "$tmp/in.wav"
[ $rc -eq 2 ] && [ "$(cksum <"$tmp/in.wav")" = "$sum" ] && [[ "$err" == *"would overwrite the input"* ]] &&
    ok "features -o INPUT INPUT refused: $err" || bad "features -o INPUT INPUT" "exit $rc" "$err"
ln -sf "$tmp/in.wav" "$tmp/link.wav"
run features -o "$tmp/link.wav" "$tmp/in.wav"
[ $rc -eq 2 ] && [ "$(cksum <"$tmp/in.wav")" = "$sum" ] && ok "features -o SYMLINK-TO-INPUT refused" ||
    bad "features -o symlink to the input" "exit $rc" "$err"

# ---- word lists and equivalence files: BOM and CRLF accepted, NUL refused -------------
printf '\xef\xbb\xbfSEVEN\r\nthree\r\nnine\r\ntwo\r\n' >"$tmp/words_bom.txt"
run transcribe -m "$MODEL" --words "$tmp/words_bom.txt" "$CLIP"
[ $rc -eq 0 ] && [ "$out" = "$("$VOZ" transcribe -m "$MODEL" "$CLIP" 2>/dev/null)" ] && ok "--words with a BOM and CRLF" ||
    bad "--words with BOM/CRLF" "exit $rc" "$out" "$err"
printf 'seven three nine two\n' >"$tmp/ref_only.txt"
printf '%s\tseven three nine too\n' "$CLIP" >"$tmp/too.tsv"
printf '\xef\xbb\xbftwo too\r\n' >"$tmp/eq_bom.txt"
run eval -m "$MODEL" --equiv "$tmp/eq_bom.txt" "$tmp/too.tsv"
[ $rc -eq 0 ] && [[ "$out" == "WER 0.00%"* ]] && ok "--equiv with a BOM maps its first line" || bad "--equiv BOM" "exit $rc" "$out" "$err"
printf 'two t\0oo\n' >"$tmp/eq_nul.txt"
run eval -m "$MODEL" --equiv "$tmp/eq_nul.txt" "$tmp/too.tsv"
[ $rc -eq 1 ] && [[ "$err" == *"eq_nul.txt:1: NUL byte"* ]] && ok "--equiv with a NUL byte: $err" || bad "--equiv NUL" "exit $rc" "$err"

# ---- a file name with a newline still gives a one-line error -------------------------
nl_name="$tmp/a
b.wav"
run transcribe "$nl_name"
[ $rc -eq 1 ] && [ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] && [[ "$err" == *"a?b.wav: cannot open"* ]] &&
    ok "newline in a file name: one line, '$err'" || bad "newline in a file name" "exit $rc" "$err"
run transcribe -m "$nl_name" "$CLIP"
[ $rc -eq 1 ] && [ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] && ok "newline in a model name: one line" ||
    bad "newline in a model name" "exit $rc" "$err"

# ---- voz train on an empty manifest names it ---------------------------------------------
: >"$tmp/empty.tsv"
run train --out "$tmp/empty.voz" --train "$tmp/empty.tsv" --sample-rate 8000
[ $rc -eq 1 ] && [[ "$err" == *"voz: $tmp/empty.tsv: no usable rows"* ]] && [ ! -e "$tmp/empty.voz" ] &&
    ok "empty training manifest named" || bad "empty training manifest" "exit $rc" "$err"

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
