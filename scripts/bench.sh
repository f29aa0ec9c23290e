#!/usr/bin/env bash
# vitprobe benchmarks: the Go benchmarks of the packages and, beside them,
# the plain-PyTorch loops of reference/pytorch on the same libtorch (Debian's
# python3-torch). Go and PyTorch run interleaved (Go, PyTorch, Go, PyTorch...)
# so that their ratio survives a machine shared with other jobs; the summary
# gives medians over the repeats. `make bench` runs the set-up first; alone,
# run `bash scripts/setup.sh` once before. On a shared machine, run it under
# nice (`nice -n 5 make bench`). About 8 minutes on 2 idle cores,
# BENCH_QUICK=1 about 3; far longer when other jobs share the cores, where
# two-threaded libtorch suffers most (VITPROBE_THREADS=1 runs everything on
# one thread; docs/benchmarks.md has the figures).
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
#   BENCH_QUICK=1        one repeat, fewer iterations, no memory run
#   BENCH_REPEATS=N      interleaved repeats of every Go/PyTorch pair and of
#                        the training-step benchmark (default 2; quick 1)
#   BENCH_BIG=1          also forward+backward of the paper-sized presets
#                        (resnet18/50, preact-resnet50, alternet50, vit-ti:
#                        several minutes more)
#   BENCH_SECTIONS=LIST  the sections to run, of: train blas models hvp
#                        landscape lanczos hessian fourier probes data torchx
#                        rss
#                        (default all; BENCH_QUICK leaves out rss)
#   BENCH_MODELS=LIST    the mini presets (default resnet-mini vit-mini
#                        alternet-mini; the checkpoint-based sections use
#                        resnet-mini whatever this says)
#   BENCH_OUT=DIR        output folder (default bench-out); emptied first
#   BENCH_PYTHON=PATH    Python with torch (default /usr/bin/python3)
#   BENCH_NO_PYTORCH=1   Go side only
#   VITPROBE_DEMO=DIR    trained checkpoints DIR/NAME/final.json (default
#                        demo-out/train when it has them, else /tmp/demo).
#                        Landscape points cost the same with any weights: the
#                        Go side falls back to fresh ones, the PyTorch side
#                        and the Lanczos comparison are skipped without them.
#   VITPROBE_THREADS=N   libtorch threads where "all cores" are used
#                        (default: every core); the PyTorch scripts get the
#                        same count, and OPENBLAS_NUM_THREADS too, as Go's
#                        torchx.SetThreads sets OpenBLAS's
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

quick=${BENCH_QUICK:-0}
if [ "$quick" = 1 ]; then
  repeats=${BENCH_REPEATS:-1}
  train_steps=2 fb_steps=5 hvp_reps=5 ls_points=1 go_time=0.2s
else
  repeats=${BENCH_REPEATS:-2}
  train_steps=3 fb_steps=5 hvp_reps=5 ls_points=2 go_time=0.5s
fi
big_steps=2
sections=${BENCH_SECTIONS:-train blas models hvp landscape lanczos hessian fourier probes data torchx rss}
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
all_sections=" train blas models hvp landscape lanczos hessian fourier probes data torchx rss "
for s in $sections; do
  [[ "$all_sections" == *" $s "* ]] || die "BENCH_SECTIONS: unknown section $s (known:$all_sections)"
done
[ -f datasets/mnist/train-images-idx3-ubyte.gz ] || die "no MNIST in datasets/mnist: run bash scripts/setup.sh (or make bench)"
[ -f third_party/gotch/.vitprobe-stamp ] || die "gotch is not prepared: run bash scripts/setup.sh (or make bench)"

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
  echo "threads (all cores): $threads"
  echo "repeats: $repeats; quick: $quick; sections: $sections"
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
{ want train || want blas; } && pkgs+=(train)
want models && pkgs+=(models)
{ want hvp || want landscape || want lanczos || want probes || want blas; } && pkgs+=(analysis)
want hessian && pkgs+=(hessian)
want fourier && pkgs+=(fourier)
want data && pkgs+=(data)
want torchx && pkgs+=(torchx)
for p in "${pkgs[@]}"; do
  go test -c -vet=off -o "$bin/$p.test" "./$p" || die "building the tests of ./$p failed"
