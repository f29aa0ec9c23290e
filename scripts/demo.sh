#!/usr/bin/env bash
# The demo (make demo): trains the three mini presets on MNIST, then computes
# their Hessian spectra, loss-landscape slices, Fourier report and
# representation probes (CKA, lesions, corruptions), and writes
# OUT/index.html with a computed findings table. Every stage reuses finished
# work (checkpoints, journals, saved results), so a second run takes seconds.
# Stage times go to OUT/timings.tsv (the first run's are kept in
# OUT/timings-first.tsv); a name starting with "· " is a part of
# the stage after it (not added to the total).
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
# The demo's training budget: two processes of one thread each, vit-mini
# on one core, resnet-mini then alternet-mini (one epoch each) on the other,
# about 7 minutes each; two single-threaded processes get about 1.7 times
# the images per second of one process on both cores (libtorch's and
# OpenBLAS's threads scale poorly on these small models). vit-mini needs
# more than one epoch: one reaches 93.7-93.8% (batch 8, two seeds); two
# epochs of a stratified 85% of the training split at batch 16 reach
# 95.8-96.2% in 85% of the time of two full epochs (96.1-96.4%, which take
# just over 8 minutes here; docs/benchmarks.md).
declare -A flags=(
  [resnet-mini]="--epochs 1"
  [alternet-mini]="--epochs 1 --batch 64 --lr 3e-3"
  [vit-mini]="--epochs 2 --batch 16 --lr 1e-3 --warmup 0.2 --fraction 0.85"
)
train_one() {
  local m=$1
  # shellcheck disable=SC2086 # the flags are words
  bin/train --model "$m" --out "$out/train/$m" --threads 1 ${flags[$m]} --resume > "$out/train/$m.log" 2>&1 ||
    { echo "demo: training $m failed; its log: $out/train/$m.log" >&2; tail -n 5 "$out/train/$m.log" >&2; return 1; }
  tail -n 1 "$out/train/$m.log"
}
ckpt_of() { printf '%s=%s' "$1" "$out/train/$1/${2:-final}.json"; } # LABEL=PATH of a model's checkpoint (final by default)
ckpts=() warmups=()
for m in "${models[@]}"; do ckpts+=("$(ckpt_of "$m")"); warmups+=("$(ckpt_of "$m" warmup)"); done
landscape_flags=(--grid -1:1:11 --images 200 --clip 10)
fourier_flags=(--images 1000 --per-image --title "vitprobe demo: Fourier analysis of the MNIST mini models")

# While vit-mini trains on one core, the other core trains resnet-mini and
# alternet-mini and then computes their landscape slices and Fourier
# results; the later stages find those in their journals and caches and
# only add vit-mini's.
early() {
  local early=("$(ckpt_of resnet-mini)" "$(ckpt_of alternet-mini)")
  bin/landscape --out "$out/landscape" --threads 1 --plots=false "${landscape_flags[@]}" "${early[@]}" > "$out/landscape-early.log" 2>&1 ||
    { echo "demo: landscape failed; its log: $out/landscape-early.log" >&2; return 1; }
  bin/fourier --out "$out/fourier" --threads 1 "${fourier_flags[@]}" "${early[@]}" > "$out/fourier-early.log" 2>&1 ||
    { echo "demo: fourier failed; its log: $out/fourier-early.log" >&2; return 1; }
}
train_all() {
  mkdir -p "$out/train"
  stage "· train vit-mini" train_one vit-mini &
  local vit=$!
  local rc=0
  stage "· train resnet-mini" train_one resnet-mini || rc=1
  stage "· train alternet-mini" train_one alternet-mini || rc=1
  [ $rc = 0 ] && { stage "· landscape and fourier of resnet-mini, alternet-mini" early || rc=1; }
  wait "$vit" || rc=1
  return $rc
}
stage "train (3 models, 2 processes)" train_all

# The Hessian spectra, two minibatches at a time (one worker of one
# thread per core), at the paper's phase and data: the end of warm-up, on
# the training augmentation (the demo trains without: the minibatches are
# then plain, and the findings say so).
stage hessian bin/hessian --out "$out/hessian" --method lanczos --batches 10 --augment "${warmups[@]}"
stage landscape bin/landscape --out "$out/landscape" --side-by-side "${landscape_flags[@]}" "${ckpts[@]}"
stage fourier bin/fourier --out "$out/fourier" "${fourier_flags[@]}" "${ckpts[@]}"

# The representation probes as two processes of one thread each: the
# corruption study (9 corruptions × 5 severities on 400 test images) on
# one core; the lesion study (2,000 images), then the CKA maps (1,000
# images) on the other, about as long (single-threaded CPU: corrupt
# ~0.19 s per image for the three minis, lesion ~34 ms per image, CKA
# ~8 ms per image). Each resumes from its journals.
rep_one() { # rep_one NAME COMMAND...: runs a probe with its log in $out/NAME.log
  local name=$1; shift
  "$@" > "$out/$name.log" 2>&1 ||
    { echo "demo: $name failed; its log: $out/$name.log" >&2; tail -n 5 "$out/$name.log" >&2; return 1; }
}
representation_all() {
  local rc=0
  rep_one corrupt bin/corrupt --out "$out/corrupt" --images 400 --threads 1 --workers 1 "${ckpts[@]}" &
  local corrupt=$!
  rep_one lesion bin/lesion --out "$out/lesion" --images 2000 --threads 1 "${ckpts[@]}" || rc=1
  rep_one cka bin/cka --out "$out/cka" --images 1000 --threads 1 "${ckpts[@]}" || rc=1
  wait "$corrupt" || rc=1
  return $rc
}
stage representation representation_all
mv "$timings.tmp" "$timings"
[ -e "$out/timings-first.tsv" ] || cp "$timings" "$out/timings-first.tsv"
bin/report --out "$out"
echo "demo: open $out/index.html"
