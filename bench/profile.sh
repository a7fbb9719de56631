#!/bin/bash
# bench/profile.sh CASE [THREADS] — where the time of one voz benchmark case goes, with
# the inputs `make bench` uses (run it once first, or this makes them). Hardware counters
# are not available in this VM (`perf stat -e instructions true` says <not supported>),
# so: a perf cpu-clock sampling profile (time, including stalls) when perf can record,
# and with PROFILE_CALLGRIND=1 a callgrind instruction profile instead (under valgrind
# OpenBLAS picks its Haswell kernels, not Zen: counts are indicative).
# CASE: mfcc bilstm_forward gru_forward ctc_loss train_step
set -euo pipefail
cd "$(dirname "$0")/.."
case=${1:?usage: bench/profile.sh CASE [THREADS]}
threads=${2:-1}
BUILD=${BENCH_BUILD:-build/bench-release}
WORK=${BENCH_WORK:-build/bench}
BIN=$BUILD/bench/bench
OUT=$WORK/profile
mkdir -p "$OUT"
make -s -f Makefile -f bench/bench.mk BUILD="$BUILD" "$BIN" >"$OUT/build.log" 2>&1 ||
    { tail -n 20 "$OUT/build.log" >&2; exit 1; }
[ -f "$WORK/inputs/shapes.txt" ] || "$BIN" gen "$WORK/inputs"

if [ "${PROFILE_CALLGRIND:-0}" = 1 ]; then
    f=$OUT/callgrind.$case
    valgrind --tool=callgrind --callgrind-out-file="$f" "$BIN" run "$case" "$threads" 1 "$WORK/inputs" >/dev/null
    callgrind_annotate "$f" | grep -E '^ *[0-9,]+ \(' | head -n 25
else
    f=$OUT/perf.$case.data
    perf record -q -e cpu-clock -F 4000 -g -o "$f" -- "$BIN" run "$case" "$threads" 5 "$WORK/inputs"
    perf report -i "$f" --no-children --stdio 2>/dev/null | grep -E '^ +[0-9]+\.[0-9]+%' | head -n 25
fi
