#!/usr/bin/env python3
"""Fits scikit-learn on the design matrices Pledge's trainer builds.

Usage (after `cargo run --release -p trainer --example bench -- --json --csv /tmp/synthetic.csv
--design /tmp/bikes`):

    pip install scikit-learn pandas
    python3 trainer/examples/compare_sklearn.py trainer/data/taxi.csv /tmp/synthetic.csv
    python3 trainer/examples/compare_sklearn.py --design /tmp/bikes

With `--design DIR`, also the wide logistic designs in DIR/wide124 and DIR/wide448, fitted with
`LogisticRegression(C=1.0, solver="lbfgs", tol=1e-4, max_iter=100)` on one BLAS thread
(threadpoolctl), median of 3, with the test ROC-AUC and iterations. And: the bike data's lags design as the trainer built it (x_train.csv,
y_train.csv, x_test.csv, y_test.csv), fitted with `Ridge(alpha=1.0)` (solver "auto": a Cholesky
solve on this dense design) and `PoissonRegressor(alpha=1.0, tol=1e-4, max_iter=100)` with its
default lbfgs solver and with "newton-cholesky", on one BLAS thread (threadpoolctl, as the
trainer fits); prints fit seconds (median of 5) and test MAE.

For each file: time split (train Jan..Mar, test Apr), numeric columns standardised with the
training rows' mean and population standard deviation, categorical columns one-hot over the
training rows' sorted categories plus an all-zero "unseen" column (exactly the trainer's
pipeline), then `LogisticRegression(C=1.0, solver="lbfgs", tol=1e-4, max_iter=100)`, the same
objective as the trainer's linfa fit (alpha = 1/C). Prints JSON: fit seconds (median of
--repeat runs) and test ROC-AUC. Thread count is whatever numpy/OpenBLAS uses by default.
"""

import json
import statistics
import sys
import time

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

NUMERIC = ["distance", "hour"]
CATEGORICAL = ["company", "local", "dow"]


def design(train, rows):
    cols = []
    for c in ["distance", "company", "local", "dow", "hour"]:
        if c in NUMERIC:
            mean, sd = train[c].mean(), train[c].std(ddof=0)
            cols.append(((rows[c] - mean) / (sd if sd > 0 else 1.0)).to_numpy()[:, None])
        else:
            cats = sorted(train[c].unique())
            onehot = np.zeros((len(rows), len(cats) + 1))
            index = {k: i for i, k in enumerate(cats)}
            pos = rows[c].map(lambda v: index.get(v, len(cats))).to_numpy()
            onehot[np.arange(len(rows)), pos] = 1.0
            cols.append(onehot)
    return np.ascontiguousarray(np.hstack(cols))


def bench(path, repeat):
    df = pd.read_csv(path)
    train, test = df[df.month != "Apr"], df[df.month == "Apr"]
    x, xt = design(train, train), design(train, test)
    y = (train.tip == "yes").to_numpy()
    runs, model = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        model = LogisticRegression(C=1.0, solver="lbfgs", tol=1e-4, max_iter=100).fit(x, y)
        runs.append(time.perf_counter() - t)
    auc = roc_auc_score(test.tip == "yes", model.predict_proba(xt)[:, 1])
    return {"rows": len(df), "design_columns": x.shape[1], "fit_s_median": statistics.median(runs),
            "fit_s_runs": runs, "roc_auc": auc, "iterations": int(model.n_iter_[0])}


def forecasters(directory, repeat=5):
    from sklearn.linear_model import PoissonRegressor, Ridge

    load = lambda name: np.loadtxt(f"{directory}/{name}", delimiter=",", ndmin=2)
    x, xt = load("x_train.csv"), load("x_test.csv")
    y, yt = load("y_train.csv").ravel(), load("y_test.csv").ravel()
    out = {"train_rows": len(y), "design_columns": x.shape[1]}
    makers = {
        "ridge": lambda: Ridge(alpha=1.0),
        "poisson_lbfgs": lambda: PoissonRegressor(alpha=1.0, tol=1e-4, max_iter=100),
        "poisson_newton_cholesky": lambda: PoissonRegressor(
            alpha=1.0, tol=1e-4, max_iter=100, solver="newton-cholesky"),
    }
    from threadpoolctl import threadpool_limits

    for name, make in makers.items():
        runs, model = [], None
        with threadpool_limits(limits=1):
            for _ in range(repeat):
                t = time.perf_counter()
                model = make().fit(x, y)
                runs.append(time.perf_counter() - t)
        mae = float(np.mean(np.abs(model.predict(xt) - yt)))
        out[name] = {"fit_s_median": statistics.median(runs), "fit_s_runs": runs, "test_mae": mae}
    return out


def wide(directory, repeat=3):
    """LogisticRegression(lbfgs) on the bench's wide designs, one thread."""
    from threadpoolctl import threadpool_limits

    out = {}
    for cols in (124, 448):
        d = f"{directory}/wide{cols}"
        load = lambda name: np.loadtxt(f"{d}/{name}", delimiter=",", ndmin=2)
        x, xt = load("x_train.csv"), load("x_test.csv")
        y, yt = load("y_train.csv").ravel(), load("y_test.csv").ravel()
        runs, model = [], None
        with threadpool_limits(limits=1):
            for _ in range(repeat):
                t = time.perf_counter()
                model = LogisticRegression(C=1.0, solver="lbfgs", tol=1e-4, max_iter=100).fit(x, y)
                runs.append(time.perf_counter() - t)
        auc = roc_auc_score(yt, model.predict_proba(xt)[:, 1])
        out[f"columns_{cols}"] = {"train_rows": len(y), "design_columns": x.shape[1],
                                  "fit_s_median": statistics.median(runs), "fit_s_runs": runs,
                                  "roc_auc": auc, "iterations": int(model.n_iter_[0])}
    return out


if __name__ == "__main__":
    if sys.argv[1:2] == ["--design"]:
        out = {"bench": "sklearn", "sklearn": __import__("sklearn").__version__,
               "bikeshare_forecasters": forecasters(sys.argv[2]), "wide_logistic": wide(sys.argv[2])}
        print(json.dumps(out, indent=2))
        sys.exit(0)
    repeat = 3
    out = {"bench": "sklearn", "sklearn": __import__("sklearn").__version__}
    for path in sys.argv[1:]:
        out[path] = bench(path, repeat)
    print(json.dumps(out, indent=2))
