#!/usr/bin/env python3
"""Gives a real MLflow tracking server a team's history, through MLflow's own client.

Two experiments with runs (parameters, metrics, tags, dataset inputs), two registered models
with versions made from those runs, and the `champion` alias on one version of each; one run
never registered, and one version whose run logged a NaN metric besides its gate metrics.
Prints the ids as JSON for tests/e2e/interop.rs.

Usage: mlflow_seed.py TRACKING_URI          (the history above)
       mlflow_seed.py TRACKING_URI --more   (a week later: a better run, version 4 of
                                             `demand`, and the champion alias moved to it)
"""

import json
import math
import sys

from mlflow.entities import Dataset, DatasetInput, InputTag, Metric, Param, RunTag
from mlflow.tracking import MlflowClient


def run(client, experiment_id, name, params, metrics, dataset, commit, start, end):
    r = client.create_run(experiment_id, start_time=start, run_name=name, tags={
        "mlflow.source.name": "train_demand.py",
        "mlflow.source.git.commit": commit,
        "team": "forecasting",
    })
    rid = r.info.run_id
    client.log_batch(
        rid,
        metrics=[Metric(k, v, start + 1000, 0) for k, v in metrics.items()],
        params=[Param(k, str(v)) for k, v in params.items()],
        tags=[RunTag("stage", "offline")],
    )
    if dataset:
        client.log_inputs(rid, datasets=[DatasetInput(
            Dataset(name=dataset[0], digest=dataset[1], source_type="local", source=dataset[2],
                    schema='{"mlflow_colspec": [{"name": "day", "type": "long"}, {"name": "demand", "type": "double"}]}'),
            tags=[InputTag("mlflow.data.context", "training")],
        )])
    client.set_terminated(rid, status="FINISHED", end_time=end)
    return rid


def main():
    client = MlflowClient(tracking_uri=sys.argv[1])
    t0 = 1767225600000  # 2026-01-01T00:00:00Z
    day = 86_400_000
    if sys.argv[2:] == ["--more"]:
        exp = client.get_experiment_by_name("demand-forecasting").experiment_id
        ds = ("sales-2026q1", "e5f6a7b8", "s3://lake/sales/2026q1.parquet")
        r4 = run(client, exp, "lgbm-800", {"n_estimators": 800, "model": "lightgbm"}, {"mae": 10.0, "rmse": 13.0}, ds, "6666666", t0 + 7 * day, t0 + 7 * day + 60_000)
        v = client.create_model_version("demand", f"runs:/{r4}/model", run_id=r4)
        client.set_registered_model_alias("demand", "champion", v.version)
        print(json.dumps({"demand_version": v.version, "run": r4}))
        return
    demand_exp = client.create_experiment("demand-forecasting")
    churn_exp = client.create_experiment("churn")
    ds = ("sales-2025", "a1b2c3d4", "s3://lake/sales/2025.parquet")
    ds2 = ("sales-2026q1", "e5f6a7b8", "s3://lake/sales/2026q1.parquet")
    r1 = run(client, demand_exp, "ridge-a1", {"alpha": 1.0, "model": "ridge"}, {"mae": 20.0, "rmse": 25.0}, ds, "1111111", t0, t0 + 60_000)
    r2 = run(client, demand_exp, "lgbm-200", {"n_estimators": 200, "model": "lightgbm"}, {"mae": 15.0, "rmse": 19.0}, ds, "2222222", t0 + day, t0 + day + 60_000)
    r3 = run(client, demand_exp, "lgbm-400", {"n_estimators": 400, "model": "lightgbm"},
             {"mae": 14.8, "rmse": 18.7, "val_loss": math.nan}, ds2, "3333333", t0 + 2 * day, t0 + 2 * day + 60_000)
    unregistered = run(client, demand_exp, "scratch", {"alpha": 9}, {"mae": 99.0}, None, "4444444", t0 + 3 * day, t0 + 3 * day + 1)
    c1 = run(client, churn_exp, "logit", {"C": 0.5}, {"roc_auc": 0.81, "log_loss": 0.42}, None, "5555555", t0 + 4 * day, t0 + 4 * day + 1)

    client.create_registered_model("demand", tags={"task": "regression"})
    versions = {}
    for rid in (r1, r2, r3):
        v = client.create_model_version("demand", f"runs:/{rid}/model", run_id=rid)
        versions[v.version] = rid
    client.set_registered_model_alias("demand", "champion", "2")
    client.set_registered_model_alias("demand", "challenger", "3")
    client.create_registered_model("churn")
    client.create_model_version("churn", f"runs:/{c1}/model", run_id=c1)
    client.set_registered_model_alias("churn", "champion", "1")
    print(json.dumps({
        "experiments": {"demand-forecasting": demand_exp, "churn": churn_exp},
        "demand_versions": versions,
        "churn_run": c1,
        "unregistered_run": unregistered,
    }))


if __name__ == "__main__":
    main()
