#!/bin/bash
# tests/e2e_train.sh — `voz train` and `voz eval` end to end on a few FSDD clips
# (read from $VOZ_SHARED/data/fsdd, never copied): the loss must fall far below its
# start and the model must load and transcribe; a run killed with -9 after a
# checkpoint and resumed must end with the same weights as an uninterrupted one; a
# kill -9 in the middle of a checkpoint write must leave a loadable checkpoint; a
# model write into a full place must fail with a message and keep the old file; an
# absurd learning rate must finish with skipped batches and a finite model.
# Environment: VOZ (the binary), VOZ_SHARED (the shared folder).
set -u
cd "$(dirname "$0")/.."
VOZ=${VOZ:-build/release/voz}
VOZ=$(cd "$(dirname "$VOZ")" && pwd)/$(basename "$VOZ")
SHARED=${VOZ_SHARED:-../shared}
FSDD=$SHARED/data/fsdd
if [ ! -r "$FSDD/1_jackson_0.wav" ]; then
    echo "SKIP: no FSDD clips under $FSDD"
    exit 0
fi
FSDD=$(cd "$FSDD" && pwd)
tmp=$(mktemp -d /tmp/voz_e2e_train.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
    mountpoint -q "$tmp/mnt" 2>/dev/null && umount "$tmp/mnt"
    rm -rf "$tmp"
}
trap cleanup EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }

# A three-word corpus: "one", "two", "three" from three speakers (compose clips), and
# a fourth speaker for dev. Paths are relative to the manifest folder via a symlink,
# so the relative-path rule is exercised as well.
ln -s "$FSDD" "$tmp/fsdd"
words=(zero one two three)
: >"$tmp/compose.tsv"; : >"$tmp/dev.tsv"
for d in 1 2 3; do
    for spk in jackson george lucas; do
        for i in $(seq 0 11); do
            printf 'fsdd/%s_%s_%s.wav\t%s\n' $d $spk $i "${words[$d]}" >>"$tmp/compose.tsv"
        done
    done
    for i in 0 1 2 3; do
        printf 'fsdd/%s_nicolas_%s.wav\t%s\n' $d $i "${words[$d]}" >>"$tmp/dev.tsv"
    done
done
printf 'one\ntwo\nthree\n' >"$tmp/words.txt"
COMMON=(--compose "$tmp/compose.tsv" --sample-rate 8000 --cell gru --layers 1 --hidden 32
        --batch-size 8 --compose-count 48 --compose-words 1:2 --augment-variants 1 --seed 7 --threads 1)

# ---- 1. a short run learns, the model loads and transcribes --------------------------
m=$tmp/m.voz
if ! "$VOZ" train --out "$m" "${COMMON[@]}" --dev "$tmp/dev.tsv" --words "$tmp/words.txt" --epochs 25 --lr 0.005 \
        --specaug-time 1:5 --name e2e --meta purpose=test >"$tmp/train.out" 2>"$tmp/train.err"; then
    cat "$tmp/train.err"; fail "training run exited $?"
else
    tail -n 3 "$tmp/train.err"
    for f in "$m" "$m.ckpt" "$m.log.csv" "$m.curve.svg"; do [ -s "$f" ] || fail "missing output $f"; done
    rows=$(($(wc -l <"$m.log.csv") - 1))
    [ "$rows" -eq 25 ] || fail "log has $rows epoch rows, expected 25"
    first=$(awk -F, 'NR==2 {print $3}' "$m.log.csv")
    last=$(awk -F, 'END {print $3}' "$m.log.csv")
    if awk -v a="$first" -v b="$last" 'BEGIN {exit !(b < 0.3 * a)}'; then
        ok "train loss fell from $first to $last"
    else
        fail "train loss went from $first to $last, expected below 30% of the start"
    fi
    grep -q '<svg' "$m.curve.svg" || fail "curve is not an SVG"
    "$VOZ" info "$m" >"$tmp/info.out" 2>&1 || fail "voz info cannot read the model: $(cat "$tmp/info.out")"
    grep -q 'purpose' "$tmp/info.out" || fail "--meta purpose=test not in the model"
    hyp=$("$VOZ" transcribe -m "$m" "$FSDD/2_nicolas_1.wav" 2>&1) || fail "transcribe failed: $hyp"
    ok "transcribes 2_nicolas_1.wav (\"two\") as '$hyp'"
    if "$VOZ" eval -m "$m" "$tmp/dev.tsv" >"$tmp/eval.out" 2>&1; then
        cat "$tmp/eval.out"
        for k in WER CER SER RTF; do grep -q "^$k [0-9.]*%*$" "$tmp/eval.out" || fail "eval prints no $k line"; done
        # The best epoch's dev WER (training) and eval's WER are computed the same way.
        best=$(awk -F, 'NR > 1 && $6 != "" {w = $6 * 100; if (NR == 2 || w < b) b = w} END {printf "%.2f", b}' \
               "$m.log.csv")
        grep -q "^WER $best%$" "$tmp/eval.out" || fail "eval WER differs from the best dev WER $best% of training"
    else
        fail "eval failed: $(cat "$tmp/eval.out")"
    fi
    "$VOZ" eval -m "$m" "$tmp/dev.tsv" --verbose --decoder greedy | grep -q '^REF: one$' || fail "eval --verbose"
