#!/bin/bash
# bench/run.sh — `make bench`: voz next to PyTorch/torchaudio on the same inputs, model
# shapes and thread counts (1 and 2: torch.set_num_threads(n) and openblas_set_num_threads(n)
# for the OpenBLAS Debian's torch does its GEMMs in, on one side; on the voz
# side openblas_set_num_threads(n), then a net workspace with n threads, which by the
# library's design runs the two directions side by side and keeps OpenBLAS at one
# thread; MFCC at 2 splits the frames over 2 threads (a feature workspace of 2); CTC at
# 2 splits the batch over 2 threads). Each case runs once untimed, then REPS timed
# runs; the median is reported. Writes the table on stdout and bench/last.tsv (case
# voz reference unit speedup; speedup = reference / voz time, so above 1 means voz is
# faster; '#' lines carry the date, CPU and environment).
# Environment knobs (defaults in brackets):
#   BENCH_THREADS ["1 2"]   BENCH_CASES [all]   BENCH_QUICK=1 (fewer repetitions)
#   BENCH_BUILD [build/bench-release]   BENCH_WORK [build/bench]   BENCH_TSV [bench/last.tsv]
#   BENCH_HOUR_S [3600] length of the transcription input, seconds
#   BENCH_LIVE_S [40]   length of the live_latency input (played in real time), seconds
#   BENCH_NOBUILD=1 use the binaries already in BENCH_BUILD (harness development)
#   BENCH_QUIET_WAIT [120] seconds the harness may wait in total for other jobs to pause
set -uo pipefail
# No arguments: the knobs are environment variables. -h/--help prints the header above
# (a full run takes minutes of both cores, so nothing else starts one by accident).
case "${1:-}" in
    -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    "") ;;
    *) printf 'bench/run.sh: unknown argument %s (no arguments; see --help for the environment knobs)\n' "$1" >&2; exit 2 ;;
esac
cd "$(dirname "$0")/.."

PY=/usr/bin/python3   # Debian's interpreter, the one with torch 1.13 / torchaudio 0.13
BUILD=${BENCH_BUILD:-build/bench-release}
WORK=${BENCH_WORK:-build/bench}
TSV=${BENCH_TSV:-bench/last.tsv}
THREADS=${BENCH_THREADS:-1 2}
CASES=${BENCH_CASES:-mfcc bilstm_forward gru_forward ctc_loss train_step transcribe_1h live_latency}
HOUR_S=${BENCH_HOUR_S:-3600}
SHARED=${VOZ_SHARED:-$(cd .. && pwd)/shared}
if [ "${BENCH_QUICK:-0}" = 1 ]; then R_FAST=3 R_NET=3 R_TRAIN=2; else R_FAST=15 R_NET=7 R_TRAIN=5; fi

BIN=$BUILD/bench/bench
VOZ=$BUILD/voz
IN=$WORK/inputs
mkdir -p "$WORK" "$IN"
ROWS=$WORK/rows.tsv      # case voz reference unit speedup gflop maxdiff note
NOTES=$WORK/notes.txt
: >"$ROWS"; : >"$NOTES"
failed=0