done
if want rss && [ "$quick" != 1 ]; then
  go build -o "$bin/train" ./cmd/train || die "building cmd/train failed"
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
# demo's batches (resnet-mini 128, vit-mini 16, alternet-mini 64), training
# step and Hessian-vector product, the two kernel sets alternating.
declare -A demo_batch=([resnet-mini]=128 [vit-mini]=16 [alternet-mini]=64)
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
    run fwdbwd-py env OPENBLAS_NUM_THREADS="$threads" "$py" reference/pytorch/bench_models.py --threads "$threads" --steps "$2" "$1"
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
        run hvp-py env OPENBLAS_NUM_THREADS="$threads" "$py" reference/pytorch/bench_hvp.py --models "$m" --threads "$threads" --reps "$hvp_reps" \
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
  python3 -c 'import json, sys; json.dump({"dataset": "mnist", "split": "train", "n": 1000, "indices": list(range(1000))}, open(sys.argv[1], "w"))' "$subset"
  for r in $(seq "$repeats"); do
    for m in "${minis[@]}"; do
      ck=$VITPROBE_DEMO/$m/final.json
      say "landscape: $m, $ls_points points of 1,000 images, Go (2x1, 1x$threads workers x threads) then PyTorch (repeat $r/$repeats)"
      # The command's default (2 workers of 1 thread) and one worker of the
      # PyTorch side's threads.
      gotest analysis landscape-go -test.run '^$' -test.bench "^BenchmarkLandscapePoint\$/^$m\$/^(workers=(2x1|1x$threads)|set)\$" \
        -test.benchtime "${ls_points}x"
      if [ $pytorch = 1 ] && [ -f "$ck" ]; then
        run landscape-py env OPENBLAS_NUM_THREADS="$threads" "$py" reference/pytorch/bench_landscape.py --checkpoint "$ck" --subset "$subset" \
          --batch 50 --threads "$threads" --points "$ls_points" --out "$raw/landscape-py-$m-$r.json"
      elif [ $pytorch = 1 ]; then
        say "landscape: no $ck, PyTorch side skipped (make demo, or set VITPROBE_DEMO)"
      fi
    done
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

# --- resident memory over epochs ---------------------------------------------------
if want rss && [ "$quick" != 1 ]; then
  say "rss: resnet-mini, 6 epochs on 5% of MNIST (resident memory per epoch)"
  run rss-train "$bin/train" --model resnet-mini --fraction 0.05 --test-fraction 0.1 --epochs 6 \
    --threads "$threads" --out "$out/rss-run"
  cp "$out/rss-run/metrics.csv" "$raw/rss-metrics.csv"
fi

# --- summary -----------------------------------------------------------------------
say "summary"
python3 - "$out" > "$out/summary.md" <<'PY' || die "writing the summary failed"
import glob, json, os, re, statistics, sys

out = sys.argv[1]
raw = os.path.join(out, "raw")
line_re = re.compile(r"^(Benchmark\S+?)(?:-\d+)?\s+(\d+)\s+(.*)$")


def read(name):
    p = os.path.join(raw, name + ".txt")
    return open(p).read().splitlines() if os.path.exists(p) else []


def go_results(name):
    """{benchmark name: {unit: [value per run]}} of raw/NAME.txt."""
    res = {}
    for line in read(name):
        m = line_re.match(line)
        if not m:
            continue
        f = m.group(3).split()
        d = res.setdefault(m.group(1), {})
        for v, u in zip(f[0::2], f[1::2]):
            try:
                d.setdefault(u, []).append(float(v))
            except ValueError:
                pass
    return res


PRESETS = ["resnet-mini", "vit-mini", "alternet-mini", "resnet18", "resnet50", "preact-resnet50", "alternet50", "vit-ti"]


def ordered(names):
    """The presets in vitprobe's order, unknown ones last."""
    return sorted(names, key=lambda n: (PRESETS.index(n) if n in PRESETS else len(PRESETS), n))


def run_no(path):
    """The repeat number of raw/KIND-py-MODEL-R.json."""
    return int(path.rsplit("-", 1)[1].split(".")[0])


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def loads(*names):
    ls = [l.split(": ", 1)[1] for n in names for l in read(n) if l.startswith(("load before:", "load after:"))]
    if not ls:
        return ""
    one = [float(l.split()[0]) for l in ls]
    return f"1-min load average {min(one):.2f}..{max(one):.2f} over {len(ls) // 2} command(s)"


def table(header, rows):
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for r in rows:
        print("| " + " | ".join(r) + " |")
    print()


def fmt(x, d=1):
    return "n/a" if x != x else f"{x:,.{d}f}"


print("# vitprobe bench summary\n")
print("```")
print(open(os.path.join(out, "machine.txt")).read().rstrip())
print("```\n")
print("Medians over repeats; the raw outputs (with the commands and load averages) are in raw/.\n")

