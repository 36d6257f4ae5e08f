#!/usr/bin/env python3
"""Fits scikit-learn's LogisticRegression(lbfgs) on the design matrix Pledge's trainer builds.

Usage (after `cargo run --release -p trainer --example bench -- --json --csv /tmp/synthetic.csv`):

    pip install scikit-learn pandas
    python3 trainer/examples/compare_sklearn.py trainer/data/taxi.csv /tmp/synthetic.csv

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


if __name__ == "__main__":
    repeat = 3
    out = {"bench": "sklearn", "sklearn": __import__("sklearn").__version__}
    for path in sys.argv[1:]:
        out[path] = bench(path, repeat)
    print(json.dumps(out, indent=2))
