#!/bin/bash
# fuzz/run.sh [SECONDS] [TARGET...] — builds the libFuzzer targets (clang, ASan + UBSan)
# and runs each for SECONDS (default 60), one after the other, on one core.
#   targets: audio (frontend/audio.c), model (acoustic/model_file.c + transcription of
#            small valid models), manifest (train/manifest.c, train/text.c); default all
#   seeds:   tools/make_fuzz_seeds.py, regenerated into build/fuzz/seeds/TARGET
#   corpus:  build/fuzz/corpus/TARGET keeps what earlier runs found (not committed)
#   crashes: build/fuzz/crashes/TARGET/; copy a fixed one to fuzz/regressions/TARGET/,
#            where tests/test_hostile.c replays it under `make test`
# Exit status: 0 no target failed, 1 a target crashed or broke an invariant, 2 usage.
# Environment: FUZZ_ARGS (extra libFuzzer flags), BUILD (default build/fuzz).
set -u
cd "$(dirname "$0")/.."
secs=${1:-60}
[[ "$secs" =~ ^[0-9]+$ ]] && [ "$secs" -ge 1 ] || { echo "usage: fuzz/run.sh [SECONDS] [TARGET...]" >&2; exit 2; }
shift $(($# > 0 ? 1 : 0))
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(audio model manifest)
for t in "${targets[@]}"; do
    [ -e "fuzz/fuzz_$t.c" ] || { echo "fuzz/run.sh: no target '$t' (audio, model, manifest)" >&2; exit 2; }
done
root=$(pwd)
B=${BUILD:-build/fuzz}
mkdir -p "$B" && B=$(cd "$B" && pwd)

# clang and its runtime (libFuzzer, sanitizers) besides the library's own packages.
./tools/install-deps.sh clang libclang-rt-14-dev || exit 1
command -v clang >/dev/null || { echo "fuzz/run.sh: clang not found" >&2; exit 1; }

# The library with coverage instrumentation; the Makefile's SANITIZE=1 adds ASan + UBSan.
# (The Makefile names its targets by the BUILD given, so both must be spelled alike.)
lf=${B#"$root"/}/lf
make -s CC=clang SANITIZE=1 BUILD="$lf" CFLAGS=-fsanitize=fuzzer-no-link "$lf/libvoz.a" >/dev/null || exit 1
PKGS="sndfile soxr kissfft-float openblas portaudio-2.0"
mkdir -p "$B/bin"
for t in "${targets[@]}"; do
    bin=$B/bin/fuzz_$t
    if [ ! -x "$bin" ] || [ "$B/lf/libvoz.a" -nt "$bin" ] || [ "fuzz/fuzz_$t.c" -nt "$bin" ] || [ fuzz/fuzz.h -nt "$bin" ]; then
        # shellcheck disable=SC2046
        clang -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Iinclude -I. -O1 -g \
            -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer \
            $(pkg-config --cflags $PKGS) "fuzz/fuzz_$t.c" -o "$bin" "$B/lf/libvoz.a" \
            $(pkg-config --libs $PKGS) -lm -lpthread || exit 1
    fi
done
/usr/bin/env python3 tools/make_fuzz_seeds.py "$B/seeds" >/dev/null || exit 1

export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export OPENBLAS_NUM_THREADS=1
failed=()
for t in "${targets[@]}"; do
    corpus=$B/corpus/$t crashes=$B/crashes/$t log=$B/fuzz_$t.log
    mkdir -p "$corpus" "$crashes"
    dict=()
    [ -e "fuzz/$t.dict" ] && dict=(-dict="$root/fuzz/$t.dict")
    before=$(ls "$crashes" | wc -l) t0=$SECONDS
    # -malloc_limit_mb: an allocation sized from a lying header is a failure even when
    # the machine could satisfy it. -timeout: a hang is one too. The fuzzer runs in
    # its own folder, where -jobs mode leaves its fuzz-N.log files.
    work=$B/work_$t
    rm -rf "$work" && mkdir -p "$work"
    # Kept crash inputs, when the target has any (git keeps no empty folder).
    regress=()
    [ -d "$root/fuzz/regressions/$t" ] && regress=("$root/fuzz/regressions/$t")
    # shellcheck disable=SC2086
    (cd "$work" && exec "$B/bin/fuzz_$t" -max_total_time="$secs" -timeout=20 -rss_limit_mb=2048 \
        -malloc_limit_mb=512 -max_len=16384 -print_final_stats=1 -artifact_prefix="$crashes/" \
        "${dict[@]}" ${FUZZ_ARGS:-} "$corpus" "$B/seeds/$t" "${regress[@]}") >"$log" 2>&1
    rc=$?
    cat "$work"/fuzz-*.log >>"$log" 2>/dev/null
    after=$(ls "$crashes" | wc -l)
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1)
    if [ $rc -ne 0 ] || [ "$after" -gt "$before" ]; then
        failed+=("$t")
        echo "FAIL fuzz_$t: exit $rc after $((SECONDS - t0))s, ${execs:-?} runs, $cov; new inputs in $crashes:"
        ls -t "$crashes" | head -n 5 | sed 's/^/     /'
        grep -m 1 -A 12 -E 'ERROR: |invariant|runtime error' "$log" | sed 's/^/     /'
    else
        echo "ok   fuzz_$t: $((SECONDS - t0))s, ${execs:-?} runs, $cov, corpus $(ls "$corpus" | wc -l) files"
    fi
done
[ ${#failed[@]} -eq 0 ] || { echo "failed: ${failed[*]} (logs: $B/fuzz_*.log)"; exit 1; }
