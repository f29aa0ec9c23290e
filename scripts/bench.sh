#!/usr/bin/env bash
# vitprobe benchmarks: the Go benchmarks of the packages and, beside them,
# the plain-PyTorch loops of reference/pytorch on the same libtorch (Debian's
# python3-torch). Go and PyTorch run interleaved (Go, PyTorch, Go, PyTorch...)
# so that their ratio survives a machine shared with other jobs; the summary
# gives medians over the repeats. `make bench` runs the set-up first; alone,
# run `bash scripts/setup.sh` once before. On a shared machine, run it under
# nice (`nice -n 5 make bench`). About 15-20 minutes on 2 idle cores (three
# repeats), the targets alone (BENCH_SECTIONS="peak trainpy hvp landscape
# profile")
# about 7, BENCH_QUICK=1 about 5, BENCH_SMOKE=1 about 2; far longer when
# other jobs share the cores, where two-threaded libtorch suffers most
# (VITPROBE_THREADS=1 runs everything on one thread; docs/benchmarks.md has
# the figures).
#
# The summary opens with the speed targets, per mini preset, each a median
# of paired runs (Go and PyTorch one after the other, same threads, same
# batch): the training step against PyTorch's (reference/pytorch/
# bench_train.py), a Hessian-vector product against a forward+backward pass
# and against PyTorch's double backward (bench_hvp.py), on libtorch's
# threads and with its batch split over one-thread workers (hvp-split),
# the products per second of the hessian command's workers, landscape points
# per second with the command's default (2 workers of 1 thread) against
# PyTorch's reload loop (bench_landscape.py), and the GFLOP/s each reaches
# (models.CountFLOPs) as a share of the machine's measured peak
# (torchx.BenchmarkPeak: OpenBLAS sgemm and oneDNN convolution).
#
# Output, in $BENCH_OUT (default bench-out/, git-ignored):
#   machine.txt   CPU, cores, memory, Go, libtorch, torch, git commit, threads
#   raw/*.txt     every command's output, each preceded by the command and the
#                 load average, followed by the load average after it
#   raw/*.json    the PyTorch scripts' results
#   summary.md    median tables (printed at the end too)
# Any failing benchmark, skipped benchmark or failing PyTorch script stops
# the run with its name, its exit status and the file holding its output.
#
# Environment:
#   BENCH_SMOKE=1        the targets only (sections peak trainpy hvp
#                        landscape profile), one repeat, a step or two each: checks
#                        that the whole chain runs (a few minutes); its
#                        figures are too short to quote
#   BENCH_QUICK=1        one repeat, fewer iterations, no memory run
#   BENCH_REPEATS=N      interleaved repeats of every Go/PyTorch pair and of
#                        the training-step benchmark (default 3; quick 1)
#   BENCH_BIG=1          also forward+backward of the paper-sized presets
#                        (resnet18/50, preact-resnet50, alternet50, vit-ti:
#                        several minutes more)
#   BENCH_SECTIONS=LIST  the sections to run, of: peak trainpy train blas
#                        models hvp landscape profile grouped lanczos hessian
#                        fourier probes data torchx torchscript rss
#                        (default all; BENCH_QUICK leaves out rss)
#   BENCH_MODELS=LIST    the mini presets (default resnet-mini vit-mini
#                        alternet-mini; the checkpoint-based sections use
#                        resnet-mini whatever this says)
#   BENCH_OUT=DIR        output folder (default bench-out); emptied first
#   BENCH_PYTHON=PATH    Python with torch (default /usr/bin/python3)
#   BENCH_NO_PYTORCH=1   Go side only
#   BENCH_PYTORCH_MALLOC=default  the PyTorch side on glibc's default malloc
#                        settings (default: vitprobe's, as the Go side runs)
#   VITPROBE_DEMO=DIR    trained checkpoints DIR/NAME/final.json (default
#                        demo-out/train when it has them, else /tmp/demo).
#                        Landscape points cost the same with any weights:
#                        without them both sides evaluate checkpoints of one
#                        training step made here (OUT/ckpt); the Lanczos
#                        comparison is skipped.
#   VITPROBE_THREADS=N   libtorch threads where "all cores" are used
#                        (default: every core); the PyTorch scripts get the
#                        same count, and OPENBLAS_NUM_THREADS too, as Go's
#                        torchx.SetThreads sets OpenBLAS's
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

