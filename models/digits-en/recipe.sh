#!/bin/bash
# models/digits-en/recipe.sh — rebuilds the digits-en model from scratch: installs what is
# missing, builds voz, synthesizes the synthetic corpus, composes the FSDD dev and test
# strings, trains with `voz train` under a time limit (MEMBERS > 1: that many networks
# side by side, joined by `voz ensemble`) and evaluates on the held-out FSDD speaker and
# the held-out synthetic voices. Fixed seeds; sized for a 2-core machine and at most 60
# minutes in total (data about 10, training --minutes, evaluation about 3).
#
#   models/digits-en/recipe.sh [--holdout SPEAKER] [--minutes M] [--work DIR] [--out FILE]
#                              [--seed N] [--threads N] [--tag NAME] [--eval-only]
#
#   --holdout   FSDD speaker kept out of training and used as the test speaker
#               (george, jackson, lucas, nicolas, yweweler), or none: all five
#               train and the test sets are their unseen takes 45-49 (default none:
#               the shipped model; the card's speaker-independent numbers come from
#               the rotations, one per speaker)
#   --minutes   training time limit of each member, voz train --max-minutes (default 45;
#               the members train at the same time)
#   --work      generated data and logs (default build/digits-data; never committed)
#   --out       where the finished model is installed (default: for the default
#               holdout models/digits-en/digits-en.voz, with its training log
#               digits-en.voz.log.csv and curve .curve.svg (an ensemble: each
#               network's, digits-en.member<j>.*); for other holdouts nowhere). Training itself writes WORK/HOLDOUT/digits-en.voz, so a
#               half-trained model never sits where `make` would embed it.
#   --tag       experiment name: work in WORK/HOLDOUT-NAME instead of WORK/HOLDOUT
#   --eval-only skip training, evaluate the existing WORK/HOLDOUT/digits-en.voz
# Environment: VOZ_SHARED (default ../shared: FSDD is read from VOZ_SHARED/data/fsdd),
# BUILD (voz build folder, default build/release), MEMBERS (networks, default 1; more are
# trained side by side with --threads / MEMBERS threads each), TRAIN_SEED (the first member's seed,
# default --seed), and the training settings below.
set -euo pipefail
cd "$(dirname "$0")/../.."

holdout=none minutes=45 work=build/digits-data out="" seed=1 threads=2 eval_only=0 tag=""
usage() { sed -n '8,26p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-2}"; }
while [ $# -gt 0 ]; do
    case $1 in
        --holdout) holdout=${2:?}; shift 2 ;;
        --minutes) minutes=${2:?}; shift 2 ;;
        --work) work=${2:?}; shift 2 ;;
        --out) out=${2:?}; shift 2 ;;
        --seed) seed=${2:?}; shift 2 ;;
        --threads) threads=${2:?}; shift 2 ;;
        --tag) tag=${2:?}; shift 2 ;;
        --eval-only) eval_only=1; shift ;;
        -h|--help) usage 0 ;;
        *) echo "recipe: unknown option '$1'" >&2; usage ;;
    esac
done
case $holdout in george|jackson|lucas|nicolas|yweweler|none) ;;
    *) echo "recipe: --holdout: expected george, jackson, lucas, nicolas, yweweler or none, found '$holdout'" >&2; exit 2 ;;
esac
speakers=$(printf '%s\n' george jackson lucas nicolas yweweler | grep -vx "$holdout" | paste -sd,)
# The shipped files: digits-en.voz (one network, embedded in voz) and, with MEMBERS=2,
# digits-en-x2.voz (the ensemble of two, a -m option).
suffix=""; [ "${MEMBERS:-1}" = 1 ] || suffix=-x$MEMBERS
[ -n "$out" ] || { [ "$holdout" = none ] && [ -z "$tag" ] && out=models/digits-en/digits-en$suffix.voz; }
BUILD=${BUILD:-build/release}
VOZ=$BUILD/voz
FSDD=${VOZ_SHARED:-$(cd .. && pwd)/shared}/data/fsdd
PY=/usr/bin/python3
hw=$work/$holdout${tag:+-$tag}        # per-holdout manifests, test sets and logs
model=$hw/digits-en.voz
mkdir -p "$hw"
t_start=$SECONDS
step() { printf '\n== %s (%ds)\n' "$*" $((SECONDS - t_start)); }