# Median of numbers on stdin, one a line (mean of the middle two for an even count).
median() { sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
say() { printf '%s\n' "$*" >&2; }
note() { printf '%s\n' "$*" >>"$NOTES"; say "note: $*"; }
has_case() { [[ " $CASES " == *" $1 "* ]]; }

# ---- other people's load ----------------------------------------------------------------
# The machine is shared. Before each measurement the harness waits (within a total budget
# of BENCH_QUIET_WAIT seconds) for a second in which other processes use under 10% of it,
# and every row records how much of the machine others used while it was measured:
# /proc/stat busy time minus this harness's own children (bash `times`), in USER_HZ.
QUIET_BUDGET=${BENCH_QUIET_WAIT:-120}
stat_busy_idle() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6 }' /proc/stat; }
# Call `times >"$WORK/times.txt"` in the shell itself first (a $(...) subshell would
# report its own, empty, children); this reads the children's user + system time.
own_jiffies() {
    awk 'NR == 2 { s = 0; for (i = 1; i <= 2; i++) { split($i, a, "m"); sub("s", "", a[2]); s += a[1] * 60 + a[2] }
                  printf "%d", s * 100 }' "$WORK/times.txt"
}
wait_quiet() {
    local b0 i0 b1 i1 pct
    while :; do
        read -r b0 i0 < <(stat_busy_idle); sleep 1; read -r b1 i1 < <(stat_busy_idle)
        pct=$(( (b1 - b0) * 100 / ((b1 - b0) + (i1 - i0) + 1) ))
        [ "$pct" -lt 10 ] && return 0
        [ "$QUIET_BUDGET" -le 0 ] && return 0
        QUIET_BUDGET=$((QUIET_BUDGET - 1))
        [ $((QUIET_BUDGET % 15)) -eq 0 ] && say "waiting for other jobs to quieten ($pct% busy)"
    done
}
M_B=0; M_I=0; M_OWN=0
measure_begin() { wait_quiet; read -r M_B M_I < <(stat_busy_idle); times >"$WORK/times.txt"; M_OWN=$(own_jiffies); }
# Sets BUSY to others' share of the machine (% of all cpus) since measure_begin. Call it
# in the shell itself, never inside $(...).
measure_end() {
    local b i own
    read -r b i < <(stat_busy_idle); times >"$WORK/times.txt"; own=$(own_jiffies)
    BUSY=$(awk -v db=$((b - M_B)) -v di=$((i - M_I)) -v dn=$((own - M_OWN)) \
        'BEGIN { o = (db - dn) * 100 / (db + di + 1); printf "%.0f", (o < 0) ? 0 : o }')
}
others_note() { # ROW PCT: the details text, and a note when the row was contended
    [ "$2" -ge 15 ] && note "$1: other processes used $2% of the machine while it ran: treat it with care"
    printf 'others used %s%% of the machine meanwhile' "$2"
}

# ---- dependencies and the release build -------------------------------------------------
./tools/install-deps.sh python3-torch python3-torchaudio time ||
    { say "bench: cannot install the reference packages"; exit 1; }
make -s BUILD="$BUILD" deps || exit 1
say "building voz (release flags) in $BUILD"
if [ "${BENCH_NOBUILD:-0}" = 1 ]; then
    [ -x "$BIN" ] || { say "bench: BENCH_NOBUILD=1 but $BIN is missing"; exit 1; }
elif ! make -s -f Makefile -f bench/bench.mk BUILD="$BUILD" "$VOZ" "$BIN" >"$WORK/build.log" 2>&1; then
    say "bench: build failed, see $WORK/build.log:"; tail -n 20 "$WORK/build.log" >&2; exit 1
fi
"$BIN" gen "$IN" || exit 1

# ---- the machine ------------------------------------------------------------------------
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
cpu="$cpu, family $(sed -n 's/^cpu family[[:space:]]*: //p' /proc/cpuinfo | head -n 1) model $(sed -n 's/^model[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
caches=$(lscpu 2>/dev/null | awk -F: '/^L[23] cache/ { gsub(/^ +/, "", $2); printf "%s%s %s", n++ ? ", " : "", $1, $2 }')
[ -n "$caches" ] && cpu="$cpu; $caches"
torch_v=$("$PY" -c 'import torch, torchaudio; print("torch", torch.__version__, "torchaudio", torchaudio.__version__)' 2>/dev/null)
blas=$("$BIN" info | awk -F'\t' '{ sub(/ +$/, "", $2); sep = (NR > 1) ? ", " : ""; printf "%s%s %s", sep, $1, $2 }')
envs=$(env | grep -E '^(OPENBLAS|OMP|MKL|GOTO)_' | sort | tr '\n' ' ')
load=$(cut -d' ' -f1-3 /proc/loadavg)
say "cpu: $cpu, $(nproc) cpus; $torch_v; load $load"
t_harness=$SECONDS

# ---- sgemm peak -------------------------------------------------------------------------
declare -A PEAK
for t in $THREADS; do
    measure_begin
    line=$("$BIN" sgemm "$t" 5) || { failed=1; continue; }
    measure_end; busy=$BUSY
    PEAK[$t]=$(cut -f3 <<<"$line")
    printf 'sgemm_2048@%st\t%s\t-\tGFLOP/s\t-\t-\t-\tmedian of 5; best %s GFLOP/s; blas threads %s; %s\n' \
        "$t" "${PEAK[$t]}" "$(cut -f4 <<<"$line")" "$(cut -f5 <<<"$line")" "$(others_note "sgemm_2048@${t}t" "$busy")" >>"$ROWS"