r = go_results("train-step")
if r:
    print("## Training step (BenchmarkTrainStep, mini recipe batch)\n")
    rows = []
    for n in ordered({k.split("/")[1] for k in r}):
        ks = sorted(k for k in r if k.split("/")[1] == n)
        one = [k for k in ks if k.endswith("threads=1")]
        other = [k for k in ks if not k.endswith("threads=1")]
        if not one or not other:
            continue
        a, b = r[one[0]], r[other[0]]
        rows.append([n, fmt(med(a["ms/step"]), 0), fmt(med(b["ms/step"]), 0), other[0].rsplit("=", 1)[1],
                     fmt(med(a["img/s"])), fmt(med(b["img/s"])), fmt(med(a["ms/step"]) / med(b["ms/step"]), 2),
                     str(len(a["ms/step"]))])
    table(["preset", "1 thread ms/step", "all ms/step", "threads", "1 thread img/s", "all img/s", "speed-up", "runs"], rows)
    print(loads("train-step") + "\n")

fast = [os.path.basename(p)[len("blas-train-"):-4] for p in glob.glob(os.path.join(raw, "blas-train-*.txt"))]
fast = [c for c in fast if c != "Prescott"]
if fast:
    c = fast[0]
    print(f"## OpenBLAS kernels: Prescott (OpenBLAS's fallback) vs {c}, one thread\n")
    rows = []
    for kind, unit in (("train", "img/s"), ("hvp", "hvp/s")):
        a, b = go_results("blas-" + kind + "-Prescott"), go_results("blas-" + kind + "-" + c)
        for k in sorted(set(a) & set(b)):
            x, y = med(a[k].get(unit, [])), med(b[k].get(unit, []))
            rows.append([k, unit, fmt(x), fmt(y), fmt(y / x, 2), str(len(b[k].get(unit, [])))])
    table(["benchmark", "unit", "Prescott", c, "speed-up", "runs"], rows)
    print(loads("blas-train-Prescott", "blas-train-" + c, "blas-hvp-Prescott", "blas-hvp-" + c) + "\n")

g = go_results("fwdbwd-go")
pyl = {}
for line in read("fwdbwd-py"):
    m = re.match(r"^(\S+)\t([\d.]+) img/s", line)
    if m:
        pyl.setdefault(m.group(1), []).append(float(m.group(2)))
if g:
    print("## Forward + backward, batch 32 (img/s): Go vs PyTorch\n")
    rows = []
    for k, v in g.items():
        n = k.split("/")[1]
        gi, pi = v["img/s"], pyl.get(n, [])
        ratios = [a / b for a, b in zip(gi, pi)]
        rows.append([n, fmt(med(gi)), fmt(med(pi)), fmt(med(ratios), 2) if ratios else "n/a", str(len(gi))])
    table(["preset", "Go img/s", "PyTorch img/s", "Go/PyTorch (median of paired runs)", "runs"], rows)
    print(loads("fwdbwd-go", "fwdbwd-py") + "\n")

g = go_results("hvp-go")
if g:
    print("## Hessian-vector products, batch 16, eval mode (median ms per call)\n")
    py = {}
    for p in sorted(glob.glob(os.path.join(raw, "hvp-py-*.json")), key=run_no):
        for x in json.load(open(p))["results"]:
            py.setdefault(x["model"], []).append(x)
    rows = []
    for n in ordered({k.split("/")[1] for k in g}):
        def gm(part):
            return g.get(f"BenchmarkHVP/{n}/{part}", {}).get("median-ms", [])
        h, fb, su = gm("hvp"), gm("fwd+bwd"), gm("setup")
        ph = [1e3 * x["hvp_s"] for x in py.get(n, [])]
        pfb = [1e3 * x["fwd_bwd_s"] for x in py.get(n, [])]
        psu = [1e3 * x["setup_s"] for x in py.get(n, [])]
        ratios = [b / a for a, b in zip(h, ph)]
        rows.append([n, fmt(med(h)), fmt(med(ph)), fmt(1e3 / med(h), 2), fmt(1e3 / med(ph), 2) if ph else "n/a",
                     fmt(med(ratios), 2) if ratios else "n/a", fmt(med(fb)), fmt(med(pfb)), fmt(med(su)), fmt(med(psu)), str(len(h))])
    table(["preset", "Go hvp ms", "PyTorch hvp ms", "Go hvp/s", "PyTorch hvp/s", "Go speed / PyTorch", "Go fwd+bwd ms",
           "PyTorch fwd+bwd ms", "Go setup ms", "PyTorch setup ms", "runs"], rows)
    print(loads("hvp-go", "hvp-py") + "\n")

