#!/usr/bin/env bash
# SHA-256 of a fixed set of renders of every sound (plain; a sleep fade with darkening at volume 40;
# a wake-up with brightening; an odd block size at 16-bit 44.1 kHz), to prove a change leaves every
# sample a seed renders as it was: run it before and after, and diff the two lists.
#   scripts/render-digests.sh OUTDIR      (writes the WAVs and OUTDIR/SHA256SUMS)
# The digests hold on one machine and numpy build; another CPU or FFT library may differ in the
# last bits, so they are compared before/after on the same machine, not stored.
set -euo pipefail
out="$(realpath -m "$1")"
cd "$(dirname "$0")/.."
mkdir -p "$out"
bedside=(".venv/bin/python" "-m" "bedside")
for sound in $("${bedside[@]}" sounds | awk '{print $1}'); do
  "${bedside[@]}" render "$sound" -o "$out/$sound.wav" --seconds 40 --seed 7 --bits 32 2>/dev/null &
  "${bedside[@]}" render "$sound" -o "$out/$sound-fade.wav" --seconds 70 --seed 3 --sleep-timer 1 --darken \
    --volume 40 --bits 32 2>/dev/null &
  wait
done
"${bedside[@]}" render rain -o "$out/rain-wake.wav" --wake-up 1 --brighten --seed 5 --bits 32 2>/dev/null
"${bedside[@]}" render pink -o "$out/pink-block.wav" --seconds 20 --seed 2 --block 333 --bits 16 --rate 44100 2>/dev/null
(cd "$out" && sha256sum ./*.wav > SHA256SUMS)
wc -l < "$out/SHA256SUMS"
