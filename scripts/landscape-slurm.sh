#!/usr/bin/env bash
# Loss landscape on a Slurm cluster: a job array of N tasks, each computing
# one shard of the grid, then a merge job that starts when every task has
# succeeded (--dependency=afterok) and writes the CSV, JSON and PNGs.
#
#   scripts/landscape-slurm.sh N OUT [landscape flags] CHECKPOINT...
#   scripts/landscape-slurm.sh 16 runs/land-vit --grid -1:1:101 runs/vit/final.json
#
# Run it on a login node: it submits itself twice (sbatch) and prints the
# two job ids. Each array task runs `landscape --out OUT ...` with
# SLURM_ARRAY_TASK_ID/_MIN/_COUNT in its environment, from which the
# command takes its shard (i/N) and journal (OUT/landscape.shard-i-of-N.jsonl);
# --threads is the task's CPU count. OUT must be on a file system that every
# node sees. A task that dies (preemption, time limit) is resubmitted with
# `sbatch --array=I` on the same arguments and resumes from its journal;
# the merge refuses to run while points are missing, naming them.
#
# Environment: LANDSCAPE (default bin/landscape, build it with
# `go build -o bin/landscape ./cmd/landscape`), SBATCH_ARGS (extra sbatch
# flags, e.g. "--partition=cpu --time=04:00:00"), CPUS (per task, default 2).
#
# The local equivalent, tested in cmd/landscape (TestLandscapeShards...):
#   for i in 0 1 2 3; do bin/landscape --shard $i/4 --threads 1 --out OUT ARGS & done; wait
#   bin/landscape --merge --out OUT ARGS
#SBATCH --job-name=landscape
#SBATCH --output=%x-%A_%a.log
set -euo pipefail

landscape=${LANDSCAPE:-bin/landscape}

case "${1:-}" in
--task)
	# One array task: its shard comes from the Slurm environment.
	shift
	out=$1
	shift
	exec "$landscape" --threads "${SLURM_CPUS_PER_TASK:-1}" --out "$out" "$@"
	;;
--merge)
	shift
	out=$1
	shift
	exec "$landscape" --merge --out "$out" "$@"
	;;
esac

if [ $# -lt 3 ]; then
	echo "usage: $0 N OUT [landscape flags] CHECKPOINT..." >&2
	exit 2
fi
n=$1
out=$2
shift 2
if ! [[ $n =~ ^[1-9][0-9]*$ ]]; then
	echo "$0: N=$n: want a positive number of tasks" >&2
	exit 2
fi
if [ ! -x "$landscape" ]; then
	echo "$0: $landscape is not an executable; build it (go build -o bin/landscape ./cmd/landscape) or set LANDSCAPE" >&2
	exit 1
fi
mkdir -p "$out"
# shellcheck disable=SC2086 # SBATCH_ARGS is a list of flags
array=$(sbatch --parsable ${SBATCH_ARGS:-} --cpus-per-task="${CPUS:-2}" --array=0-$((n - 1)) \
	"$0" --task "$out" "$@")
array=${array%%;*}
# shellcheck disable=SC2086
merge=$(sbatch --parsable ${SBATCH_ARGS:-} --cpus-per-task=1 --dependency=afterok:"$array" \
	--job-name=landscape-merge "$0" --merge "$out" "$@")
echo "submitted shards as job array $array (0-$((n - 1))) and the merge as job $merge; outputs in $out"
