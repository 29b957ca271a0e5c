#!/usr/bin/python3
"""scikit-learn reference for losslab's linear probe (probe.LinearProbe).

Two modes:

  probe_sklearn.py --make-data DIR [--seed S]
      writes the benchmark problem as .npy files (float32 features, int64
      labels): 10 Gaussian classes in 512 dimensions (class means N(0, 0.08^2)
      per feature plus an offset of 5, unit noise): train 8,000, val 2,000,
      test 2,000. Learnable but not separable.

  probe_sklearn.py --data DIR [--max-iter N] [--warm-start]
      runs the same procedure as `losslab analyze probe` with an explicit
      validation set, with sklearn.linear_model.LogisticRegression(
      solver="lbfgs") (multinomial, intercept not penalised), and prints one
      JSON object: test accuracy, mean per-class accuracy, chosen lambda, the
      search, and the seconds spent fitting (data loading excluded).

Procedure (identical to losslab's):
  * objective: mean cross-entropy + (lambda/2)*||W||^2. sklearn minimises
    C * sum(loss) + ||W||^2 / 2, which has the same minimiser when
    C = 1 / (n * lambda), n the number of training examples of that fit;
  * features standardised per column with the population std (std 0 -> 1),
    using the training split's statistics for the search and those of
    train+val for the refit;
  * grid lambda = 1e-6 ... 1e1 (8 values, one per decade); refinement: 2
    points log-evenly between the best lambda and each grid neighbour;
    selection: highest validation accuracy, ties -> lower validation
    cross-entropy, then larger lambda;
  * refit on train+val at the chosen lambda, scored on test.

Threads: OpenBLAS/OpenMP limited to 2 (this machine's cores) unless the
environment already says otherwise; OMP_WAIT_POLICY=PASSIVE.
"""
import os

os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "2")
os.environ.setdefault("MKL_NUM_THREADS", "2")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402

GRID = [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0]
REFINE = 2


def make_data(out, seed):
    rng = np.random.default_rng(seed)
    classes, dim = 10, 512
    means = 0.08 * rng.standard_normal((classes, dim))

    def draw(n):
        y = rng.integers(0, classes, n)
        x = 5 + means[y] + rng.standard_normal((n, dim))
        return x.astype(np.float32), y.astype(np.int64)

    os.makedirs(out, exist_ok=True)
    for name, n in (("train", 8000), ("val", 2000), ("test", 2000)):
        x, y = draw(n)
        np.save(os.path.join(out, name + "_x.npy"), x)
        np.save(os.path.join(out, name + "_y.npy"), y)


def standardiser(x):
    x = x.astype(np.float64)
    mean = x.mean(axis=0)
    std = x.std(axis=0)
    std[std == 0] = 1
    return lambda a: (a.astype(np.float64) - mean) / std


def run(data, max_iter, warm_start):
    from sklearn.linear_model import LogisticRegression
    from sklearn.exceptions import ConvergenceWarning

    try:
        from threadpoolctl import threadpool_limits
        limits = threadpool_limits(int(os.environ["OMP_NUM_THREADS"]))
    except ImportError:
        limits = None

    load = lambda n: np.load(os.path.join(data, n))  # noqa: E731
    xtr, ytr = load("train_x.npy"), load("train_y.npy")
    xva, yva = load("val_x.npy"), load("val_y.npy")
    xte, yte = load("test_x.npy"), load("test_y.npy")
    classes = int(max(ytr.max(), yva.max(), yte.max())) + 1

    start = time.perf_counter()
    s = standardiser(xtr)
    str_, sva = s(xtr), s(xva)
    model = LogisticRegression(solver="lbfgs", max_iter=max_iter, warm_start=warm_start)
    search, unconverged = [], 0

    def fit(lam, x, y, est):
        nonlocal unconverged
        est.set_params(C=1.0 / (len(y) * lam))
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always", ConvergenceWarning)
            est.fit(x, y)
            unconverged += sum(issubclass(i.category, ConvergenceWarning) for i in w)
        return est

    def score(lam, refined):
        est = fit(lam, str_, ytr, model)
        p = est.predict_proba(sva)
        # Columns follow est.classes_; every class occurs in training here.
        idx = np.searchsorted(est.classes_, yva)
        loss = float(-np.mean(np.log(np.clip(p[np.arange(len(yva)), idx], 1e-300, None))))
        acc = float(np.mean(est.classes_[p.argmax(axis=1)] == yva))
        search.append({"lambda": lam, "val_accuracy": acc, "val_loss": loss,
                       "refined": refined, "iterations": int(est.n_iter_[0])})

    def best():
        return max(search, key=lambda r: (r["val_accuracy"], -r["val_loss"], r["lambda"]))

    grid = sorted(GRID, reverse=True)
    for lam in grid:
        score(lam, False)
    b = best()["lambda"]
    i = grid.index(b)
    extra = []
    for j in (i - 1, i + 1):
        if 0 <= j < len(grid):
            extra += [b * (grid[j] / b) ** (s_ / (REFINE + 1)) for s_ in range(1, REFINE + 1)]
    for lam in sorted(extra, reverse=True):
        score(lam, True)
    chosen = best()

    xall, yall = np.concatenate([xtr, xva]), np.concatenate([ytr, yva])
    s = standardiser(xall)
    final = fit(chosen["lambda"], s(xall), yall,
                LogisticRegression(solver="lbfgs", max_iter=max_iter))
    pred = final.predict(s(xte))
    seconds = time.perf_counter() - start
    per_class = [float(np.mean(pred[yte == c] == c)) for c in range(classes) if np.any(yte == c)]
    out = {
        "accuracy": float(np.mean(pred == yte)),
        "mean_per_class_accuracy": float(np.mean(per_class)),
        "lambda": chosen["lambda"],
        "val_accuracy": chosen["val_accuracy"],
        "seconds": seconds,
        "fits": len(search) + 1,
        "unconverged_fits": unconverged,
        "max_iter": max_iter,
        "warm_start": warm_start,
        "threads": int(os.environ["OMP_NUM_THREADS"]),
        "sklearn_mapping": "C = 1/(n*lambda)",
        "search": search,
    }
    if limits is not None:
        limits.restore_original_limits()
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--make-data", metavar="DIR")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--data", metavar="DIR")
    ap.add_argument("--max-iter", type=int, default=1000)
    ap.add_argument("--warm-start", action="store_true")
    a = ap.parse_args()
    if a.make_data:
        make_data(a.make_data, a.seed)
        return 0
    if not a.data:
        ap.error("want --make-data DIR or --data DIR")
    json.dump(run(a.data, a.max_iter, a.warm_start), sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