quick=${BENCH_QUICK:-0}
smoke=${BENCH_SMOKE:-0}
default_sections="peak trainpy train blas models hvp landscape profile grouped lanczos hessian fourier probes data torchx torchscript rss"
if [ "$smoke" = 1 ]; then
  quick=1
  repeats=${BENCH_REPEATS:-1}
  train_steps=1 tp_steps=1 fb_steps=1 hvp_reps=2 ls_points=1 peak_calls=3 go_time=0.1s
  default_sections="peak trainpy hvp landscape profile"
elif [ "$quick" = 1 ]; then
  repeats=${BENCH_REPEATS:-1}
  train_steps=2 tp_steps=10 fb_steps=5 hvp_reps=5 ls_points=1 peak_calls=10 go_time=0.2s
else
  repeats=${BENCH_REPEATS:-3}
  train_steps=3 tp_steps=20 fb_steps=5 hvp_reps=5 ls_points=10 peak_calls=20 go_time=0.5s
fi
big_steps=2
sections=${BENCH_SECTIONS:-$default_sections}
out=${BENCH_OUT:-bench-out}
py=${BENCH_PYTHON:-/usr/bin/python3}
threads=${VITPROBE_THREADS:-$(nproc)}
read -r -a minis <<< "${BENCH_MODELS:-resnet-mini vit-mini alternet-mini}"
[ ${#minis[@]} -gt 0 ] || die "BENCH_MODELS is empty"
bigs=(resnet18 resnet50 preact-resnet50 alternet50 vit-ti)

if [ -z "${VITPROBE_DEMO:-}" ]; then
  VITPROBE_DEMO=/tmp/demo
  [ -f demo-out/train/resnet-mini/final.json ] && VITPROBE_DEMO=$root/demo-out/train
fi
export VITPROBE_DEMO

die() { printf 'bench: %s\n' "$*" >&2; exit 1; }
start=$SECONDS
say() { printf 'bench: [%02d:%02d] %s\n' $(((SECONDS - start) / 60)) $(((SECONDS - start) % 60)) "$*"; }
want() { [[ " $sections " == *" $1 "* ]]; }

case "$repeats" in '' | *[!0-9]* | 0) die "BENCH_REPEATS=$repeats is not a positive integer" ;; esac
all_sections=" peak trainpy train blas models hvp landscape profile grouped lanczos hessian fourier probes data torchx torchscript rss "
for s in $sections; do
  [[ "$all_sections" == *" $s "* ]] || die "BENCH_SECTIONS: unknown section $s (known:$all_sections)"
done
[ -f datasets/mnist/train-images-idx3-ubyte.gz ] || die "no MNIST in datasets/mnist: run bash scripts/setup.sh (or make bench)"
[ -f third_party/gotch/.vitprobe-stamp ] || die "gotch is not prepared: run bash scripts/setup.sh (or make bench)"

# The PyTorch side gets glibc malloc settings equal to those vitprobe's
# commands and benchmarks set for themselves (torchx.KeepFreedMemory and
# the one-arena start-up): without them every activation above 128 KiB is
# mmap'ed and faulted in again at every step, which on this VM made the
# PyTorch loops 1.2-9 times slower (docs/benchmarks.md). BENCH_PYTORCH_MALLOC=default
# leaves PyTorch on glibc's defaults, as a user who sets nothing runs it.
# Likewise OpenMP's wait policy: vitprobe's commands run with
# OMP_WAIT_POLICY=PASSIVE unless it is set (torchcli.PassiveOpenMP), so the
# Go benchmarks get it here, and so does PyTorch with vitprobe's settings:
# with OpenMP's default spin, both sides' vit-mini training step at batch 16
# on two threads was 3 times slower (docs/benchmarks.md).
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
case "${BENCH_PYTORCH_MALLOC:-vitprobe}" in
  vitprobe) py_env=(MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=1073741824 MALLOC_ARENA_MAX=1 OMP_WAIT_POLICY="$OMP_WAIT_POLICY") ;;
  default) py_env=(-u OMP_WAIT_POLICY BENCH_PYTORCH_MALLOC=default) ;;
  *) die "BENCH_PYTORCH_MALLOC=${BENCH_PYTORCH_MALLOC}: want vitprobe or default" ;;
