#!/usr/bin/env bash
# A single-node Slurm cluster on this machine, for the tests of the cluster
# path (and for trying the Slurm scripts by hand): munge, slurmctld and slurmd
# on localhost with the machine's CPUs, one partition "debug".
#
#   scripts/slurm-local.sh start DIR   start it; its configuration, state and logs in DIR
#   scripts/slurm-local.sh stop DIR    stop the daemons that `start DIR` started
#
# Clients (sbatch, squeue, scontrol) find it with SLURM_CONF=DIR/slurm.conf.
# Needs root and Debian's slurm-wlm and munge (`make test` installs them).
# A munged that is already running is used as it is and left running; the
# munge key is created once in /etc/munge when it is missing.
set -euo pipefail

die() { echo "slurm-local.sh: $*" >&2; exit 1; }
[ $# -eq 2 ] || { echo "usage: scripts/slurm-local.sh start|stop DIR" >&2; exit 2; }
cmd=$1
mkdir -p "$2"
dir=$(cd "$2" && pwd)
conf=$dir/slurm.conf

# stop_pidfile FILE: kills the process named in FILE (if it runs) and waits for it.
stop_pidfile() {
  local f=$1 pid i
  [ -s "$f" ] || return 0
  pid=$(cat "$f")
  if kill "$pid" 2>/dev/null; then
    for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

# stop_all stops the daemons that `start DIR` started (their pid files in DIR).
stop_all() {
  stop_pidfile "$dir/slurmd.pid"
  stop_pidfile "$dir/slurmctld.pid"
  stop_pidfile "$dir/munged.pid"
}

case $cmd in
stop)
  stop_all
  exit 0
  ;;
start) ;;
*) echo "usage: scripts/slurm-local.sh start|stop DIR" >&2; exit 2 ;;
esac

[ "$(id -u)" = 0 ] || die "needs root (it starts munged, slurmctld and slurmd)"
for c in munged munge unmunge slurmctld slurmd sinfo; do
  command -v "$c" >/dev/null || [ -x "/usr/sbin/$c" ] || die "$c not found: install Debian's slurm-wlm and munge"
done
export PATH=$PATH:/usr/sbin

# munge: a key, its folders, a running daemon.
for d in /etc/munge /var/log/munge /run/munge /var/lib/munge; do
  mkdir -p "$d"
  chown munge:munge "$d"
done
if [ ! -s /etc/munge/munge.key ]; then
  dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
fi
chown munge:munge /etc/munge/munge.key
chmod 400 /etc/munge/munge.key
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  runuser -u munge -- munged --pid-file=/run/munge/munged.pid
  cp /run/munge/munged.pid "$dir/munged.pid"
  for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
  munge -n | unmunge >/dev/null || die "munged does not answer"
fi

# The daemons talk over 127.0.0.1, so the cluster needs no name resolution
# of the host (a minimal Debian root may have no /etc/hosts entry for it).
host=$(hostname -s)
cpus=$(nproc)
mkdir -p "$dir/ctld" "$dir/d"
cat >"$conf" <<EOF
ClusterName=vitprobe-test
SlurmctldHost=$host(127.0.0.1)
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmUser=root
ReturnToService=2
StateSaveLocation=$dir/ctld
SlurmdSpoolDir=$dir/d
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
JobCompType=jobcomp/filetxt
JobCompLoc=$dir/jobcomp.txt
MinJobAge=3600
NodeName=$host NodeAddr=127.0.0.1 NodeHostname=$host CPUs=$cpus State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF=$conf
# A start that fails stops what it started.
slurmctld -f "$conf" || { stop_all; die "slurmctld did not start (log: $dir/slurmctld.log)"; }
slurmd -f "$conf" || { stop_all; die "slurmd did not start (log: $dir/slurmd.log)"; }
# Wait until the node takes jobs, at most a minute (a client that cannot
# reach slurmctld waits its own timeout per call: bounded here too).
state=""
deadline=$((SECONDS + 60))
while [ "$SECONDS" -lt "$deadline" ]; do
  state=$(timeout 10 sinfo -h -N -o %t 2>/dev/null || true)
  case $state in idle* | mix* | alloc*) break ;; esac
  sleep 0.2
done
case $state in
idle* | mix* | alloc*) echo "slurm-local.sh: cluster up: node $host ($cpus CPUs), SLURM_CONF=$conf" ;;
*) stop_all; die "the node did not become idle (state '$state'; logs in $dir)" ;;
esac
