#!/bin/sh
# Synthesizes the demo sample: a spoken digit string from espeak-ng, as 16 kHz WAV.
set -e
out=${1:-build/sample.wav}
mkdir -p "$(dirname "$out")"
espeak-ng -v en-us -s 150 -w "$out.tmp.wav" "three one four one five nine two six" 2>/dev/null
sox -q "$out.tmp.wav" -r 16000 -b 16 "$out.tmp2.wav"
rm -f "$out.tmp.wav"
mv "$out.tmp2.wav" "$out"