esac

pytorch=1
if [ "${BENCH_NO_PYTORCH:-0}" = 1 ]; then
  pytorch=0
elif ! "$py" -c 'import torch' 2>/dev/null; then
  die "$py cannot import torch: install Debian's python3-torch, set BENCH_PYTHON, or BENCH_NO_PYTORCH=1 for the Go side only"
fi

# Emptied first, so only a folder of an earlier run (or none, or an empty one).
if [ -d "$out" ] && [ -n "$(ls -A "$out")" ] && [ ! -f "$out/machine.txt" ]; then
  die "BENCH_OUT=$out exists and is not the folder of an earlier bench run; not emptying it"
fi
rm -rf "$out"
mkdir -p "$out/raw" "$out/bin"
out=$(cd "$out" && pwd)
raw=$out/raw
bin=$out/bin

# The Go side replaces OpenBLAS's SSE3 fallback for a CPU model OpenBLAS does
# not know with the kernels the instruction set allows (torchx.BLASCore);
# the PyTorch side is given the same kernels, so both run the same code.
# OPENBLAS_CORETYPE set by the caller applies to both.
if [ -z "${OPENBLAS_CORETYPE:-}" ]; then
  blas_core=$(go run ./cmd/report --version | sed -n 's/.*OpenBLAS kernels: \([A-Za-z0-9]*\).*/\1/p') ||
    die "cmd/report --version failed"
  [ -z "$blas_core" ] || export OPENBLAS_CORETYPE=$blas_core
fi

# --- the machine -------------------------------------------------------------
{
  echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo "cpu: $(sed -n '/^model name/{s/^model name[[:space:]]*: //p;q}' /proc/cpuinfo)"
  echo "cores: $(nproc)"
  echo "memory: $(awk '/^MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
  echo "os: $(sed -n 's/^PRETTY_NAME="\(.*\)"$/\1/p' /etc/os-release), kernel $(uname -r)"
  echo "go: $(go env GOVERSION)"
  echo "libtorch: $(dpkg-query -W -f='${Version}' libtorch-dev 2>/dev/null || echo unknown)"
  echo "openblas: $(dpkg-query -W -f='${Version}' libopenblas0-pthread 2>/dev/null || echo unknown), kernels ${OPENBLAS_CORETYPE:-chosen by OpenBLAS} (Go and PyTorch)"
  if [ $pytorch = 1 ]; then
    echo "torch (python): $("$py" -c 'import torch; print(torch.__version__)') ($py)"
  fi
  echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' + uncommitted changes')"
  echo "PyTorch's malloc and OpenMP settings: ${BENCH_PYTORCH_MALLOC:-vitprobe} (${py_env[*]}); Go's OMP_WAIT_POLICY=$OMP_WAIT_POLICY"
  echo "threads (all cores): $threads"
  echo "repeats: $repeats; quick: $quick; smoke: $smoke; sections: $sections"
  echo "checkpoints: $VITPROBE_DEMO"
  echo "load average at start: $(cat /proc/loadavg)"
} > "$out/machine.txt"
sed 's/^/bench: /' "$out/machine.txt"

