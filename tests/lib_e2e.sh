# tests/lib_e2e.sh — sourced by the end-to-end scripts that check voz on the committed
# e2e fixture: paths, a temporary folder, pass/fail counters and a runner.
# Environment: VOZ (the binary, default build/release/voz).
cd "$(dirname "$0")/.." || exit 1
VOZ=${VOZ:-build/release/voz}
FIX=tests/fixtures/e2e
MODEL=$FIX/model.voz
CLIP=$FIX/clip.wav
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0

ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; shift; for l in "$@"; do echo "     $l"; done; }

# run ARGS...: runs voz, leaves stdout in $tmp/out and $out, stderr in $err, status in $rc.
run() {
    "$VOZ" "$@" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    out=$(cat "$tmp/out")
    err=$(cat "$tmp/err")
}