# ---- the network and training settings (chosen by measured throughput; see README.md)
# Each can be overridden from the environment for experiments (the shipped model uses
# these values).
CELL=${CELL:-lstm} LAYERS=${LAYERS:-2} HIDDEN=${HIDDEN:-128} BATCH=${BATCH:-16}
LR=${LR:-0.002} LR_DECAY=${LR_DECAY:-0.85} EPOCHS=${EPOCHS:-100}
COMPOSE_COUNT=${COMPOSE_COUNT:-3000} SPECAUG_TIME=${SPECAUG_TIME:-2:10} SPECAUG_FREQ=${SPECAUG_FREQ:-2:3}
SPECAUG_MEL=${SPECAUG_MEL:-}
SPEED=${SPEED:-0.8:1.25} VARIANTS=${VARIANTS:-6} CROP=${CROP:-} VTLP=${VTLP:-}
# The trainer's seed alone (initialisation, batch order, augmentation), leaving the
# synthetic corpus and the test strings as --seed makes them: another run to compare.
TRAIN_SEED=${TRAIN_SEED:-$seed}
# Networks of the model, trained side by side with seeds TRAIN_SEED, +1, ... and joined by
# voz ensemble when more than one (session 4 measured two: not better on average, see
# README.md; the shipped model has one).
MEMBERS=${MEMBERS:-1}
# The decoding default stored in the model: posteriors averaged over two mel-bank warps.
VTLN_ENSEMBLE=${VTLN_ENSEMBLE:-0.9,1.1}

step "dependencies"
./tools/install-deps.sh build-essential pkg-config libsndfile1-dev libsoxr-dev libkissfft-dev \
    libopenblas-dev portaudio19-dev libasound2-dev libcmocka-dev espeak-ng sox flite festival \
    festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts
[ -d "$FSDD" ] || { echo "recipe: $FSDD is missing (set VOZ_SHARED to the folder holding data/fsdd)" >&2; exit 1; }

step "build voz"
make -s -j2 BUILD="$BUILD" "$VOZ"

step "synthetic corpus"
$PY tools/synth_digits.py --out "$work/synth" --seed "$seed" --jobs 2

step "FSDD manifests and composed strings (held out: $holdout; training: $speakers)"
$PY tools/digits_manifests.py fsdd --fsdd "$FSDD" --holdout "$holdout" --dev-takes 45-49 --out "$hw"
# With no held-out speaker the test strings come from the dev takes too, but with
# another seed than the dev strings, so they are other combinations of those takes.
if [ "$holdout" = none ]; then test_speakers=$speakers test_takes=45-49 test_seed=$((seed + 1000))
    test_label="FSDD all five, unseen takes"
else test_speakers=$holdout test_takes=0-49 test_seed=$seed test_label="FSDD $holdout"; fi
$PY tools/compose_digits.py --fsdd "$FSDD" --speakers "$test_speakers" --takes $test_takes --count 300 \
    --seed "$test_seed" --out "$hw" --name "test_$holdout"
$PY tools/compose_digits.py --fsdd "$FSDD" --speakers "$speakers" --takes 45-49 --count 150 \
    --seed "$seed" --out "$hw" --name dev_fsdd
$PY tools/digits_manifests.py merge --out "$hw/dev.tsv" "$hw/dev_fsdd.tsv" "$work/synth/strings_dev.tsv"
$PY tools/digits_manifests.py merge --out "$hw/synth_heldout.tsv" "$work/synth/strings_heldout.tsv"
# The held-out voices by gender (column 4 of the meta table), paths relative to $hw.
for g in F M; do
    awk -F'\t' -v g=$g 'NR > 1 && $4 == g { print "../synth/" $1 "\t" $5 }' \
        "$work/synth/strings_heldout.meta.tsv" > "$hw/synth_heldout_$g.tsv"
done