# run NAME CMD...: appends CMD's output to raw/NAME.txt between the load
# averages; stops the whole run if CMD fails or a benchmark was skipped.
run() {
  local name=$1 f="$raw/$1.txt" rc=0
  shift
  {
    printf '$ %s\n' "$*"
    printf 'load before: %s\n' "$(cat /proc/loadavg)"
  } >> "$f"
  "$@" >> "$f" 2>&1 || rc=$?
  printf 'load after: %s\n' "$(cat /proc/loadavg)" >> "$f"
  if [ $rc != 0 ] || grep -qE '^(--- FAIL|FAIL|panic:)' "$f"; then
    tail -n 15 "$f" >&2
    die "$name failed (exit status $rc); its output: $f"
  fi
  if grep -q -- '--- SKIP' "$f"; then
    grep -A2 -- '--- SKIP' "$f" >&2
    die "$name: a benchmark skipped itself (see above); its output: $f"
  fi
}

# gotest PKG NAME ARGS...: runs the test binary of PKG in its folder. With
# -test.bench it also checks that a benchmark ran: a pattern that matches
# nothing runs none and passes.
gotest() {
  local pkg=$1 name=$2 before=0
  shift 2
  [ -f "$raw/$name.txt" ] && before=$(grep -c '^Benchmark' "$raw/$name.txt" || true)
  run "$name" env -C "$root/$pkg" "$bin/$pkg.test" "$@"
  if [[ " $* " == *" -test.bench "* ]] && [ "$(grep -c '^Benchmark' "$raw/$name.txt" || true)" -le "$before" ]; then
    die "$name: no benchmark ran (its pattern matches none); its output: $raw/$name.txt"
  fi
}

# --- build ---------------------------------------------------------------------
say "building the test binaries"
pkgs=()
{ want train || want trainpy || want blas || want profile; } && pkgs+=(train)
want models && pkgs+=(models)
{ want hvp || want landscape || want lanczos || want probes || want blas || want profile; } && pkgs+=(analysis)
want hessian && pkgs+=(hessian)
want fourier && pkgs+=(fourier)
want data && pkgs+=(data)
{ want torchx || want peak; } && pkgs+=(torchx)
for p in "${pkgs[@]}"; do
  go test -c -vet=off -o "$bin/$p.test" "./$p" || die "building the tests of ./$p failed"
done
if { want rss && [ "$quick" != 1 ]; } || want landscape; then
  go build -o "$bin/train" ./cmd/train || die "building cmd/train failed"
fi

# The demo's batches (resnet-mini 128, vit-mini 16, alternet-mini 64).
declare -A demo_batch=([resnet-mini]=128 [vit-mini]=16 [alternet-mini]=64)

# --- the machine's peaks: OpenBLAS sgemm and oneDNN convolution ----------------
# Once per repeat, the best call of each: the references of the targets'
# "share of peak".
if want peak; then
  for r in $(seq "$repeats"); do
    say "peak: sgemm 1024 and 3x3 convolution, 1 thread and $threads (repeat $r/$repeats)"
    gotest torchx peak -test.run '^$' -test.bench '^BenchmarkPeak$' -test.benchtime "${peak_calls}x"
  done
fi

# --- training step: Go vs PyTorch, same threads, same batch --------------------
if want trainpy; then
  for r in $(seq "$repeats"); do
    for m in "${minis[@]}"; do
      b=${demo_batch[$m]:-128}
      say "trainpy: $m training step, batch $b, $threads threads, Go then PyTorch, $tp_steps steps (repeat $r/$repeats)"
      VITPROBE_BENCH_MODELS=$m VITPROBE_BENCH_BATCH=$b \
        gotest train trainpy-go -test.run '^$' -test.bench "^BenchmarkTrainStep\$/^$m\$/^(threads=$threads|workers=${threads}x1)\$" -test.benchtime "${tp_steps}x"
      if [ $pytorch = 1 ]; then
        run trainpy-py env "${py_env[@]}" OPENBLAS_NUM_THREADS="$threads" "$py" reference/pytorch/bench_train.py --threads "$threads" --batch "$b" \
          --steps "$tp_steps" --out "$raw/trainpy-py-$m-$r.json" "$m"
      fi
    done
  done