done

# ---- paired cases -----------------------------------------------------------------------
# Agreement tolerances on max |voz - torch| (a benchmark of different work is worthless).
tol_for() {
    case $1 in
        mfcc) echo 2e-2 ;;              # float32 FFT/log on values up to ~100
        bilstm_forward|gru_forward) echo 1e-3 ;;
        ctc_loss) echo 2e-3 ;;        # torch accumulates alpha/beta in float32: ~1e-3 off float64
        *) echo 0 ;;
    esac
}
ref_cmd() {
    case $1 in
        mfcc) echo bench/ref_mfcc.py ;;
        ctc_loss) echo bench/ref_ctc.py ;;
        *) echo "bench/ref_nets.py $1" ;;
    esac
}
reps_for() {
    case $1 in
        mfcc|ctc_loss) echo "$R_FAST" ;;
        train_step) echo "$R_TRAIN" ;;
        *) echo "$R_NET" ;;
    esac
}

for t in $THREADS; do
    for c in mfcc bilstm_forward gru_forward ctc_loss train_step; do
        has_case "$c" || continue
        r=$(reps_for "$c")
        say "running $c@${t}t ($r repetitions each side)"
        measure_begin
        v=$("$BIN" run "$c" "$t" "$r" "$IN" 2>"$WORK/err.txt") || {
            note "$c@${t}t: voz side failed: $(tail -n 1 "$WORK/err.txt")"; failed=1; v=""; }
        rf=$(cd bench && "$PY" $(ref_cmd "$c" | sed 's|bench/||') "$t" "$r" "../$IN" 2>"../$WORK/err.txt") || {
            note "$c@${t}t: reference side failed: $(tail -n 1 "$WORK/err.txt")"; failed=1; rf=""; }
        measure_end; busy=$BUSY
        vms=$(cut -f3 <<<"$v"); rms=$(cut -f3 <<<"$rf")
        gflop=$(cut -f6 <<<"$v"); vchk=$(cut -f7 <<<"$v"); rchk=$(cut -f6 <<<"$rf"); diff=$(cut -f7 <<<"$rf")
        [ -n "$vms" ] || vms=NA
        [ -n "$rms" ] || rms=NA
        speed=$(awk -v a="$vms" -v b="$rms" 'BEGIN { if (a == "NA" || b == "NA" || a <= 0) print "NA"; else printf "%.2f", b / a }')
        # Agreement: outputs compared elementwise, or for train_step the first step's loss.
        agree="-"
        if [ "$c" = train_step ] && [ -n "$v" ] && [ -n "$rf" ]; then
            agree=$(awk -v a="$vchk" -v b="$rchk" 'BEGIN { d = a - b; if (d < 0) d = -d;
                r = d / (b < 0 ? -b : b); printf "loss %.6g vs %.6g (rel %.1e)%s", a, b, r, (r > 1e-3) ? " MISMATCH" : "" }')
        elif [ -n "$diff" ] && [ "$diff" != nan ]; then
            agree=$(awk -v d="$diff" -v tol="$(tol_for "$c")" 'BEGIN { printf "max|diff| %.2g%s", d, (d > tol) ? " MISMATCH" : "" }')
        fi
        [[ "$agree" == *MISMATCH* ]] && note "$c@${t}t: voz and torch disagree: $agree"
        printf '%s@%st\t%s\t%s\tms\t%s\t%s\t%s\t%s\n' "$c" "$t" "$vms" "$rms" "$speed" "${gflop:--}" "$agree" \
            "voz min/max $(cut -f4,5 <<<"$v" | tr '\t' /) ms (OpenBLAS threads $(cut -f8 <<<"$v")), torch min/max $(cut -f4,5 <<<"$rf" | tr '\t' /) ms (OpenBLAS threads $(cut -f8 <<<"$rf")); $(others_note "$c@${t}t" "$busy")" >>"$ROWS"
    done
done

