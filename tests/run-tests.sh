#!/bin/bash
# Runs every test binary given on the command line, then every tests/e2e_*.sh script.
# A passing test prints one line; a failing one prints its whole log. The last line
# is "N passed, N failed" and the exit status is nonzero when anything failed.
# Environment: VOZ (the voz binary), BUILD (the build folder), ONLY (a name filter).
set -u
cd "$(dirname "$0")/.."
logdir="${BUILD:-build/release}/test-logs"
mkdir -p "$logdir"
export VOZ="${VOZ:-build/release/voz}" VOZ_SHARED="${VOZ_SHARED:-$(cd .. && pwd)/shared}"
pass=0; fail=0; failed=()
run_one() {
    local name=$1; shift
    local log="$logdir/$name.log" t0=$SECONDS
    if "$@" >"$log" 2>&1; then
        pass=$((pass + 1)); printf 'PASS %-28s %3ds\n' "$name" $((SECONDS - t0))
    else
        fail=$((fail + 1)); failed+=("$name")
        printf 'FAIL %-28s %3ds\n---- %s ----\n' "$name" $((SECONDS - t0)) "$log"
        tail -n 60 "$log"; echo "----"
    fi
}
for t in "$@"; do
    name=$(basename "$t")
    [ -n "${ONLY:-}" ] && [[ "$name" != *"$ONLY"* ]] && continue
    run_one "$name" "$t"
done
for s in tests/e2e_*.sh; do
    [ -e "$s" ] || continue
    name=$(basename "$s" .sh)
    [ -n "${ONLY:-}" ] && [[ "$name" != *"$ONLY"* ]] && continue
    run_one "$name" bash "$s"
done
[ "$fail" -gt 0 ] && echo "failed: ${failed[*]}"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