fi

# --- training step: 1 thread vs all cores --------------------------------------
if want train; then
  say "train: one training step per mini preset, 1 thread and $threads ($repeats x $train_steps steps)"
  VITPROBE_BENCH_MODELS=$(IFS=,; echo "${minis[*]}") \
    gotest train train-step -test.run '^$' -test.bench '^BenchmarkTrainStep$' \
    -test.benchtime "${train_steps}x" -test.count "$repeats"
fi

# --- OpenBLAS kernels: the SSE3 fallback vs the kernels in use ---------------------
# OpenBLAS 0.3.21 does not know recent Xeon models and falls back to its SSE3
# "Prescott" kernels; torchx replaces them (torchx.BLASCore). One thread, the
# demo's batches, training step and Hessian-vector product, the two kernel
# sets alternating.
if want blas && [ -n "${OPENBLAS_CORETYPE:-}" ] && [ "$OPENBLAS_CORETYPE" != Prescott ]; then
  for r in $(seq "$repeats"); do
    for core in Prescott "$OPENBLAS_CORETYPE"; do
      say "blas: training step and HVP per mini preset, OpenBLAS kernels $core (repeat $r/$repeats)"
      for m in "${minis[@]}"; do
        b=${demo_batch[$m]:-128}
        OPENBLAS_CORETYPE=$core VITPROBE_BENCH_MODELS=$m VITPROBE_BENCH_BATCH=$b \
          gotest train "blas-train-$core" -test.run '^$' -test.bench '^BenchmarkTrainStep$/./^threads=1$' \
          -test.benchtime "$(( (640 * train_steps + b - 1) / b ))x"
      done
      OPENBLAS_CORETYPE=$core VITPROBE_THREADS=1 gotest analysis "blas-hvp-$core" -test.run '^$' -test.bench '^BenchmarkHVP$/./^hvp$' \
        -hessian.models "$(IFS=,; echo "${minis[*]}")" -test.benchtime "$((2 * hvp_reps))x"
    done
  done
fi

# --- forward + backward: Go vs PyTorch ------------------------------------------
# fwdbwd MODEL STEPS: one Go run, then (unless BENCH_NO_PYTORCH) one PyTorch run.
fwdbwd() {
  gotest models fwdbwd-go -test.run '^$' -test.bench "^BenchmarkForwardBackward\$/^$1\$" -test.benchtime "${2}x"
  if [ $pytorch = 1 ]; then
    run fwdbwd-py env "${py_env[@]}" OPENBLAS_NUM_THREADS="$threads" "$py" reference/pytorch/bench_models.py --threads "$threads" --steps "$2" "$1"
  fi
}
if want models; then
  for r in $(seq "$repeats"); do
    for m in "${minis[@]}"; do
      say "models: forward+backward $m, Go then PyTorch (repeat $r/$repeats)"
      fwdbwd "$m" "$fb_steps"
    done
  done
  if [ "${BENCH_BIG:-0}" = 1 ]; then
    for m in "${bigs[@]}"; do
      say "models: forward+backward $m, Go then PyTorch ($big_steps steps, once)"
      fwdbwd "$m" "$big_steps"
    done
  fi
fi

# --- Hessian-vector products: Go vs PyTorch ------------------------------------
if want hvp; then
  for r in $(seq "$repeats"); do
    for m in "${minis[@]}"; do
      say "hvp: $m, Go then PyTorch, median of $hvp_reps (repeat $r/$repeats)"
      gotest analysis hvp-go -test.run '^$' -test.bench "^BenchmarkHVP\$" -hessian.models "$m" -test.benchtime "${hvp_reps}x"
      if [ $pytorch = 1 ]; then
        run hvp-py env "${py_env[@]}" OPENBLAS_NUM_THREADS="$threads" "$py" reference/pytorch/bench_hvp.py --models "$m" --threads "$threads" --reps "$hvp_reps" \
          --out "$raw/hvp-py-$m-$r.json"
      fi
    done
  done
