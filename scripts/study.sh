#!/usr/bin/env bash
# The study (make study): the demo's three mini presets, each trained with
# three seeds on the paper's training augmentation, measured under the
# paper's protocol, and decided pooled over the seeds (package findings,
# docs/protocol.md). Per seed, in OUT/seed-N/:
#   train/MODEL/              cmd/train: init, warmup (end of warm-up) and final checkpoints
#   hessian/                  spectra at the end of warm-up on augmented training data (the paper's protocol)
#   hessian-warmup-clean/     the same checkpoints on clean data
#   hessian-final-augmented/  end-of-training checkpoints, augmented data
#   hessian-final-clean/      end-of-training checkpoints, clean data
#   landscape/, landscape-pair-1/   two independent pairs of random directions (figures for the first)
#   fourier/                  Fourier, variance and band noise (the paper's formula), per image
#   fourier-equal-energy/     band noise at equal energy per band (a secondary analysis), per image
# then OUT/index.html, findings.json and findings.md pooled over the seeds,
# and each seed's own page. Every stage reuses finished work (checkpoints,
# journals, saved results), so an interrupted study resumes where it
# stopped and a second run takes seconds. Stage times go to OUT/timings.tsv
# (the first run's to OUT/timings-first.tsv); "· " lines are the jobs
# inside a stage.
#
# The budget (below) is designed for at most 60 minutes on the 2-vCPU
# machine of docs/benchmarks.md with nothing else running: about 19 min of
# training (the demo's per-model budgets, three seeds, two single-threaded
# processes), 13 min of Hessian spectra (20 minibatches per model and seed
# at the paper's phase and data, 8 at each of the three other combinations,
# Lanczos), 3 min of landscapes (11 × 11, 200 images, two pairs), 3 min of
# Fourier and noise (1,000 test images), under a minute of report.
#
# STUDY_TINY=1 runs the same pipeline at a toy size (2% of MNIST, 5
# minibatches per spectrum with Lanczos cut at 40 steps, 3 × 3 landscapes,
# 120 test images) in a few minutes on an idle machine, to test it end to
# end; its verdicts mean nothing.
#
# The whole script is one function called on its last line, so that bash
# has read all of it before it starts: editing the file during a run does
# not change the run.
set -euo pipefail
main() {
cd "$(dirname "$0")/.."
tiny=${STUDY_TINY:-0}
if [ "$tiny" = 1 ]; then default_out=study-tiny-out; else default_out=study-out; fi
out=${1:-$default_out}
mkdir -p "$out"
timings="$out/timings.tsv"
: > "$timings.tmp"
export VITPROBE_THREADS=1

seeds=(0 1 2)
models=(resnet-mini vit-mini alternet-mini)
# Training: the demo's per-model budgets with the paper's augmentation
# (--recipe paper: random crop, RandAugment m9 n2, mixup / CutMix, label
# smoothing; no flips for digits; AdamW, wd 0.05, clip 5), so that the
# Hessian's "augmented data" is the data each model was trained on.
declare -A train_flags=(
  [resnet-mini]="--recipe paper --epochs 1 --batch 128 --lr 2e-3 --warmup 0.25"
  [alternet-mini]="--recipe paper --epochs 1 --batch 64 --lr 3e-3 --warmup 0.25"
  [vit-mini]="--recipe paper --epochs 2 --batch 16 --lr 1e-3 --warmup 0.2 --fraction 0.85"
)
hessian_main=(--batches 20 --method lanczos)   # the paper's phase and data
hessian_other=(--batches 8 --method lanczos)   # the three other combinations
landscape_flags=(--grid -1:1:11 --images 200 --clip 10)
fourier_flags=(--images 1000 --per-image)
if [ "$tiny" = 1 ]; then
  for m in "${models[@]}"; do
    train_flags[$m]="--recipe paper --epochs 1 --batch 32 --lr 2e-3 --warmup 0.25 --fraction 0.02 --test-fraction 0.05"
  done
  hessian_main=(--batches 5 --method lanczos --max-iter 40 --tol 1e-3)
  hessian_other=(--batches 5 --method lanczos --max-iter 40 --tol 1e-3)
  landscape_flags=(--grid -1:1:3 --images 50 --clip 10)
  fourier_flags=(--images 120 --per-image --batch 60)
fi

stage() { # stage NAME COMMAND...: runs and times one stage
  local name=$1; shift
  local t0 t1
  t0=$(date +%s%N)
  echo "== study: $name"
  "$@"
  t1=$(date +%s%N)
  local ms=$(( (t1 - t0) / 1000000 ))
  printf '%s\t%d.%03d\n' "$name" $((ms / 1000)) $((ms % 1000)) >> "$timings.tmp"
}

# run_queue runs the jobs queued in the array `queue` (one string per job:
# "LABEL|LOG|COMMAND") two at a time, in queue order (longest first), and
# times each as a "· " line; it fails after all have run if any failed.
queue=()
run_queue() {
  local -A label_of=() log_of=() start_of=()
  local rc=0 running=0 job label log cmd pid st t1 ms
  reap() { # waits for one job to end and records it
    pid='' st=0
    wait -n -p pid || st=$?
    [ -n "$pid" ] || return 0
    if [ "$st" != 0 ]; then
      echo "study: ${label_of[$pid]} failed (status $st); its log: ${log_of[$pid]}" >&2
      tail -n 5 "${log_of[$pid]}" >&2 || true
      rc=1
    fi
    t1=$(date +%s%N)
    ms=$(( (t1 - ${start_of[$pid]}) / 1000000 ))
    printf '· %s\t%d.%03d\n' "${label_of[$pid]}" $((ms / 1000)) $((ms % 1000)) >> "$timings.tmp"
    running=$((running - 1))
  }
  for job in "${queue[@]}"; do
    IFS='|' read -r label log cmd <<< "$job"
    while [ "$running" -ge 2 ]; do reap; done
    bash -c "$cmd" > "$log" 2>&1 &
    pid=$!
    label_of[$pid]=$label; log_of[$pid]=$log; start_of[$pid]=$(date +%s%N)
    running=$((running + 1))
  done
  while [ "$running" -gt 0 ]; do reap; done
  queue=()
  return $rc
}

ckpt() { printf '%s=%s' "$2" "$out/seed-$1/train/$2/$3.json"; } # ckpt SEED MODEL PHASE: LABEL=PATH
ckpts() { local s=$1 p=$2 m; for m in "${models[@]}"; do printf '%s ' "$(ckpt "$s" "$m" "$p")"; done; }

stage build go build -o bin/ ./cmd/...

train_all() {
  local s m
  # Longest first: the vit-mini runs, then alternet-mini, then resnet-mini.
  for m in vit-mini alternet-mini resnet-mini; do
    for s in "${seeds[@]}"; do
      mkdir -p "$out/seed-$s/train"
      queue+=("train $m seed $s|$out/seed-$s/train/$m.log|bin/train --model $m --seed $s --out $out/seed-$s/train/$m --threads 1 ${train_flags[$m]} --resume")
    done
  done
  run_queue
}
stage "train (${#models[@]} models × ${#seeds[@]} seeds, 2 processes)" train_all

# Two processes of one thread each (run_queue), so one minibatch at a time
# in each (--workers 1).
hessian_all() {
  local s
  for s in "${seeds[@]}"; do
    local d="$out/seed-$s"
    # The Hessian's minibatches follow the training seed: the seed level
    # of the bootstrap covers both the training run and the data drawn.
    queue+=("hessian seed $s warmup augmented|$d/hessian.log|bin/hessian --out $d/hessian --seed $s --threads 1 --workers 1 --augment ${hessian_main[*]} $(ckpts "$s" warmup)")
  done
  for s in "${seeds[@]}"; do
    local d="$out/seed-$s"
    queue+=("hessian seed $s warmup clean|$d/hessian-warmup-clean.log|bin/hessian --out $d/hessian-warmup-clean --seed $s --threads 1 --workers 1 ${hessian_other[*]} $(ckpts "$s" warmup)")
    queue+=("hessian seed $s final augmented|$d/hessian-final-augmented.log|bin/hessian --out $d/hessian-final-augmented --seed $s --threads 1 --workers 1 --augment ${hessian_other[*]} $(ckpts "$s" final)")
    queue+=("hessian seed $s final clean|$d/hessian-final-clean.log|bin/hessian --out $d/hessian-final-clean --seed $s --threads 1 --workers 1 ${hessian_other[*]} $(ckpts "$s" final)")
  done
  run_queue
}
stage hessian hessian_all

landscape_all() {
  local s p
  for s in "${seeds[@]}"; do
    local d="$out/seed-$s"
    # Two independent pairs of filter-normalised random directions, the
    # same evaluation images (and their augmentation) for both; figures
    # for the first pair only.
    queue+=("landscape seed $s pair 0|$d/landscape.log|bin/landscape --out $d/landscape --side-by-side --seed $((100 * s)) --subset-seed $s --augment --threads 1 ${landscape_flags[*]} $(ckpts "$s" final)")
    queue+=("landscape seed $s pair 1|$d/landscape-pair-1.log|bin/landscape --out $d/landscape-pair-1 --plots=false --seed $((100 * s + 1)) --subset-seed $s --augment --threads 1 ${landscape_flags[*]} $(ckpts "$s" final)")
  done
  run_queue
}
stage landscape landscape_all

fourier_all() {
  local s
  for s in "${seeds[@]}"; do
    local d="$out/seed-$s"
    queue+=("fourier seed $s|$d/fourier.log|bin/fourier --out $d/fourier --threads 1 --seed $s ${fourier_flags[*]} --title 'vitprobe study, seed $s: Fourier analysis' $(ckpts "$s" final)")
    queue+=("fourier seed $s equal energy|$d/fourier-equal-energy.log|bin/fourier --out $d/fourier-equal-energy --threads 1 --seed $s ${fourier_flags[*]} --no-fourier --no-variance --equal-energy --noise 0.3 --title 'vitprobe study, seed $s: band noise at equal energy' $(ckpts "$s" final)")
  done
  run_queue
}
stage fourier fourier_all

reports_all() {
  local s
  for s in "${seeds[@]}"; do bin/report --out "$out/seed-$s" > /dev/null; done
}
stage "seed pages" reports_all
mv "$timings.tmp" "$timings"
[ -e "$out/timings-first.tsv" ] || cp "$timings" "$out/timings-first.tsv"
bin/report --out "$out"
echo "study: findings.md SHA-256 $(sha256sum "$out/findings.md" | cut -d' ' -f1) (identical for identical runs)"
echo "study: open $out/index.html"
}
main "$@"
