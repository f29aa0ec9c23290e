#!/usr/bin/env bash
# A sharded vitprobe job on a Slurm cluster: a job array of N tasks, each
# computing one shard, then a merge job that starts when every task has
# succeeded (--dependency=afterok) and writes the same outputs as one process.
#
#   scripts/slurm-submit.sh TOOL N OUT [flags] CHECKPOINT...
#   scripts/slurm-submit.sh landscape 16 runs/land-vit --grid -1:1:101 runs/vit/final.json
#   scripts/slurm-submit.sh hessian 8 runs/spectra --batches 200 --method lanczos runs/vit/final.json
#
# TOOL is `landscape` (the grid's points are split) or `hessian` (the
# minibatches are split). Run it on a login node: it submits itself twice
# (sbatch) and prints "array JOBID merge JOBID". Each array task runs
# `TOOL --out OUT --threads CPUS [flags] CHECKPOINT...` with
# SLURM_ARRAY_TASK_ID/_MIN/_COUNT in its environment, from which the command
# takes its shard (i/N) and its journal in OUT; the merge job runs
# `TOOL --merge --out OUT` (landscape also takes the flags and checkpoints
# again, to render its figures). OUT must be on a file system that every
# node sees; the tasks' logs go to OUT/slurm-*.log. A task that dies
# (preemption, time limit) is resubmitted with `sbatch --array=I` on the
# same arguments and resumes from its journal; the merge refuses to run
# while work is missing, naming it.
#
# Environment: VITPROBE_BIN (folder of the commands, default bin; build them
# with `go build -o bin/ ./cmd/...`), SBATCH_ARGS (extra sbatch flags, e.g.
# "--partition=cpu --time=04:00:00"), CPUS (per task, default 2).
#
# Tested on a real single-node Slurm 22.05 (internal/clustertest, run by
# `make test` as root). The local equivalent, tested in cmd/landscape:
#   for i in 0 1 2 3; do bin/landscape --shard $i/4 --threads 1 --out OUT ARGS & done; wait
#   bin/landscape --merge --out OUT ARGS
set -euo pipefail

bindir=${VITPROBE_BIN:-bin}

case "${1:-}" in
--task)
	# One array task: its shard comes from the Slurm environment.
	tool=$2 out=$3
	shift 3
	exec "$bindir/$tool" --threads "${SLURM_CPUS_PER_TASK:-1}" --out "$out" "$@"
	;;
--merge)
	tool=$2 out=$3
	shift 3
	case $tool in
	hessian) exec "$bindir/hessian" --merge --out "$out" ;;
	*) exec "$bindir/$tool" --merge --out "$out" "$@" ;;
	esac
	;;
esac

usage() { echo "usage: $0 landscape|hessian N OUT [flags] CHECKPOINT..." >&2; exit 2; }
[ $# -ge 4 ] || usage
tool=$1 n=$2 out=$3
shift 3
case $tool in landscape | hessian) ;; *) echo "$0: TOOL=$tool: want landscape or hessian" >&2; usage ;; esac
if ! [[ $n =~ ^[1-9][0-9]*$ ]]; then
	echo "$0: N=$n: want a positive number of tasks" >&2
	exit 2
fi
if [ ! -x "$bindir/$tool" ]; then
	echo "$0: $bindir/$tool is not an executable; build it (go build -o bin/ ./cmd/...) or set VITPROBE_BIN" >&2
	exit 1
fi
self=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
mkdir -p "$out"
# shellcheck disable=SC2086 # SBATCH_ARGS is a list of flags
array=$(sbatch --parsable ${SBATCH_ARGS:-} --job-name="$tool" --output="$out/slurm-%x-%A_%a.log" \
	--cpus-per-task="${CPUS:-2}" --array=0-$((n - 1)) "$self" --task "$tool" "$out" "$@")
array=${array%%;*}
# shellcheck disable=SC2086
merge=$(sbatch --parsable ${SBATCH_ARGS:-} --job-name="$tool-merge" --output="$out/slurm-%x-%j.log" \
	--cpus-per-task=1 --dependency=afterok:"$array" "$self" --merge "$tool" "$out" "$@")
merge=${merge%%;*}
echo "array $array merge $merge"