fi

# --- landscape points: Go in place vs PyTorch reload per point -----------------
if want landscape; then
  subset=$out/landscape-subset.json
  # The PyTorch loop evaluates training images 0..999 (the Go benchmark a
  # stratified 1,000): the cost of a point does not depend on which.
  printf '{"dataset": "mnist", "split": "train", "n": 1000, "indices": [%s]}\n' "$(seq -s, 0 999)" > "$subset"
  # Both sides evaluate the same weights: the demo's checkpoints, or else
  # ones of a single training step made here.
  ls_demo=$VITPROBE_DEMO
  for m in "${minis[@]}"; do
    if [ ! -f "$ls_demo/$m/final.json" ]; then
      ls_demo=$out/ckpt
      break
    fi
  done
  if [ "$ls_demo" = "$out/ckpt" ]; then
    for m in "${minis[@]}"; do
      say "landscape: no $VITPROBE_DEMO/$m/final.json; a checkpoint of one training step of $m in $ls_demo"
      run landscape-ckpt "$bin/train" --model "$m" --max-steps 1 --fraction 0.01 --test-fraction 0.01 --threads "$threads" \
        --out "$ls_demo/$m"
    done
  fi
  for r in $(seq "$repeats"); do
    for m in "${minis[@]}"; do
      ck=$ls_demo/$m/final.json
      say "landscape: $m, $ls_points points of 1,000 images, Go (2x1, 1x$threads workers x threads) then PyTorch (repeat $r/$repeats)"
      # The command's default (2 workers of 1 thread) and one worker of the
      # PyTorch side's threads.
      VITPROBE_DEMO=$ls_demo gotest analysis landscape-go -test.run '^$' \
        -test.bench "^BenchmarkLandscapePoint\$/^$m\$/^(workers=(2x1|1x$threads)|set)\$" -test.benchtime "${ls_points}x"
      if [ $pytorch = 1 ] && [ -f "$ck" ]; then
        run landscape-py env "${py_env[@]}" OPENBLAS_NUM_THREADS="$threads" "$py" reference/pytorch/bench_landscape.py --checkpoint "$ck" --subset "$subset" \
          --batch 50 --threads "$threads" --points "$ls_points" --out "$raw/landscape-py-$m-$r.json"
      elif [ $pytorch = 1 ]; then
        say "landscape: no $ck, PyTorch side skipped (make demo, or set VITPROBE_DEMO)"
      fi
    done
  done
fi

# --- grouped convolutions: would landscape points in batches pay? ----------------
# resnet-mini's convolutions, P points one after the other against one grouped
# convolution over P stacked points (reference/pytorch/bench_grouped_conv.py;
# libtorch's kernels, the PyTorch side's malloc settings), 1 thread and all.
if want grouped && [ "$pytorch" = 1 ]; then
  for t in 1 "$threads"; do
    say "grouped: resnet-mini's convolutions, P points sequential vs one grouped convolution, $t thread(s)"
    run grouped env "${py_env[@]}" "$py" reference/pytorch/bench_grouped_conv.py --threads "$t"
  done
fi

# --- profiles: where the time goes ---------------------------------------------
# libtorch's operator profiler (torchx.ProfileOps) over the training step at
# the demo's batch, and over the HVP, forward+backward and eval-mode forward
# of BenchmarkHVP's set-up: the operators by self time and the time outside
# operators, per call. The summary ends with these tables.
if want profile; then
  for m in "${minis[@]}"; do
    b=${demo_batch[$m]:-128}
    say "profile: $m training step (batch $b), HVP, forward+backward and forward, $threads threads"
    VITPROBE_BENCH_MODELS=$m VITPROBE_BENCH_BATCH=$b \
      gotest train profile-train -test.run '^$' -test.bench "^BenchmarkTrainStepProfile\$/^$m\$" -test.benchtime "${tp_steps}x"
    gotest analysis profile-hvp -test.run '^$' -test.bench '^BenchmarkHVPProfile$' -hessian.models "$m" -test.benchtime "${hvp_reps}x"
  done