fi

# ---- 2. kill -9 after a checkpoint, resume: the same weights ------------------------
SHORT=("${COMMON[@]}" --epochs 6)
crc_of() { sed -n 's/.*weights crc32 \([0-9a-f]*\).*/\1/p' "$1"; }
"$VOZ" train --out "$tmp/a.voz" "${SHORT[@]}" >"$tmp/a.out" 2>"$tmp/a.err" || fail "uninterrupted run: $(cat "$tmp/a.err")"
crc_a=$(crc_of "$tmp/a.out")
# kill_and_resume NAME REFERENCE_CRC ARGS...: run with ARGS, kill -9 a little after the
# first checkpoint, --resume, and compare the final weights with REFERENCE_CRC.
kill_and_resume() {
    local name=$1 ref=$2; shift 2
    local out=$tmp/$name.voz pid crc
    "$VOZ" train --out "$out" "$@" --checkpoint-every 0 >"$tmp/$name.1.out" 2>"$tmp/$name.1.err" &
    pid=$!; pids+=($pid)
    # Wait for the first checkpoint, let a few more batches pass, then kill between writes.
    for _ in $(seq 1 2000); do [ -e "$out.ckpt" ] && break; sleep 0.005; done
    sleep 0.2
    if ! kill -0 $pid 2>/dev/null; then
        fail "$name: the run finished before it could be killed"
        return
    fi
    kill -9 $pid; wait $pid 2>/dev/null
    "$VOZ" train --out "$out" "$@" --resume >"$tmp/$name.2.out" 2>"$tmp/$name.2.err" ||
        { fail "$name: resume: $(cat "$tmp/$name.2.err")"; return; }
    grep -q 'resuming from' "$tmp/$name.2.err" || fail "$name: the resumed run did not start from the checkpoint"
    crc=$(crc_of "$tmp/$name.2.out")
    [ -n "$ref" ] && [ "$ref" = "$crc" ] &&
        ok "$name: killed and resumed run ends with the same weights ($crc) — $(grep -o 'resuming.*' "$tmp/$name.2.err")" ||
        fail "$name: weights differ: uninterrupted $ref, resumed '$crc'"
}
kill_and_resume b "$crc_a" "${SHORT[@]}"
# Resuming the finished run changes nothing and says so (new --meta values included).
sum=$(cksum <"$tmp/b.voz")
"$VOZ" train --out "$tmp/b.voz" "${SHORT[@]}" --resume --meta note=late >/dev/null 2>"$tmp/b2f.err"
rc=$?
[ $rc -eq 0 ] && [ "$(cksum <"$tmp/b.voz")" = "$sum" ] &&
    grep -q "training already finished (6 epochs): .*b.voz is left as it is, without the new --meta values" "$tmp/b2f.err" &&
    ok "finished run resumed: $(grep -o 'training already.*' "$tmp/b2f.err")" ||
    fail "finished run resumed: exit $rc, '$(cat "$tmp/b2f.err")'"
b=$tmp/b.voz
# A resumed run whose options changed is refused (a usage error), naming the option.
"$VOZ" train --out "$b" "${SHORT[@]}" --lr 0.01 --resume >/dev/null 2>"$tmp/b3.err"
rc=$?
if [ $rc -eq 0 ]; then
    fail "resume with another --lr was accepted"
else
    [ $rc -eq 2 ] && grep -q "option 'lr' differs.*was 'lr=0.001', now 'lr=0.01'" "$tmp/b3.err" &&
        ok "changed option refused: $(tail -n 1 "$tmp/b3.err")" ||
        fail "changed --lr on resume: exit $rc, '$(cat "$tmp/b3.err")'"
