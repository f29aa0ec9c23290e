#!/usr/bin/env bash
# The demo (make demo): trains the three mini presets on MNIST, then computes
# their Hessian spectra, loss-landscape slices and Fourier report, and writes
# OUT/index.html with a computed findings table. Every stage reuses finished
# work (checkpoints, journals, saved results), so a second run takes seconds.
# Stage times go to OUT/timings.tsv.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-demo-out}
mkdir -p "$out"
timings="$out/timings.tsv"
: > "$timings.tmp"

stage() { # stage NAME COMMAND...: runs and times one stage
  local name=$1; shift
  local t0 t1
  t0=$(date +%s%N)
  echo "== demo: $name"
  "$@"
  t1=$(date +%s%N)
  local ms=$(( (t1 - t0) / 1000000 ))
  printf '%s\t%d.%03d\n' "$name" $((ms / 1000)) $((ms % 1000)) >> "$timings.tmp"
}

stage build go build -o bin/ ./cmd/...

models=(resnet-mini vit-mini alternet-mini)
train_one() {
  local m=$1
  bin/train --model "$m" --out "$out/train/$m" --resume
}
for m in "${models[@]}"; do
  stage "train $m" train_one "$m"
done

ckpts=()
for m in "${models[@]}"; do ckpts+=("$m=$out/train/$m/final.json"); done

stage hessian bin/hessian --out "$out/hessian" --method lanczos --batches 12 "${ckpts[@]}"
stage landscape bin/landscape --out "$out/landscape" --grid -1:1:11 --images 200 --side-by-side --clip 10 "${ckpts[@]}"
stage fourier bin/fourier --out "$out/fourier" --images 1000 --title "vitprobe demo: Fourier analysis of the MNIST mini models" "${ckpts[@]}"
mv "$timings.tmp" "$timings"
bin/report --out "$out"
echo "demo: open $out/index.html"
