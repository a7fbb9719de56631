#!/bin/bash
# tests/e2e_tools.sh — tools/torch2voz.py, the Python side of the model format: what it
# writes voz reads, its reader refuses what voz refuses, and its writer replaces a model
# as voz's own writer does: through a fresh temporary file (never through a planted link,
# never a device or a FIFO in the model's place), following a symlink at the model's path.
# Environment: VOZ (the binary). Needs /usr/bin/python3 with numpy (python3-numpy, in
# the Makefile's package list).
source "$(dirname "$0")/lib_e2e.sh"
PY=/usr/bin/python3
T2V=tools/torch2voz.py

# ---- --set-meta copies a model with new metadata; voz loads the copy.
$PY $T2V --set-meta "$MODEL" --out "$tmp/m.voz" --meta note=copied >"$tmp/out" 2>"$tmp/err"
rc=$?
run info "$tmp/m.voz"
[ $rc -eq 0 ] && [[ "$out" == *"note: \"copied\""* ]] && ok "--set-meta copy loads in voz" ||
    bad "--set-meta copy" "exit $rc: $(cat "$tmp/err")" "$out"
run transcribe -m "$tmp/m.voz" "$CLIP"
want=$("$VOZ" transcribe -m "$MODEL" "$CLIP" 2>/dev/null)
[ $rc -eq 0 ] && [ "$out" = "$want" ] && ok "the copy transcribes as the original: '$out'" ||
    bad "copy transcribes differently" "exit $rc: '$out' vs '$want'" "$err"

# ---- the reader refuses a damaged file with one line naming it, exit 1.
head -c 200 "$MODEL" >"$tmp/trunc.voz"
$PY $T2V --dump "$tmp/trunc.voz" >/dev/null 2>"$tmp/err"
rc=$?
[ $rc -eq 1 ] && [ "$(grep -c '' "$tmp/err")" -eq 1 ] && grep -q "trunc.voz" "$tmp/err" &&
    ok "truncated model refused: $(cat "$tmp/err")" || bad "truncated model" "exit $rc" "$(cat "$tmp/err")"
$PY $T2V --set-meta "$MODEL" --out "$tmp/w.voz" --meta vtln_ensemble=0.9,bad >/dev/null 2>"$tmp/err"
rc=$?
[ $rc -eq 1 ] && [ ! -e "$tmp/w.voz" ] && grep -q "vtln_ensemble" "$tmp/err" &&
    ok "bad vtln_ensemble refused, nothing written: $(cat "$tmp/err")" ||
    bad "bad vtln_ensemble" "exit $rc" "$(cat "$tmp/err")"

# ---- safe replacement.
# A symlink at the model's path is followed, as voz's writer does: the link stays and its
# target (created if missing) is the new model; a replaced model keeps its permissions.
cp "$MODEL" "$tmp/target.voz"; chmod 600 "$tmp/target.voz"
ln -s target.voz "$tmp/link.voz"
ln -s missing.voz "$tmp/dangling.voz"
$PY $T2V --set-meta "$MODEL" --out "$tmp/link.voz" --meta note=via-link >/dev/null 2>"$tmp/err" &&
    $PY $T2V --set-meta "$MODEL" --out "$tmp/dangling.voz" >/dev/null 2>>"$tmp/err"
rc=$?
[ $rc -eq 0 ] && [ -L "$tmp/link.voz" ] && [ -L "$tmp/dangling.voz" ] && [ "$(stat -c %a "$tmp/target.voz")" = 600 ] &&
    "$VOZ" info "$tmp/target.voz" 2>/dev/null | grep -q 'note: "via-link"' && "$VOZ" info "$tmp/missing.voz" >/dev/null 2>&1 &&
    ok "symlinks followed (a dangling one's target created), mode 600 kept" ||
    bad "symlink at the path" "exit $rc, $(ls -l "$tmp" | grep -E 'link|target|missing')" "$(cat "$tmp/err")"
# A FIFO (or a device) in the model's place is refused, not written through or replaced.
mkfifo "$tmp/fifo.voz"
timeout 20 $PY $T2V --set-meta "$MODEL" --out "$tmp/fifo.voz" >/dev/null 2>"$tmp/err"
rc=$?
[ $rc -eq 1 ] && [ -p "$tmp/fifo.voz" ] && grep -q "fifo.voz: exists and is not a regular file" "$tmp/err" &&
    ok "FIFO at the path refused: $(cat "$tmp/err")" || bad "FIFO at the path" "exit $rc" "$(cat "$tmp/err")"
# A link planted at the temporary name (PATH.tmp.PID) is not written through: the
# exclusive, no-follow open fails and the link's target is untouched.
echo "victim" >"$tmp/victim"
$PY - "$MODEL" "$tmp/planted.voz" "$tmp/victim" >/dev/null 2>"$tmp/err" <<'EOF'
import os, runpy, sys
model, out, victim = sys.argv[1:4]
os.symlink(victim, f"{out}.tmp.{os.getpid()}")
sys.argv = ["torch2voz.py", "--set-meta", model, "--out", out]
try:
    runpy.run_path("tools/torch2voz.py", run_name="__main__")
except SystemExit as e:
    sys.exit(e.code)
EOF
rc=$?
[ $rc -eq 1 ] && [ "$(cat "$tmp/victim")" = victim ] && [ ! -e "$tmp/planted.voz" ] &&
    ok "planted link at the temporary name not followed: $(tail -n 1 "$tmp/err")" ||
    bad "planted temporary link" "exit $rc, victim '$(cat "$tmp/victim")'" "$(cat "$tmp/err")"
# A failed write leaves the previous model as it was, and no temporary behind.
cp "$tmp/m.voz" "$tmp/keep.voz"; sum=$(cksum <"$tmp/keep.voz")
$PY $T2V --set-meta "$tmp/trunc.voz" --out "$tmp/keep.voz" >/dev/null 2>&1
[ "$(cksum <"$tmp/keep.voz")" = "$sum" ] && ! ls "$tmp"/keep.voz.tmp.* >/dev/null 2>&1 &&
    ok "failed copy leaves the existing model intact" || bad "existing model damaged by a failed copy"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
