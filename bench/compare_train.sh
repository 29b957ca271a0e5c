#!/usr/bin/env bash
# Training throughput of losslab against PyTorch CPU, measured in one run on
# the same machine, same model, batch and thread count.
#
#   bench/compare_train.sh [model ...]        (default: mnist-cnn resnet20)
#   BATCH=128 STEPS=30 THREADS=2 ROUNDS=3 bench/compare_train.sh resnet20
#
# Each round measures losslab then PyTorch on each model, so that both sides
# of a ratio see the same machine state (VMs drift by up to 2× over minutes).
# The first line names the GEMM kernel, the CPU and its vector extensions;
# with ROUNDS > 1 the last lines give each model's median ratio and range.
#
# Needs Debian's python3-torch and an optimised BLAS for it (apt-get install -y
# python3-torch libopenblas0-pthread; on the reference BLAS that python3-torch
# alone brings, pytorch_baseline.py stops rather than time it). PyTorch gets
# its best settings: OMP_WAIT_POLICY=PASSIVE, torch.set_num_threads, and glibc
# malloc keeping freed buffers (see bench/pytorch_baseline.py); the ratio is
# against that. DEFAULT_MALLOC=1 adds a column with PyTorch out of the box.
# OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are dropped for PyTorch (its BLAS is
# OpenBLAS), so that an environment pinning an older core cannot slow it.
set -euo pipefail
cd "$(dirname "$0")/.."
BATCH=${BATCH:-128} STEPS=${STEPS:-30} THREADS=${THREADS:-2} ROUNDS=${ROUNDS:-1}
models=("$@"); [ ${#models[@]} -gt 0 ] || models=(mnist-cnn resnet20)
go build -o /tmp/losslab-bench ./cmd/losslab
/tmp/losslab-bench bench train --model mlp --steps 1 --threads "$THREADS" --json |
  /usr/bin/python3 -c 'import json,sys; r=json.load(sys.stdin); print("# kernel %s (%s); CPU %s; %s; %s" % (r["kernel"], r["kernel_tiles"], r["cpu_model"], " ".join(r["cpu_features"] or []), r["go"]))'
DEFAULT_MALLOC=${DEFAULT_MALLOC:-0}
if [ "$DEFAULT_MALLOC" = 1 ]; then
  printf '%-10s %14s %14s %8s %16s\n' model losslab_ex/s pytorch_ex/s ratio pytorch_default
else
  printf '%-10s %14s %14s %8s\n' model losslab_ex/s pytorch_ex/s ratio
fi
ratios=$(mktemp)
trap 'rm -f "$ratios"' EXIT
for round in $(seq "$ROUNDS"); do
for m in "${models[@]}"; do
  ours=$(/tmp/losslab-bench bench train --model "$m" --batch "$BATCH" --steps "$STEPS" --threads "$THREADS" --json |
    /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["examples_per_sec"])')
  theirs=$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 bench/pytorch_baseline.py --model "$m" --batch "$BATCH" --steps "$STEPS" --threads "$THREADS" --json |
    /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["examples_per_sec"])')
  if [ "$DEFAULT_MALLOC" = 1 ]; then
    plain=$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 bench/pytorch_baseline.py --default-malloc --model "$m" --batch "$BATCH" --steps "$STEPS" --threads "$THREADS" --json |
      /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["examples_per_sec"])')
    /usr/bin/python3 -c "print('%-10s %14.1f %14.1f %8.2f %16.1f' % ('$m', $ours, $theirs, $ours/$theirs, $plain))"
  else
    /usr/bin/python3 -c "print('%-10s %14.1f %14.1f %8.2f' % ('$m', $ours, $theirs, $ours/$theirs))"
  fi
  echo "$m $ours $theirs" >> "$ratios"
done
done
if [ "$ROUNDS" -gt 1 ]; then
  # Each round's ratio is one paired measurement; the spread is the VM's.
  /usr/bin/python3 - "$ratios" <<'PY'
import statistics, sys
by = {}
for line in open(sys.argv[1]):
    m, ours, theirs = line.split()
    by.setdefault(m, []).append(float(ours) / float(theirs))
for m, r in by.items():
    print("# %s: ratio median %.2f, range %.2f-%.2f over %d rounds" % (m, statistics.median(r), min(r), max(r), len(r)))
PY
fi