fi

# ... and refused before the feature cache is built: the refusal is the only line.
[ "$(grep -c '' "$tmp/b3.err")" -eq 1 ] && ok "changed option refused before any data work" ||
    fail "changed option refused only after: $(head -n 3 "$tmp/b3.err")"
# A run without --resume does not replace a checkpoint; a directory in its place is named.
sum=$(cksum <"$b.ckpt")
"$VOZ" train --out "$b" "${SHORT[@]}" >/dev/null 2>"$tmp/b4.err"
rc=$?
[ $rc -eq 1 ] && [ "$(cksum <"$b.ckpt")" = "$sum" ] && grep -q "b.voz.ckpt is the checkpoint of an earlier run: --resume continues it" "$tmp/b4.err" &&
    [ "$(grep -c '' "$tmp/b4.err")" -eq 1 ] && ok "existing checkpoint kept: $(cat "$tmp/b4.err")" ||
    fail "train over a checkpoint without --resume: exit $rc, '$(cat "$tmp/b4.err")'"
mkdir -p "$tmp/dir.voz.ckpt"
"$VOZ" train --out "$tmp/dir.voz" "${SHORT[@]}" --resume >/dev/null 2>"$tmp/b5.err"
rc=$?
[ $rc -eq 1 ] && grep -q "dir.voz.ckpt: is a directory, not a checkpoint file" "$tmp/b5.err" &&
    ok "directory as checkpoint: $(cat "$tmp/b5.err")" || fail "directory as checkpoint: exit $rc, '$(cat "$tmp/b5.err")'"
ln -s "$tmp/gone.voz.ckpt" "$tmp/dl.voz.ckpt"
"$VOZ" train --out "$tmp/dl.voz" "${SHORT[@]}" --resume >/dev/null 2>"$tmp/b6.err"
rc=$?
[ $rc -eq 1 ] && [ -L "$tmp/dl.voz.ckpt" ] && [ ! -e "$tmp/dl.voz" ] &&
    grep -q "dl.voz.ckpt: is a symbolic link to a missing file, not a checkpoint" "$tmp/b6.err" &&
    ok "dangling link as checkpoint: $(cat "$tmp/b6.err")" || fail "dangling link as checkpoint: exit $rc, '$(cat "$tmp/b6.err")'"

# One run per --out: a second run is refused while the first holds OUT.lock (both used
# to finish, the second overwriting the first's model), and the lock goes with the run.
"$VOZ" train --out "$tmp/lk.voz" "${COMMON[@]}" --epochs 50 >/dev/null 2>"$tmp/lk1.err" &
lk=$!; pids+=($lk)
for _ in $(seq 1 2000); do [ -e "$tmp/lk.voz.lock" ] && break; sleep 0.005; done
"$VOZ" train --out "$tmp/lk.voz" "${COMMON[@]}" --epochs 50 >/dev/null 2>"$tmp/lk2.err"
rc=$?
kill -TERM $lk 2>/dev/null; wait $lk 2>/dev/null
[ $rc -eq 1 ] && grep -q "another voz train is writing .*lk.voz (it holds .*lk.voz.lock)" "$tmp/lk2.err" &&
    [ ! -e "$tmp/lk.voz.lock" ] && ok "second run on one --out refused: $(cat "$tmp/lk2.err")" ||
    fail "two runs on one --out: exit $rc, '$(cat "$tmp/lk2.err")', lock $(ls "$tmp" | grep -c 'lk.voz.lock') left"

# An --out folder that does not exist: named at once, before any data work.
"$VOZ" train --out "$tmp/no/such/m.voz" "${COMMON[@]}" --epochs 1 >/dev/null 2>"$tmp/nd.err"
rc=$?
[ $rc -eq 1 ] && grep -q "no/such/m.voz: cannot write: No such file or directory" "$tmp/nd.err" &&
    [ "$(grep -c '' "$tmp/nd.err")" -eq 1 ] && ok "missing --out folder: $(cat "$tmp/nd.err")" ||
    fail "missing --out folder: exit $rc, '$(cat "$tmp/nd.err")'"

