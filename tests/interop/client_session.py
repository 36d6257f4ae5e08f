#!/usr/bin/env python3
"""A notebook's session with the Python client against a real `pledge serve`.

Run by tests/e2e/interop.rs with the team's PLEDGE_HOME (keys maya: scientist, colby:
approver). First checks the client reproduces schemas/vectors/signed-command.json byte for
byte, then records runs, bootstraps, proposes and approves through the server, and checks
each refusal. Prints one JSON document: what it sent, for the test to find in the ledger.
Exit 0 when every check held; an assertion error otherwise.
"""

import argparse
import json
import math
import os
import re
import sys

from pledge_client import Client, Key, PledgeError, canonical, file_digest, pae, sign_command, timestamp, uuid7


def check_vectors(path):
    v = json.load(open(path))
    key = Key(bytes.fromhex(v["seed_hex"]))
    assert key.public_key.hex() == v["public_key_hex"]
    assert key.key_id == v["key_id"], (key.key_id, v["key_id"])
    c = v["command"]
    envelope, payload = sign_command(key, c["ledger"], c["kind"], c["body"], c["id"], c["issued_at"])
    assert payload.decode() == v["payload_canonical"], payload
    assert pae(v["payload_type"], payload).decode() == v["pae"]
    assert envelope == v["envelope"], (envelope, v["envelope"])
    # Canonical JSON vectors.
    cj = json.load(open(os.path.join(os.path.dirname(path), "canonical-json.json")))
    n = 0
    for case in cj["cases"]:
        got = canonical(json.loads(case["input"]))
        assert got.decode() == case["canonical"], (case, got)
        n += 1
    # UUID v7 and timestamps as FORMAT.md says.
    u = uuid7()
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", u), u
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", timestamp()), timestamp()
    return n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--home", required=True)
    ap.add_argument("--vectors", required=True)
    ap.add_argument("--workdir", required=True)
    a = ap.parse_args()
    canonical_cases = check_vectors(a.vectors)

    maya = Client(a.server, identity="maya", home=a.home)
    colby = Client(a.server, identity="colby", home=a.home)
    sent = []

    def track(answer):
        sent.append(answer["events"][0]["hash"])
        return answer

    def file(name, text):
        p = os.path.join(a.workdir, name)
        with open(p, "w") as f:
            f.write(text)
        return p

    data = file("train.csv", "day,demand\n1,10\n2,12\n3,9\n")
    m1 = file("model-1.json", '{"coef": [0.5]}')
    m2 = file("model-2.json", '{"coef": [0.7]}')

    # Three lines in a notebook: a run recorded, its model registered on the way.
    r1 = track(maya.record_run("demand", task="regression", metrics={"mae": 20.0, "rmse": 25.0},
                               params={"alpha": 1.0}, artifact=m1, dataset=data, trainer="sklearn 1.5 (ridge)"))
    v1 = [e for e in r1["events"] if e["kind"] == "version.registered"][0]["payload"]["version"]
    assert maya.champion("demand") is None
    track(colby.bootstrap_champion("demand", v1, reason="first model"))
    assert maya.champion("demand")["version"] == v1

    # A better run; resending its envelope is harmless.
    env = maya.sign("run.record", {
        "run_id": "demand-r2", "model": "demand", "trigger": "manual", "dataset_digest": r1["events"][0]["payload"]["dataset_digest"],
        "trainer": "sklearn 1.5 (ridge)", "params": {"alpha": 0.5}, "metrics": {"mae": 15.0, "rmse": 19.0},
        "models": [{"segment": None, "artifact_digest": file_digest(m2), "metrics": {"mae": 15.0, "rmse": 19.0}}],
    })
    first = track(maya.submit_envelope(env))
    again = maya.submit_envelope(env)
    assert first["duplicate"] is False and again["duplicate"] is True
    assert [e["hash"] for e in again["events"]] == [e["hash"] for e in first["events"]]
    v2 = [e for e in first["events"] if e["kind"] == "version.registered"][0]["payload"]["version"]

    # The same artifact again: refused, nothing written.
    try:
        maya.record_run("demand", metrics={"mae": 1.0, "rmse": 1.0}, artifact=m1, dataset=data, trainer="x")
        raise AssertionError("a second run of the same artifact was accepted")
    except PledgeError as e:
        assert e.rule == "run.exists" and e.status == 409, e
    # NaN never leaves the notebook.
    try:
        maya.record_run("demand", metrics={"mae": math.nan, "rmse": 1.0}, artifact=m2, dataset=data, trainer="x", run_id="nan")
        raise AssertionError("NaN was sent")
    except ValueError as e:
        assert "finite" in str(e), e

    # A better run is promoted by policy (trigger `manual`, gates passed).
    assert maya.champion("demand")["version"] == v2

    # A run that misses the margin stays a challenger; proposed, its failed gates need an
    # override; four eyes: maya may not approve her own proposal; colby does, with a reason.
    m3 = file("model-3.json", '{"coef": [0.71]}')
    r3 = track(maya.record_run("demand", metrics={"mae": 14.9, "rmse": 18.5}, params={"alpha": 0.4},
                               artifact=m3, dataset=data, trainer="sklearn 1.5 (ridge)", run_id="demand-r3"))
    v3 = [e for e in r3["events"] if e["kind"] == "version.registered"][0]["payload"]["version"]
    p = track(maya.propose("demand"))
    proposal = [e for e in p["events"] if e["kind"] == "promotion.proposed"][0]["payload"]
    assert proposal["challenger"] == v3 and proposal["passed"] is False, proposal
    try:
        maya.approve(proposal["proposal_id"], notes="mine")
        raise AssertionError("maya approved her own proposal")
    except PledgeError as e:
        assert e.status == 403 and e.rule in ("four_eyes", "role.not_allowed"), e
    try:
        colby.approve(proposal["proposal_id"], notes="looks fine")
        raise AssertionError("failed gates were approved without an override")
    except PledgeError as e:
        assert e.status in (403, 409) and e.rule is not None, e
    track(colby.approve(proposal["proposal_id"], notes="same rows, fewer large misses",
                        override_reason="rmse matters more this quarter"))
    assert maya.champion("demand")["version"] == v3
    assert maya.verify()["ok"] is True

    print(json.dumps({
        "ok": True,
        "sent": sent,
        "key_ids": {"maya": maya.key.key_id, "colby": colby.key.key_id},
        "champion": v3,
        "canonical_cases": canonical_cases,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
