#!/usr/bin/env bash
# Start a single-node Slurm cluster (munged, slurmctld, slurmd) from a
# generated config in a temporary folder, as tested in SLURM.md. Prints
# "export SLURM_CONF=..." for the caller to eval. Needs root; installs the
# packages when sbatch is missing.
set -euo pipefail
if ! command -v slurmctld >/dev/null || ! command -v sbatch >/dev/null; then
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >&2 || true
fi
mkdir -p /run/munge && chown munge:munge /run/munge 2>/dev/null || true
[ -f /etc/munge/munge.key ] || { dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null; chown munge:munge /etc/munge/munge.key; chmod 400 /etc/munge/munge.key; }
pgrep -x munged >/dev/null || runuser -u munge -- /usr/sbin/munged >&2
host=$(hostname -s)
cpus=$(nproc)
mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 / 2 ))
dir=$(mktemp -d /tmp/losslab-slurm.XXXXXX)
mkdir -p "$dir/state" "$dir/spool"
cat > "$dir/slurm.conf" <<CONF
ClusterName=losslab
SlurmctldHost=$host
SlurmctldPort=16817
SlurmdPort=16818
SlurmUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
MaxArraySize=10001
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
slurmctld -f "$dir/slurm.conf" >&2
slurmd -f "$dir/slurm.conf" >&2
export SLURM_CONF="$dir/slurm.conf"
for _ in $(seq 1 30); do
  sinfo -h -o '%T' 2>/dev/null | grep -q idle && break
  sleep 1
done
sinfo >&2
echo "export SLURM_CONF=$dir/slurm.conf"
