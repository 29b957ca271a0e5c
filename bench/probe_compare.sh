#!/usr/bin/env bash
# Times losslab's linear probe (full lambda search, refinement and refit)
# against scikit-learn's LogisticRegression(solver="lbfgs") on the same
# 10,000 x 512, 10-class data and the same procedure (see
# bench/probe_sklearn.py), and prints both timings, both test accuracies and
# the speed ratio.
#
# Usage: bench/probe_compare.sh [MAX_ITER]   (sklearn's max_iter, default 1000)
# Needs Debian's python3-sklearn (apt-get install -y python3-sklearn).
# Both sides use 2 threads. The machine's speed drifts: compare numbers
# from one run only.
set -euo pipefail
cd "$(dirname "$0")/.."
max_iter=${1:-1000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

/usr/bin/python3 bench/probe_sklearn.py --make-data "$work/data"
go build -o "$work/losslab" ./cmd/losslab

d=$work/data
# Go: wall and CPU seconds of the whole command (loading included), and the
# probe's own timer.
/usr/bin/time -f '%e %U %S' -o "$work/go.time" "$work/losslab" analyze probe \
	--train-features "$d/train_x.npy" --train-labels "$d/train_y.npy" \
	--val-features "$d/val_x.npy" --val-labels "$d/val_y.npy" \
	--test-features "$d/test_x.npy" --test-labels "$d/test_y.npy" --json >"$work/go.json"
/usr/bin/time -f '%e %U %S' -o "$work/sk.time" \
	/usr/bin/python3 bench/probe_sklearn.py --data "$d" --max-iter "$max_iter" >"$work/sk.json"

/usr/bin/python3 - "$work" <<'EOF'
import json, sys
w = sys.argv[1]
go, sk = json.load(open(w + "/go.json")), json.load(open(w + "/sk.json"))
gt, st = [open(w + f).read().split() for f in ("/go.time", "/sk.time")]
gcpu, scpu = float(gt[1]) + float(gt[2]), float(st[1]) + float(st[2])
print(f"losslab: search+refit {go['seconds']:.2f}s (process wall {float(gt[0]):.2f}s, cpu {gcpu:.2f}s), "
      f"test acc {go['accuracy']:.4f}, mean per-class {go['mean_per_class_accuracy']:.4f}, lambda {go['lambda']:.3g}, "
      f"{len(go['search']) + 1} fits")
print(f"sklearn: search+refit {sk['seconds']:.2f}s (process wall {float(st[0]):.2f}s, cpu {scpu:.2f}s), "
      f"test acc {sk['accuracy']:.4f}, mean per-class {sk['mean_per_class_accuracy']:.4f}, lambda {sk['lambda']:.3g}, "
      f"{sk['fits']} fits, {sk['unconverged_fits']} hit max_iter={sk['max_iter']}")
print(f"speed-up (sklearn fit time / losslab fit time): {sk['seconds'] / go['seconds']:.1f}x; "
      f"process cpu ratio {scpu / gcpu:.1f}x; accuracy difference (losslab - sklearn) {go['accuracy'] - sk['accuracy']:+.4f}")
EOF