# One network per seed, trained side by side (MEMBERS of them share the --threads),
# then joined by `voz ensemble`: the decoder averages their posteriors.
train_member() { # OUT SEED THREADS LOG
    rm -f "$1" "$1.ckpt"
    "$VOZ" train --out "$1" \
        --train "$work/synth/strings_train.tsv" --train "$hw/fsdd_words_train.tsv" \
        --compose "$hw/fsdd_words_train.tsv" --compose "$work/synth/words_train.tsv" \
        --compose-count $COMPOSE_COUNT --compose-words 1:7 --gap-ms 50:300 \
        --dev "$hw/dev.tsv" \
        --cell $CELL --layers $LAYERS --hidden $HIDDEN --batch-size $BATCH --lr $LR --lr-decay $LR_DECAY \
        --specaug-time $SPECAUG_TIME --specaug-freq $SPECAUG_FREQ ${SPECAUG_MEL:+--specaug-mel $SPECAUG_MEL} \
        --speed $SPEED --augment-variants $VARIANTS ${DROPOUT:+--dropout $DROPOUT} \
        ${CROP:+--crop $CROP} ${VTLP:+--vtlp $VTLP} \
        --epochs $EPOCHS --max-minutes "$minutes" --seed "$2" --threads "$3" \
        --sample-rate 8000 --words models/digits-en/words.txt \
        --name digits-en --meta "holdout=$holdout" --meta "vtln_ensemble=$VTLN_ENSEMBLE" \
        --meta "data=FSDD (Free Spoken Digit Dataset, CC BY-SA 4.0) speakers $speakers + synthetic espeak-ng/flite/festival" \
        >"$4" 2>&1
}
if [ $eval_only = 0 ]; then
    step "train $MEMBERS x ($CELL ${LAYERS}x$HIDDEN bidirectional), at most $minutes minutes"
    rm -f "$model"
    member_threads=$((threads / MEMBERS > 0 ? threads / MEMBERS : 1))
    pids=() members=()
    for j in $(seq 1 "$MEMBERS"); do
        mj=$hw/member$j.voz
        members+=("$mj")
        train_member "$mj" $((TRAIN_SEED + j - 1)) $member_threads "$hw/train-member$j.log" &
        pids+=($!)
    done
    # Their epoch lines as they come (each log is complete in its file).
    logs=(); for j in $(seq 1 "$MEMBERS"); do logs+=("$hw/train-member$j.log"); done
    tail -q -n +1 -F "${logs[@]}" 2>/dev/null &
    tailer=$!
    # A TERM for the recipe stops the members cleanly (each checkpoints); Ctrl-C reaches
    # them directly, as they share the terminal's process group.
    trap 'kill -TERM "${pids[@]}" $tailer 2>/dev/null; wait; exit 143' TERM
    failed=0
    for j in "${!pids[@]}"; do
        wait "${pids[$j]}" || { echo "recipe: member $((j + 1)) failed: see $hw/train-member$((j + 1)).log" >&2; failed=1; }
    done
    kill $tailer 2>/dev/null || true
    trap - TERM
    [ $failed = 0 ] || exit 1
    for mj in "${members[@]}"; do
        [ -e "$mj" ] || { echo "recipe: $mj was not written (no epoch finished: see its .log)" >&2; exit 1; }
    done
    if [ "$MEMBERS" = 1 ]; then cp "${members[0]}" "$model.tmp"; mv "$model.tmp" "$model"
    else "$VOZ" ensemble -o "$model" "${members[@]}"; fi
fi

step "evaluate $model"
results=$hw/results.txt
{
    echo "model $model (held-out speaker $holdout)"
    for set in "test_$holdout.tsv:$test_label, 1-7 digit strings" \
               "fsdd_words_heldout.tsv:$test_label, isolated digits" \
               "synth_heldout.tsv:held-out synthetic voices, strings" \
               "synth_heldout_F.tsv:held-out synthetic female voices" \
               "synth_heldout_M.tsv:held-out synthetic male voices"; do
        m=${set%%:*} label=${set#*:}
        # The model's default decoding (word-list beam over every network on the VTLN
        # ensemble), for an ensemble its first network alone on the same warps, the beam
        # without the warps, and greedy (the first network's plain analysis). The
        # ensemble is named explicitly so that --eval-only of a model without the
        # metadata measures it too.
        decs="auto:$VTLN_ENSEMBLE:0 auto:$VTLN_ENSEMBLE:1 auto:none:0 greedy:none:0"
        [ "$("$VOZ" info "$model" | grep -c '^networks: ')" != 0 ] || decs=${decs/auto:$VTLN_ENSEMBLE:1 /}
        for dec in $decs; do
            IFS=: read -r d w k <<<"$dec"
            name=$d
            [ "$w" = none ] || name="$name+vtln"
            [ "$k" = 0 ] || name="$name,m1"
            only=(); [ "$k" = 0 ] || only=(--members "$k")
            r=$("$VOZ" eval -m "$model" "$hw/$m" --decoder "$d" --vtln "$w" "${only[@]}" --threads "$threads" |
                paste -sd' ')
            printf '%-42s %-13s %s\n' "$label" "$name" "$r"
        done
    done
} | tee "$results.tmp"
mv "$results.tmp" "$results"
if [ -n "$out" ] && [ $eval_only = 0 ]; then
    step "install $out"
    mkdir -p "$(dirname "$out")"
    cp "$model" "$out.tmp" && mv "$out.tmp" "$out"
    # The training log and curve: OUT.log.csv/.curve.svg for one network; for an ensemble
    # each network's, as OUT minus .voz plus .member<j>.log.csv/.curve.svg.
    for j in $(seq 1 "$MEMBERS"); do
        for ext in .log.csv .curve.svg; do
            if [ "$MEMBERS" = 1 ]; then dst=$out$ext; else dst=${out%.voz}.member$j$ext; fi
            cp "$hw/member$j.voz$ext" "$dst.tmp" && mv "$dst.tmp" "$dst"
        done
    done
fi
step "done: results in $results"