g = go_results("landscape-go")
if g:
    print("## Landscape points, 1,000 MNIST images in batches of 50\n")
    py = {}
    for p in sorted(glob.glob(os.path.join(raw, "landscape-py-*.json")), key=run_no):
        x = json.load(open(p))
        py.setdefault(x["model"], []).append(x)
    rows = []
    names = []
    for k in g:
        n = k.split("/")[1]
        if n not in names:
            names.append(n)
    configs = [c for c in ("2x1", "1x2", "1x1") if any(k.endswith("/workers=" + c) for k in g)]
    mine = [c for c in configs if c.startswith("1x")]
    for n in names:
        def gv(c, u):
            return g.get(f"BenchmarkLandscapePoint/{n}/workers={c}" if c != "set" else f"BenchmarkLandscapePoint/{n}/set", {}).get(u, [])
        p = py.get(n, [])
        pp = [x["points_per_second"] for x in p]
        row = [n]
        for c in configs:
            row.append(fmt(med(gv(c, "points/s")), 3))
        row.append(fmt(med(pp), 3) if pp else "n/a")
        for c in mine:
            ra = [x / y for x, y in zip(gv(c, "points/s"), pp)]
            row.append(fmt(med(ra), 2) if ra else "n/a")
        for c in configs:
            row.append(fmt(med(gv(c, "cpu-s/point")), 2))
        row.append(fmt(med([x["cpu_seconds_per_point"] for x in p]), 2) if p else "n/a")
        row.append(fmt(med([x / 1e6 for x in gv("set", "ns/op")]), 1))
        row.append(fmt(med([1e3 * x["median_set_seconds"] for x in p]), 1) if p else "n/a")
        row.append(str(len(gv(configs[0], "points/s"))) if configs else "0")
        rows.append(row)
    table(["preset"] + [f"Go {c} points/s" for c in configs] + ["PyTorch points/s"] + [f"Go {c} / PyTorch" for c in mine]
          + [f"Go {c} CPU s/pt" for c in configs] + ["PyTorch CPU s/pt", "Go set ms", "PyTorch set ms", "runs"], rows)
    print(loads("landscape-go", "landscape-py") + "\n")

lz = [l.strip() for l in read("lanczos") if re.search(r"products over|largest relative|batch \d+:", l)]
if lz:
    print("## Lanczos vs power iteration (TestLanczosVsPowerTrained)\n")
    print("```")
    print("\n".join(re.sub(r"^\S+\.go:\d+: ", "", l) for l in lz))
    print("```\n")

for name, title in [("hessian-top5", "Dense operators: Lanczos vs power iteration (BenchmarkTop5)"),
                    ("probes", "Probes, 100 images (BenchmarkForward, MeasureFeatures, NoiseBand)"),
                    ("fourier", "Fourier (BenchmarkRelativeLogAmplitude, FFT2)"),
                    ("data", "Data (BenchmarkEpoch, MNISTBatch)"),
                    ("torchx-realnet", "torchx: 568-parameter network (BenchmarkRealNet)")]:
    g = go_results(name)
    if not g:
        continue
    print(f"## {title}\n")
    rows = []
    for k, v in g.items():
        rows.append([k, fmt(med(v.get("ns/op", [])) / 1e6, 3)] + [f"{fmt(med(v[u]), 1)} {u}" for u in v if u not in ("ns/op", "B/op", "allocs/op")])
    width = max(len(x) for x in rows)
    table(["benchmark", "ms/op"] + ["metric"] * (width - 2), [x + [""] * (width - len(x)) for x in rows])
    print(loads(name) + "\n")

p = os.path.join(raw, "rss-metrics.csv")
if os.path.exists(p):
    import csv
    print("## Resident memory per epoch: resnet-mini, 5% of MNIST (cmd/train metrics.csv)\n")
    rows = [[x["epoch"], fmt(float(x["rss_mib"]), 0), fmt(float(x["img_per_s"]), 1), fmt(float(x["test_acc"]), 4)]
            for x in csv.DictReader(open(p))]
    table(["epoch", "RSS MiB", "img/s", "test acc"], rows)
    print(loads("rss-train") + "\n")

print(f"Load average at the end: {open('/proc/loadavg').read().strip()}")
PY
cat "$out/summary.md"
say "done: $out/summary.md"
