#!/usr/bin/env bash
# The full run of the paper's further experiments (package experiments) on
# a 2-core machine: two processes of one libtorch thread share the output
# folder (each run is locked while one of them trains or measures it), then
# a last call, which finds everything done, writes the report of all parts.
#
#   bash scripts/experiments.sh [OUT]        # OUT defaults to experiment-out
#
# Extra flags for bin/experiment go in $EXPERIMENT_FLAGS (e.g. "--tiny").
# Re-running it resumes: finished runs, measurements and build-up scores
# are kept. Wall times per job are in OUT/timings.tsv.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-experiment-out}
flags=${EXPERIMENT_FLAGS:-}
mkdir -p "$out"
go build -o bin/experiment ./cmd/experiment
start=$(date +%s)
# shellcheck disable=SC2086
bin/experiment --out "$out" --only datasize,smoothing,trajectories --threads 1 $flags >"$out/process-a.log" 2>&1 &
a=$!
# shellcheck disable=SC2086
bin/experiment --out "$out" --only buildup,finetune,locality --threads 1 $flags >"$out/process-b.log" 2>&1 &
b=$!
status=0
wait "$a" || status=$?
wait "$b" || status=$?
if [ "$status" -ne 0 ]; then
	echo "experiments.sh: a process failed (status $status); see $out/process-a.log and $out/process-b.log" >&2
	exit "$status"
fi
# shellcheck disable=SC2086
bin/experiment --out "$out" --threads 1 $flags
echo "experiments.sh: $(( ($(date +%s) - start) / 60 )) min wall; load average now: $(cut -d' ' -f1-3 /proc/loadavg)"