# 8 kHz data with the default --sample-rate (16000) is upsampled: said before any work.
"$VOZ" train --out "$tmp/up.voz" --train "$tmp/dev.tsv" --epochs 1 --hidden 8 --layers 1 >/dev/null 2>"$tmp/up.err"
rc=$?
[ $rc -eq 0 ] && grep -q "is 8000 Hz audio, upsampled to the model's --sample-rate 16000: .* --sample-rate 8000 matches the data" "$tmp/up.err" &&
    [ "$(grep -n 'upsampled' "$tmp/up.err" | cut -d: -f1)" = 1 ] && ok "upsampled training data warned about first" ||
    fail "upsampling warning: exit $rc, '$(head -n 2 "$tmp/up.err")'"

# ---- 1b. --out naming an input is refused before anything is written; stale temporaries
# of a killed run (PATH.tmp.PID of a dead PID) are swept at the start.
cp "$tmp/compose.tsv" "$tmp/in.tsv"; sum=$(cksum <"$tmp/in.tsv")
"$VOZ" train --out "$tmp/in.tsv" --compose "$tmp/in.tsv" --sample-rate 8000 --epochs 1 >/dev/null 2>"$tmp/o.err"
rc=$?
[ $rc -ne 0 ] && [ "$(cksum <"$tmp/in.tsv")" = "$sum" ] && grep -q "would be overwritten: it is the input" "$tmp/o.err" &&
    ok "--out naming the manifest refused: $(tail -n 1 "$tmp/o.err")" || fail "--out = manifest: exit $rc, $(cat "$tmp/o.err")"
true & dead=$!; wait $dead
touch "$tmp/sw.voz.ckpt.tmp.$dead" "$tmp/sw.voz.log.csv.tmp.$dead" "$tmp/sw.voz.tmp.$dead"
"$VOZ" train --out "$tmp/sw.voz" "${COMMON[@]}" --epochs 1 >/dev/null 2>&1 || fail "sweep run failed"
left=$(ls "$tmp" | grep -c "^sw\.voz.*\.tmp\.")
[ "$left" -eq 0 ] && ok "temporaries of a dead writer swept at the start" || fail "$left stale temporaries left: $(ls "$tmp" | grep '\.tmp\.')"

# ---- 2a. dropout: changes training, and a killed and resumed run still ends bit-exact
# (the masks are drawn from the seed, epoch and batch, not from a running generator).
DROP=("${SHORT[@]}" --dropout 0.3)
"$VOZ" train --out "$tmp/d.voz" "${DROP[@]}" >"$tmp/d.out" 2>"$tmp/d.err" || fail "dropout run: $(cat "$tmp/d.err")"
crc_d=$(crc_of "$tmp/d.out")
[ -n "$crc_d" ] && [ "$crc_d" != "$crc_a" ] && ok "--dropout 0.3 changes the weights ($crc_d vs $crc_a)" ||
    fail "--dropout 0.3 gave weights '$crc_d', the same as without dropout ($crc_a)"
kill_and_resume e "$crc_d" "${DROP[@]}"
e=$tmp/e.voz
"$VOZ" train --out "$e" "${SHORT[@]}" --resume >/dev/null 2>"$tmp/e3.err"
[ $? -eq 2 ] && grep -q "option 'dropout' differs from the checkpoint (was 'dropout=0.3[0-9]*', now not set)" "$tmp/e3.err" &&
    ok "resume without the --dropout of the checkpoint is refused" ||
    fail "resume without --dropout: '$(cat "$tmp/e3.err")'"
# ... and adding --dropout to a checkpoint written without it too (the key is then new).
"$VOZ" train --out "$tmp/a.voz" "${SHORT[@]}" --dropout 0.1 --resume >/dev/null 2>"$tmp/e4.err"
[ $? -eq 2 ] && grep -q "option 'dropout' differs from the checkpoint (was not set, now 'dropout=0.1[0-9]*')" "$tmp/e4.err" &&
    ok "resume adding --dropout is refused" || fail "resume adding --dropout: '$(cat "$tmp/e4.err")'"