fi

# --- Lanczos vs power iteration on a trained checkpoint ------------------------
if want lanczos; then
  ck=$VITPROBE_DEMO/resnet-mini/final.json
  if [ -f "$ck" ]; then
    say "lanczos: top-5 eigenvalues of 2 minibatch Hessians of $ck, Lanczos vs power iteration"
    gotest analysis lanczos -test.run '^TestLanczosVsPowerTrained$' -test.v -hessian.ckpt "$ck"
  else
    say "lanczos: no $ck, skipped (make demo, or set VITPROBE_DEMO)"
  fi
fi

# --- pure-Go and small benchmarks ------------------------------------------------
if want hessian; then
  say "hessian: Lanczos vs power iteration on dense operators (products per top-5)"
  gotest hessian hessian-top5 -test.run '^$' -test.bench '^BenchmarkTop5$' -test.benchtime 3x
fi
if want fourier; then
  say "fourier: relative log amplitude and 2-D FFTs"
  gotest fourier fourier -test.run '^$' -test.bench . -test.benchtime "$go_time"
fi
if want probes; then
  say "probes: forward, forward + probe, one noise band (100 images)"
  gotest analysis probes -test.run '^$' -test.bench '^Benchmark(Forward|MeasureFeatures|NoiseBand)$' -test.benchtime 3x
fi
if want data; then
  say "data: epoch permutation, MNIST batches"
  gotest data data -test.run '^$' -test.bench . -test.benchtime "$go_time"
fi
if want torchx; then
  say "torchx: HVP, forward+backward and set-up on the 568-parameter network"
  gotest torchx torchx-realnet -test.run '^$' -test.bench '^BenchmarkRealNet$' -test.benchtime "$go_time"
fi

if want torchscript && [ "$pytorch" = 1 ]; then
  say "torchscript: HVPs, landscape points and the Fourier pass on each mini preset and on its PyTorch twin exported as TorchScript (same weights), alternating"
  VITPROBE_PYTHON="$py" gotest analysis torchscript -test.run '^$' -test.bench '^BenchmarkTorchScriptVsPreset$' \
    -hessian.models "$(IFS=,; echo "${minis[*]}")" -test.benchtime "$((2 * hvp_reps))x" -test.count "$repeats"
fi

# --- resident memory over epochs ---------------------------------------------------
if want rss && [ "$quick" != 1 ]; then
  say "rss: resnet-mini, 6 epochs on 5% of MNIST (resident memory per epoch)"
  run rss-train "$bin/train" --model resnet-mini --fraction 0.05 --test-fraction 0.1 --epochs 6 \
    --threads "$threads" --out "$out/rss-run"
  cp "$out/rss-run/metrics.csv" "$raw/rss-metrics.csv"
fi

# --- summary -----------------------------------------------------------------------
say "summary"
go run ./scripts/benchsummary "$out" > "$out/summary.md" || die "writing the summary failed"
if [ -f "$raw/profile-train.txt" ] || [ -f "$raw/profile-hvp.txt" ]; then
  {
    printf '\n## Where the time goes (operators timed by torchx.ProfileOps, per call)\n\n'
    cat "$raw"/profile-train.txt "$raw"/profile-hvp.txt 2>/dev/null |
      awk '/^profile:/ { p = 1; sub(/^profile: /, "### "); print; next } p { print } /^\| wall/ { if (p) print ""; p = 0 }'
  } >> "$out/summary.md"
fi
if [ -f "$raw/grouped.txt" ]; then
  {
    printf '\n## Landscape points in batches: grouped convolutions (bench_grouped_conv.py; ratio > 1 means batching pays)\n\n'
    grep -E '^(threads|\|)' "$raw/grouped.txt"
  } >> "$out/summary.md"
fi
cat "$out/summary.md"
say "done: $out/summary.md"
