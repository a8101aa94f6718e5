#!/usr/bin/env bash
# A real single-node Slurm on this machine runs packaging/slurm/calibrate.sbatch:
# an array job of 4 shards over 40 examples of the bundled kjv2web calibration
# set, then the dependent merge job; the merged report, its CSV and the
# thresholds file must equal a single run's, timings aside
# (scripts/without-timings.sh). Installs Debian's slurm-wlm and munge when
# missing (apt-get: run as root), runs munged, slurmctld and slurmd on
# localhost from a minimal slurm.conf in a temporary directory, and stops them
# and removes the directory on exit, whatever happens.
# Usage: scripts/slurm-check.sh [BUILD_DIR]   (default: build; needs BUILD_DIR/app/calm)
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$src/build}
calm=$(cd "$build/app" && pwd)/calm
[ -x "$calm" ] || { echo "slurm-check: no $calm: build calm first" >&2; exit 2; }
start=$(date +%s)

if ! command -v slurmctld > /dev/null || ! command -v slurmd > /dev/null || ! command -v munged > /dev/null; then
  echo "slurm-check: installing slurm-wlm and munge"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurm-wlm munge > /dev/null
fi

dir=$(mktemp -d /tmp/calm-slurm.XXXXXX)
chmod 755 "$dir"
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2> /dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2> /dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2> /dev/null || true
  done
  rm -rf "$dir"
}
trap cleanup EXIT
fail() {
  echo "slurm-check: FAIL: $*" >&2
  for log in "$dir"/log/*; do echo "--- $log" >&2; tail -20 "$log" >&2; done
  exit 1
}
mkdir -p "$dir"/{munge,state,spool,log,work}
chmod 711 "$dir/munge"  # munged wants its socket's directory searchable by all

# munge: its own key, socket and files here (the system's are left alone).
dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$dir/munge/munge.key"
socket=$dir/munge/munge.socket
munged --foreground --force --key-file="$dir/munge/munge.key" --socket="$socket" \
  --pid-file="$dir/munge/munged.pid" --seed-file="$dir/munge/seed" --log-file="$dir/log/munged.log" \
  > "$dir/log/munged.out" 2>&1 &
pids+=($!)
for _ in $(seq 50); do [ -S "$socket" ] && break; sleep 0.1; done
[ -S "$socket" ] || fail "munged did not start"

# Ports chosen from the PID so that two checks (or a real Slurm) do not collide.
port=$((20000 + ($$ % 2000) * 2))
host=$(hostname -s)
cpus=$(nproc)
export SLURM_CONF=$dir/slurm.conf
cat > "$SLURM_CONF" << CONF
ClusterName=calmcheck
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$port
SlurmdPort=$((port + 1))
AuthType=auth/munge
AuthInfo=socket=$socket
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
SlurmdTimeout=60
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=check Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
slurmctld -D -f "$SLURM_CONF" > "$dir/log/slurmctld.out" 2>&1 &
pids+=($!)
slurmd -D -f "$SLURM_CONF" > "$dir/log/slurmd.out" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
  sinfo -h -o %T 2> /dev/null | grep -qE '^idle' && break
  sleep 0.3
done
sinfo -h -o %T 2> /dev/null | grep -qE '^idle' || fail "the node did not come up idle: $(sinfo 2>&1)"

# The job: 4 shards, then the merge once they all succeed.
model=$src/resources/models/kjv2web
data=$src/resources/data/kjv2web/calibration.jsonl
run_args="--model $model --data $data --limit 40 --max-new-tokens 8 --grid-step 0.1"
certify_args="--delta 0.25 --out $dir/work/merged.json --report $dir/work/merged-report.json"
export CALM=$calm CALM_WORK=$dir/work CALM_RUN_ARGS=$run_args CALM_CERTIFY_ARGS=$certify_args
script=$src/packaging/slurm/calibrate.sbatch
cd "$dir/work"
array=$(sbatch --parsable --array=1-4 --cpus-per-task=1 "$script") || fail "sbatch of the array refused"
merge=$(sbatch --parsable --cpus-per-task=1 --dependency=afterok:"${array%%;*}" --export=ALL,CALM_SHARDS=4 "$script") ||
  fail "sbatch of the merge refused"
echo "slurm-check: array job $array (4 shards), merge job $merge"
for _ in $(seq 600); do  # at most 5 minutes
  [ -z "$(squeue -h -j "${array%%;*},${merge%%;*}" 2> /dev/null)" ] && break
  sleep 0.5
done
[ -z "$(squeue -h -j "${array%%;*},${merge%%;*}" 2> /dev/null)" ] && [ -e "$dir/work/merged.json" ] ||
  { for f in "$dir"/work/*.out; do echo "--- $f" >&2; cat "$f" >&2; done; fail "the jobs did not finish with a thresholds file"; }
for i in 1 2 3 4; do [ -s "$dir/work/shard-$i-of-4.jsonl" ] || fail "no cache for shard $i"; done

# The same calibration on one machine, outside Slurm.
"$calm" calibrate $run_args --delta 0.25 --out "$dir/work/single.json" --report "$dir/work/single-report.json" \
  --cache "$dir/work/single.cache.jsonl" > /dev/null 2>&1 || fail "the single run failed"
strip=$src/scripts/without-timings.sh
for pair in "single.json merged.json" "single-report.json merged-report.json" "single-report.csv merged-report.csv"; do
  read -r a b <<< "$pair"
  cmp -s <("$strip" "$dir/work/$a") <("$strip" "$dir/work/$b") ||
    { diff <("$strip" "$dir/work/$a") <("$strip" "$dir/work/$b") | head -20 >&2; fail "$b differs from $a"; }
done
echo "slurm-check: OK: 4 shards on Slurm merged = one run (report, CSV, thresholds; timings aside); $(($(date +%s) - start)) s"