# ---- 2b. SIGTERM and SIGHUP stop like Ctrl-C: checkpoint, exit 1, --resume ends with the
# same weights as the uninterrupted run. Stopped inside epoch 1 without a dev set, no
# model exists yet: --out must not be written. A changed --threads on resume warns.
for sig in TERM HUP; do
    g=$tmp/sig_$sig.voz
    "$VOZ" train --out "$g" "${SHORT[@]}" --checkpoint-every 0 >"$tmp/g1.out" 2>"$tmp/g1.err" &
    pid=$!; pids+=($pid)
    for _ in $(seq 1 2000); do [ -e "$g.ckpt" ] && break; sleep 0.005; done
    kill -$sig $pid 2>/dev/null; wait $pid; rc=$?
    if [ $rc -ne 1 ] || ! grep -q 'continue with --resume' "$tmp/g1.out" "$tmp/g1.err"; then
        fail "SIG$sig: exit $rc, '$(cat "$tmp/g1.out") $(tail -n 2 "$tmp/g1.err")'"
        continue
    fi
    e1=$(grep -o 'stopped at epoch [0-9]*' "$tmp/g1.err")
    if [ "$e1" = "stopped at epoch 1" ] && [ -e "$g" ]; then
        fail "SIG$sig inside epoch 1 left $g behind: $(cat "$tmp/g1.out")"
    fi
    "$VOZ" train --out "$g" "${SHORT[@]}" --resume >"$tmp/g2.out" 2>"$tmp/g2.err" || fail "SIG$sig resume: $(cat "$tmp/g2.err")"
    crc_g=$(crc_of "$tmp/g2.out")
    [ -n "$crc_a" ] && [ "$crc_a" = "$crc_g" ] && ok "SIG$sig ($e1), resumed: same weights ($crc_g)" ||
        fail "SIG$sig then --resume: weights $crc_g, uninterrupted $crc_a"
done
"$VOZ" train --out "$tmp/h.voz" "${SHORT[@]}" --max-minutes 0.000001 >"$tmp/h1.out" 2>/dev/null
[ $? -eq 0 ] && [ ! -e "$tmp/h.voz" ] && grep -q 'not written' "$tmp/h1.out" &&
    ok "--max-minutes inside epoch 1: exit 0, '$(cat "$tmp/h1.out")'" ||
    fail "--max-minutes inside epoch 1: $(cat "$tmp/h1.out"), model $(ls "$tmp"/h.voz 2>&1)"
# With a dev set too: half of epoch 1 is not a model, whatever its dev WER.
"$VOZ" train --out "$tmp/hd.voz" "${SHORT[@]}" --dev "$tmp/dev.tsv" --max-minutes 0.000001 >"$tmp/hd.out" 2>/dev/null
[ $? -eq 0 ] && [ ! -e "$tmp/hd.voz" ] && ok "--max-minutes inside epoch 1 with --dev: no model" ||
    fail "--max-minutes inside epoch 1 with --dev: $(cat "$tmp/hd.out"), model $(ls "$tmp"/hd.voz 2>&1)"
"$VOZ" train --out "$tmp/h.voz" "${SHORT[@]}" --threads 2 --resume >/dev/null 2>"$tmp/h2.err"
rc=$?
[ $rc -eq 0 ] && grep -q "warning: .*threads=2 differs from the checkpoint's threads=1" "$tmp/h2.err" &&
    ok "changed --threads on resume warns: $(grep -o 'threads=2 differs.*training continues' "$tmp/h2.err")" ||
    fail "changed --threads on resume: exit $rc, '$(cat "$tmp/h2.err")'"

# ---- 3. kill -9 during a checkpoint write: the previous checkpoint stays loadable ----
# VOZ_FAULT_KILL_IN_WRITE (common/util.c) cuts the temporary file of the 2nd checkpoint
# write to half and kills the process with SIGKILL before the rename: a deterministic
# crash in the middle of the write.
c=$tmp/c.voz
CK=("${COMMON[@]}" --epochs 3 --checkpoint-every 0)
VOZ_FAULT_KILL_IN_WRITE=".ckpt:2" "$VOZ" train --out "$c" "${CK[@]}" >/dev/null 2>"$tmp/c.err"
rc=$?
if [ $rc -ne 137 ]; then
    fail "fault injection did not kill the run (exit $rc): $(tail -n 1 "$tmp/c.err")"
elif ! ls "$c".ckpt.tmp.* >/dev/null 2>&1; then
    fail "no half-written temporary checkpoint was left by the kill"
elif [ ! -e "$c.ckpt" ]; then
    fail "the first checkpoint is missing after a kill inside the second write"