# Each side at its best thread setting (the issue's targets are stated that way):
# case@best = the fastest voz row against the fastest torch row of the case.
for c in mfcc bilstm_forward gru_forward ctc_loss train_step; do
    awk -F'\t' -v c="$c" '$1 ~ "^" c "@[0-9]+t$" && $4 == "ms" && $2 != "NA" && $3 != "NA" {
            t = substr($1, length(c) + 2); n++
            if (!(vb) || $2 + 0 < vb + 0) { vb = $2; vt = t }
            if (!(rb) || $3 + 0 < rb + 0) { rb = $3; rt = t } }
        END { if (n > 1) printf "%s@best\t%s\t%s\tms\t%.2f\t-\t-\tvoz at %s, torch at %s\n", c, vb, rb, rb / vb, vt, rt }' \
        "$ROWS" >>"$ROWS.best"
done
[ -f "$ROWS.best" ] && cat "$ROWS.best" >>"$ROWS" && rm -f "$ROWS.best"

# ---- the model for transcribe_1h and live_latency -------------------------------------
# The default model when it has been trained (the build embeds it), else the end-to-end
# test fixture, else a random-weight stand-in of the recipe's shape (time only).
model_args=(); model_desc=""; rate=""
if has_case transcribe_1h || has_case live_latency; then
    if [ -f models/digits-en/digits-en.voz ]; then
        model_desc="default model (models/digits-en/digits-en.voz, built in)"
    elif [ -f tests/fixtures/e2e/model.voz ]; then
        model_args=(-m tests/fixtures/e2e/model.voz); model_desc="tests/fixtures/e2e/model.voz (no default model yet)"
        note "model: no default model yet, transcribe_1h and live_latency use tests/fixtures/e2e/model.voz"
    elif "$BIN" mkmodel "$WORK/standin.voz"; then
        model_args=(-m "$WORK/standin.voz")
        model_desc="STAND-IN model (recipe shape, random weights: transcripts meaningless)"
        note "model: no trained model yet, measured with a random-weight stand-in of the recipe's shape"
    fi
    if [ -z "$model_desc" ]; then
        note "model: none to run"; failed=1
    elif ! rate=$("$BIN" modelrate "${model_args[@]:1}" 2>"$WORK/err.txt"); then
        note "model: cannot load it: $(tail -n 1 "$WORK/err.txt")"; failed=1; rate=""
    fi
fi

# Makes (once) SECONDS of FSDD digit strings and pauses at the model's rate.
make_audio() {
    local secs=$1 out=$WORK/speech_${rate}Hz_${1}s.wav
    if [ ! -f "$out" ]; then
        say "making $out ($secs s of FSDD digits and pauses at $rate Hz)"
        "$BIN" mkhour "$SHARED/data/fsdd" "$rate" "$secs" "$out" >&2 || return 1
    fi
    echo "$out"
}

