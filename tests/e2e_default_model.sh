#!/bin/bash
# The shipped default model (embedded in $VOZ: no -m) on real speech: 100 isolated FSDD
# recordings, every speaker and digit, must come out at least 95% exactly right.
# The list is fixed: for each speaker and digit two of takes 45-49, which the recipe
# keeps out of training (they are its dev takes), so every file is a recording the model
# never trained on. How it does on speakers it never heard is the model card's rotations.
# Environment: VOZ (binary, default build/release/voz), VOZ_SHARED (default ../shared).
set -u
cd "$(dirname "$0")/.." || exit 1
VOZ=${VOZ:-build/release/voz}
FSDD=${VOZ_SHARED:-../shared}/data/fsdd
MODEL=models/digits-en/digits-en.voz
NEED=95

[ -e "$MODEL" ] || { echo "FAIL: $MODEL is missing (models/digits-en/recipe.sh rebuilds it)"; exit 1; }
"$VOZ" info | grep -q "digits-en" || { echo "FAIL: $VOZ has no embedded digits-en model"; exit 1; }
[ -x "$VOZ" ] || { echo "FAIL: $VOZ is not an executable voz"; exit 1; }
[ -d "$FSDD" ] || { echo "FAIL: $FSDD is missing (set VOZ_SHARED)"; exit 1; }

words=(zero one two three four five six seven eight nine)
speakers=(george jackson lucas nicolas yweweler)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Reference: FILE<TAB>word, 5 speakers x 10 digits x 2 takes.
files=()
for s in "${!speakers[@]}"; do
    for d in 0 1 2 3 4 5 6 7 8 9; do
        for k in 0 2; do
            f="$FSDD/${d}_${speakers[$s]}_$((45 + (d + s + k) % 5)).wav"
            [ -e "$f" ] || { echo "FAIL: $f is missing"; exit 1; }
            files+=("$f")
            printf '%s\t%s\n' "$f" "${words[$d]}" >> "$tmp/ref.tsv"
        done
    done
done

# Several files: voz prints FILE<TAB>transcript per line.
if ! "$VOZ" transcribe "${files[@]}" > "$tmp/hyp.tsv" 2> "$tmp/err"; then
    echo "FAIL: $VOZ transcribe exited with an error:"; cat "$tmp/err"; exit 1
fi
n=$(wc -l < "$tmp/hyp.tsv")
[ "$n" -eq "${#files[@]}" ] || { echo "FAIL: expected ${#files[@]} transcripts, found $n"; cat "$tmp/err"; exit 1; }

# The optional ensemble (two networks, models/digits-en/digits-en-x2.voz) on the same files.
X2=models/digits-en/digits-en-x2.voz
if [ -e "$X2" ]; then
    "$VOZ" transcribe -m "$X2" "${files[@]}" > "$tmp/hyp2.tsv" 2>> "$tmp/err" ||
        { echo "FAIL: $VOZ transcribe -m $X2 exited with an error:"; cat "$tmp/err"; exit 1; }
    ok2=$(awk -F'\t' 'NR == FNR { ref[$1] = $2; next } ($1 in ref) && $2 == ref[$1] { n++ } END { print n + 0 }' \
        "$tmp/ref.tsv" "$tmp/hyp2.tsv")
    echo "$X2: $ok2/${#files[@]} exactly right (need $NEED)"
    [ "$ok2" -ge $NEED ] || { echo "FAIL: $X2 got $ok2 of ${#files[@]}"; exit 1; }
fi

# Compare per file; list every miss so a failure says which speakers and digits.
awk -F'\t' -v need=$NEED '
    NR == FNR { ref[$1] = $2; next }
    { total++; if (($1 in ref) && $2 == ref[$1]) ok++; else printf "miss: %s: expected \"%s\", found \"%s\"\n", $1, ref[$1], $2 }
    END {
        printf "%d/%d exactly right (need %d)\n", ok, total, need
        exit !(total == 100 && ok >= need)
    }' "$tmp/ref.tsv" "$tmp/hyp.tsv"