else
    # Loadable: a resume reads it, trains one batch and stops.
    "$VOZ" train --out "$c" "${CK[@]}" --resume --max-minutes 0.000001 >/dev/null 2>"$tmp/c2.err" &&
        grep -q 'resuming from' "$tmp/c2.err" &&
        ok "kill -9 inside a checkpoint write: the previous checkpoint stayed loadable ($(grep -o 'resuming.*' "$tmp/c2.err"))" ||
        fail "checkpoint unreadable after kill -9 inside its write: $(tail -n 1 "$tmp/c2.err")"
fi
rm -f "$c".ckpt.tmp.*

# ---- 4. --out in a full place fails with a message and keeps the old file -----------
mkdir -p "$tmp/full"
cp "$tmp/a.voz" "$tmp/full/x.voz"
( trap '' XFSZ; ulimit -f 16; exec "$VOZ" train --out "$tmp/full/x.voz" "${SHORT[@]}" --epochs 1 ) \
    >/dev/null 2>"$tmp/full.err"
rc=$?
if [ $rc -eq 1 ] && grep -q "x.voz" "$tmp/full.err" && cmp -s "$tmp/a.voz" "$tmp/full/x.voz"; then
    ok "file-size limit: exit 1, '$(tail -n 1 "$tmp/full.err")', previous model intact"
else
    fail "full (ulimit -f): exit $rc, message '$(tail -n 1 "$tmp/full.err")', previous file $(cmp -s "$tmp/a.voz" "$tmp/full/x.voz" && echo intact || echo changed)"
fi
ls "$tmp/full" | grep -q tmp && fail "a temporary file was left in the full folder: $(ls "$tmp/full")"
# A real full file system, when mounting is allowed here.
mkdir -p "$tmp/mnt"
size=$(( $(stat -c %s "$tmp/a.voz") + 40960 ))
if mount -t tmpfs -o size=$size tmpfs "$tmp/mnt" 2>/dev/null; then
    cp "$tmp/a.voz" "$tmp/mnt/x.voz"
    "$VOZ" train --out "$tmp/mnt/x.voz" "${SHORT[@]}" --epochs 1 >/dev/null 2>"$tmp/mnt.err"
    rc=$?
    if [ $rc -eq 1 ] && cmp -s "$tmp/a.voz" "$tmp/mnt/x.voz"; then
        ok "full tmpfs: exit 1, '$(tail -n 1 "$tmp/mnt.err")', previous model intact"
    else
        fail "full tmpfs: exit $rc, '$(cat "$tmp/mnt.err")'"
    fi
    umount "$tmp/mnt"
else
    echo "skip: cannot mount a tmpfs here (not permitted)"
fi
if [ "$(id -u)" -ne 0 ]; then
    mkdir -p "$tmp/ro"; cp "$tmp/a.voz" "$tmp/ro/x.voz"; chmod 555 "$tmp/ro"
    "$VOZ" train --out "$tmp/ro/x.voz" "${SHORT[@]}" --epochs 1 >/dev/null 2>"$tmp/ro.err"
    rc=$?
    [ $rc -eq 1 ] && cmp -s "$tmp/a.voz" "$tmp/ro/x.voz" && ok "read-only folder: '$(cat "$tmp/ro.err")'" ||
        fail "read-only folder: exit $rc, '$(cat "$tmp/ro.err")'"
    chmod 755 "$tmp/ro"
else
    echo "skip: read-only folder case (root ignores permissions)"
fi

# ---- 5. an absurd learning rate: skipped batches counted, a finite model -------------
# A ReLU RNN at lr 1e6 overflows: nearly every batch is skipped and the one applied
# step leaves finite weights whose log-probabilities are not finite. No model may be
# written, the run must fail saying to lower --lr, and warn about the skipped epoch.
z=$tmp/lr_relu.voz
"$VOZ" train --out "$z" --compose "$tmp/compose.tsv" --sample-rate 8000 --cell rnn_relu --layers 1 --hidden 32 \
    --batch-size 8 --compose-count 48 --augment-variants 0 --epochs 2 --lr 1e6 >"$tmp/lr.out" 2>"$tmp/lr.err"
rc=$?
if [ $rc -eq 1 ] && [ ! -e "$z" ] && tail -n 1 "$tmp/lr.err" | grep -q 'lower --lr' &&
        grep -q 'warning: epoch 1: [0-9]* of [0-9]* batches skipped' "$tmp/lr.err"; then
    ok "lr 1e6 (rnn_relu): exit 1, '$(tail -n 1 "$tmp/lr.err")'"
    # The checkpoint still holds finite numbers and loads (the run resumes past its end).
    "$VOZ" train --out "$z" --compose "$tmp/compose.tsv" --sample-rate 8000 --cell rnn_relu --layers 1 --hidden 32 \
        --batch-size 8 --compose-count 48 --augment-variants 0 --epochs 2 --lr 1e6 --resume >/dev/null 2>"$tmp/lr2.err"
    grep -q 'resuming from' "$tmp/lr2.err" || fail "lr 1e6 checkpoint unreadable: $(cat "$tmp/lr2.err")"