# ---- transcribe_1h: RTF and peak resident memory of `voz transcribe` -----------------
if has_case transcribe_1h && [ -n "$rate" ]; then
    if ! hour=$(make_audio "$HOUR_S"); then
        note "transcribe_1h: cannot make the input file"; failed=1
    else
        for t in $THREADS; do
            topt=()
            "$VOZ" transcribe --help 2>&1 | grep -q -- '--threads' && topt=(--threads "$t")
            [ "$t" != 1 ] && [ ${#topt[@]} -eq 0 ] && { note "transcribe_1h@${t}t: voz transcribe has no --threads option"; continue; }
            say "running transcribe_1h@${t}t with $model_desc"
            runs=(); rss=()
            measure_begin
            for k in 1 2 3; do
                /usr/bin/time -f '%e %M' -o "$WORK/time.txt" "$VOZ" transcribe "${model_args[@]}" "${topt[@]}" \
                    "$hour" >"$WORK/hour.out.txt" 2>"$WORK/err.txt" || {
                    note "transcribe_1h@${t}t: voz transcribe failed: $(tail -n 1 "$WORK/err.txt")"; failed=1; runs=(); break; }
                read -r el kb <"$WORK/time.txt"
                runs+=("$el"); rss+=("$kb")
                # a run over 20 s is measured once: the harness stays under 10 minutes
                awk -v e="$el" 'BEGIN { exit !(e > 20) }' && break
            done
            measure_end; busy=$BUSY
            [ ${#runs[@]} -gt 0 ] || continue
            el=$(printf '%s\n' "${runs[@]}" | median)
            kb=$(printf '%s\n' "${rss[@]}" | sort -g | tail -n 1)
            cut -f2 "$hour.ref.txt" >"$WORK/hour.ref.words"
            wer=$("$BIN" wer "$WORK/hour.ref.words" "$WORK/hour.out.txt" 2>/dev/null || echo "?")
            desc="${#runs[@]} run(s), median wall $el s for $HOUR_S s of audio; WER $wer against the spoken digits; $model_desc; $(others_note "transcribe_1h@${t}t" "$busy")"
            printf 'transcribe_1h@%st\t%s\t-\tRTF\t-\t-\t-\t%s\n' "$t" "$(awk -v e="$el" -v d="$HOUR_S" 'BEGIN { printf "%.5f", e / d }')" "$desc" >>"$ROWS"
            printf 'transcribe_1h@%st\t%s\t-\tMB\t-\t-\t-\tpeak resident set (GNU time %%M), largest of the runs\n' "$t" "$(awk -v k="$kb" 'BEGIN { printf "%.1f", k / 1024 }')" >>"$ROWS"
        done
    fi
fi

# ---- live_latency: end of speech to final line, `voz live --input FILE --realtime` ----
# The generator's clip times are the truth (FSDD clips are trimmed to their speech);
# `voz live` with VOZ_LIVE_TIMESTAMPS=1 prints, per utterance, its span and the
# capture-clock time its line was printed. Latency = printed - the true end of the last
# clip the utterance overlaps, i.e. of the speech that line finalises.
if has_case live_latency && [ -n "$rate" ]; then
    LIVE_S=${BENCH_LIVE_S:-40}
    if ! live_in=$(make_audio "$LIVE_S"); then
        note "live_latency: cannot make the input file"; failed=1
    else
        say "running live_latency@1t ($LIVE_S s in real time) with $model_desc"
        measure_begin
        if ! VOZ_LIVE_TIMESTAMPS=1 "$VOZ" live "${model_args[@]}" --input "$live_in" --realtime \
                >"$WORK/live.out.txt" 2>"$WORK/live.err.txt"; then
            note "live_latency: voz live failed: $(grep -v 'timing:' "$WORK/live.err.txt" | tail -n 1)"; failed=1
        elif ! grep -q 'timing: utterance' "$WORK/live.err.txt"; then
            note "live_latency: voz live printed no timing lines (VOZ_LIVE_TIMESTAMPS)"; failed=1
        else
            # lat: one line per printed utterance: printed - true end of the last FSDD clip
            # it overlaps (the speech it finalises), and voz's own after-endpoint time
            awk -F'\t' 'NR == FNR { cs[NR] = $1; ce[NR] = $2; n = NR; next }
                /timing: utterance/ {
                    split($0, kv, " "); st = en = se = pr = ae = ""
                    for (i in kv) { split(kv[i], p, "=");
                        if (p[1] == "start") st = p[2]; else if (p[1] == "end") en = p[2];
                        else if (p[1] == "speech_end") se = p[2];
                        else if (p[1] == "printed") pr = p[2]; else if (p[1] == "after_endpoint_ms") ae = p[2] }
                    last = 0
                    for (k = 1; k <= n; k++) if (cs[k] < en + 0 && ce[k] > st + 0) last = k
                    # an utterance the endpointer closed more than 100 ms before its last
                    # clip ends was cut inside a word: counted, not timed
                    if (last && se + 0 < ce[last] - 0.1) print "split"
                    else if (last) printf "%.1f\t%s\n", (pr - ce[last]) * 1000, ae }' \
                "$live_in.clips.tsv" "$WORK/live.err.txt" >"$WORK/live.all"
            grep -v '^split' "$WORK/live.all" >"$WORK/live.lat"
            n_split=$(grep -c '^split' "$WORK/live.all")
            measure_end; busy=$BUSY
            n_utt=$(wc -l <"$WORK/live.lat"); n_ref=$(wc -l <"$live_in.clips.tsv")
            if [ "$n_utt" -eq 0 ]; then
                note "live_latency: no printed utterance overlaps a spoken one"; failed=1
            else
                med=$(cut -f1 "$WORK/live.lat" | median)
                mx=$(cut -f1 "$WORK/live.lat" | sort -g | tail -n 1)
                ae=$(cut -f2 "$WORK/live.lat" | median)
                printf 'live_latency@1t\t%s\t-\tms\t-\t-\t-\tmedian over %s printed utterances (%s digits spoken; %s more lines cut inside a word, not timed; max %s ms); of which after the endpoint decision %s ms (the rest is the silence the endpointer waits for); %s\n' \
                    "$med" "$n_utt" "$n_ref" "$n_split" "$mx" "$ae" "$model_desc; $(others_note live_latency@1t "$busy")" >>"$ROWS"
            fi
        fi
    fi
fi

# ---- drift: the host's speed can change during a run (other virtual machines) ------------
drift=""
if [ -n "${PEAK[1]:-}" ]; then
    end_peak=$("$BIN" sgemm 1 5 | cut -f3)
    drift="sgemm@1t ${PEAK[1]} GFLOP/s at the start, $end_peak at the end"
    awk -v a="${PEAK[1]}" -v b="$end_peak" 'BEGIN { r = b / a; exit !(r < 0.9 || r > 1.1) }' &&
        note "the machine's speed drifted during the run ($drift): compare rows measured close together"
fi

# ---- output ----------------------------------------------------------------------------
tmp=$TSV.tmp.$$
{
    printf '# voz bench  %s\n' "$(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    printf '# cpu: %s (%s cpus); %s\n' "$cpu" "$(nproc)" "$(uname -sr)"
    printf '# reference: %s; torch.set_num_threads and the OpenBLAS pool torch calls = the @Nt suffix\n' "$torch_v"
    printf '# voz: %s; @Nt = openblas_set_num_threads(N) then a net workspace of N threads (the library then keeps OpenBLAS at 1 and runs the two directions on N threads; mfcc: a feature workspace of N threads, frames split in N parts; per-row OpenBLAS threads in the details)\n' "$blas"
    printf '# env: %s\n' "${envs:-no OPENBLAS_/OMP_/MKL_ variables set}"
    printf '# load average at start: %s, at end: %s; harness wall time %d s; drift check: %s\n' "$load" \
        "$(cut -d' ' -f1-3 /proc/loadavg)" $((SECONDS - t_harness)) "${drift:-not measured}"
    printf '# repetitions after one warm-up: %s (mfcc, ctc_loss), %s (forward cases), %s (train_step); the median is reported\n' \
        "$R_FAST" "$R_NET" "$R_TRAIN"
    printf '# speedup = reference time / voz time for the same work (above 1: voz is faster); @Nt = threads on both sides\n'
    sed 's/^/# note: /' "$NOTES"
    awk -F'\t' '{ printf "# detail: %s %s: %s; agreement: %s\n", $1, $4, $8, $7 }' "$ROWS"
    printf 'case\tvoz\treference\tunit\tspeedup\n'
    cut -f1-5 "$ROWS"
} >"$tmp" && mv "$tmp" "$TSV"

{
    printf '%-22s %10s %10s %-8s %8s %9s %7s  %s\n' case voz reference unit speedup GFLOP/s %peak agreement
    while IFS=$'\t' read -r c v r u s g a _; do
        t=${c##*@}; t=${t%t}
        rate="-"; pct="-"
        if [ "$u" = ms ] && [ "$g" != "-" ] && [ -n "$g" ] && [ "$v" != NA ] && awk -v g="$g" 'BEGIN { exit !(g > 0) }'; then
            rate=$(awk -v g="$g" -v ms="$v" 'BEGIN { printf "%.1f", g / (ms / 1e3) }')
            [ -n "${PEAK[$t]:-}" ] && pct=$(awk -v x="$rate" -v p="${PEAK[$t]}" 'BEGIN { printf "%.0f%%", 100 * x / p }')
        fi
        printf '%-22s %10s %10s %-8s %8s %9s %7s  %s\n' "$c" "$v" "$r" "$u" "$s" "$rate" "$pct" "$a"
    done <"$ROWS"
    echo
    while IFS=$'\t' read -r c _ _ u _ _ _ d; do
        printf '%-22s %-8s %s\n' "$c" "$u" "$d"
    done <"$ROWS"
    [ -s "$NOTES" ] && sed 's/^/note: /' "$NOTES"
    echo "written: $TSV"
}
exit $failed