else
    fail "lr 1e6 (rnn_relu): exit $rc, model $([ -e "$z" ] && echo written || echo absent), '$(cat "$tmp/lr.err")'"
fi
for cell in lstm; do
    z=$tmp/lr_$cell.voz
    if "$VOZ" train --out "$z" --compose "$tmp/compose.tsv" --sample-rate 8000 --cell $cell --layers 1 --hidden 32 \
            --batch-size 8 --compose-count 48 --augment-variants 0 --epochs 2 --lr 1e6 >"$tmp/lr.out" 2>"$tmp/lr.err"; then
        skipped=$(awk -F, 'NR > 1 {s += $8} END {print s + 0}' "$z.log.csv")
        grep -q "$skipped batches skipped" "$tmp/lr.out" || fail "summary does not report $skipped skipped batches"
        "$VOZ" info "$z" >/dev/null 2>"$tmp/lr_info.err" || fail "lr 1e6 ($cell) model unreadable: $(cat "$tmp/lr_info.err")"
        ok "lr 1e6 ($cell): $(cat "$tmp/lr.out")"
        # What the model gives must be finite too: it transcribes.
        "$VOZ" transcribe -m "$z" "$FSDD/2_nicolas_1.wav" >/dev/null 2>"$tmp/lr_tr.err" ||
            fail "lr 1e6 ($cell) model does not transcribe: $(cat "$tmp/lr_tr.err")"
    else
        fail "lr 1e6 ($cell) run failed: $(tail -n 3 "$tmp/lr.err")"
    fi
done

# ---- 6. bad input: messages name the manifest line ----------------------------------
printf 'fsdd/1_jackson_0.wav\tone\nfsdd/no_such.wav\ttwo\n' >"$tmp/bad.tsv"
"$VOZ" train --out "$tmp/bad.voz" --train "$tmp/bad.tsv" --sample-rate 8000 --epochs 1 2>"$tmp/bad.err"
rc=$?
[ $rc -eq 1 ] && grep -q "bad.tsv:2: cannot read audio" "$tmp/bad.err" && ok "missing audio: $(tail -n 1 "$tmp/bad.err")" ||
    fail "missing audio: exit $rc, '$(cat "$tmp/bad.err")'"
# A FIFO where a training clip should be: named at once, never waited on.
mkfifo "$tmp/clip.fifo"
printf 'clip.fifo\tone\n' >"$tmp/fifo.tsv"
timeout 20 "$VOZ" train --out "$tmp/bad.voz" --train "$tmp/fifo.tsv" --sample-rate 8000 --epochs 1 2>"$tmp/bad.err"
rc=$?
[ $rc -eq 1 ] && grep -q "fifo.tsv:1: cannot read audio '.*clip.fifo': is a FIFO" "$tmp/bad.err" && ok "FIFO clip: $(tail -n 1 "$tmp/bad.err")" ||
    fail "FIFO clip: exit $rc (124: blocked), '$(cat "$tmp/bad.err")'"
printf 'fsdd/1_jackson_0.wav\tone #1\n' >"$tmp/bad2.tsv"
"$VOZ" train --out "$tmp/bad.voz" --train "$tmp/bad2.tsv" --sample-rate 8000 --epochs 1 2>"$tmp/bad.err"
rc=$?
[ $rc -eq 1 ] && grep -q "bad2.tsv:1: character '#' (U+0023) is not in the model's alphabet" "$tmp/bad.err" &&
    ok "bad character: $(tail -n 1 "$tmp/bad.err")" || fail "bad character: exit $rc, '$(cat "$tmp/bad.err")'"
"$VOZ" train --out "$tmp/bad.voz" --train "$tmp/bad.tsv" --bogus 2>/dev/null
[ $? -eq 2 ] || fail "an unknown option is not a usage error"
[ -e "$tmp/bad.voz" ] && fail "a failed run left $tmp/bad.voz behind"

echo "$fails failure(s)"
[ $fails -eq 0 ]
