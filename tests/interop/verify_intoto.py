#!/usr/bin/env python3
"""Verify the in-toto attestations of `pledge export --format in-toto`, independently of Pledge.

Written from the specifications, with the in-toto project's own libraries: DSSE signatures
are checked by `securesystemslib` (its DSSE implementation and ed25519 key), the Statement
v1 and the SLSA Provenance v1 predicate are parsed strictly (an unknown field is an error) into
the `in-toto-attestation` package's protobuf messages and validated with its rules.

Usage:
    verify_intoto.py DIR --public-key HEX [--artifacts DIR] [--promotion-schema FILE]

The public key is the log key's raw ed25519 public key in hex, taken from the ledger (its
`key.enrolled` event), never from the export being checked. Exit 0 and a JSON summary when
every attestation verifies; exit 1 and the first problem otherwise.
"""

import argparse
import glob
import hashlib
import json
import os
import sys

from google.protobuf import json_format
from in_toto_attestation.predicates.provenance.v1 import provenance_pb2
from in_toto_attestation.v1 import statement_pb2
from in_toto_attestation.v1.statement import Statement
from securesystemslib.dsse import Envelope
from securesystemslib.signer import SSlibKey

PAYLOAD_TYPE = "application/vnd.in-toto+json"
PROVENANCE = "https://slsa.dev/provenance/v1"
PROMOTION = "https://pledge.invalid/attestation/promotion/v1"


class Problem(Exception):
    pass


def check_envelope(path, line, key):
    try:
        doc = json.loads(line)
    except json.JSONDecodeError as e:
        raise Problem(f"{path}: not JSON: {e}")
    if set(doc) != {"payload", "payloadType", "signatures"}:
        raise Problem(f"{path}: envelope members are {sorted(doc)}")
    if doc["payloadType"] != PAYLOAD_TYPE:
        raise Problem(f"{path}: payloadType is {doc['payloadType']!r}")
    env = Envelope.from_dict(doc)
    # securesystemslib matches signatures to keys by keyid (a hint, in DSSE): the key gets the
    # envelope's keyid, and the signature decides.
    if len(env.signatures) != 1:
        raise Problem(f"{path}: {len(env.signatures)} signatures, expected 1")
    (sig_keyid,) = env.signatures
    k = SSlibKey(keyid=sig_keyid, keytype="ed25519", scheme="ed25519", keyval={"public": key})
    try:
        env.verify([k], 1)
    except Exception as e:  # VerificationError
        raise Problem(f"{path}: the DSSE signature does not verify with the log key: {e}")
    try:
        return json.loads(env.payload)
    except json.JSONDecodeError as e:
        raise Problem(f"{path}: the payload is not JSON: {e}")


def check_statement(path, stmt_json, artifacts, promotion_schema):
    pb = statement_pb2.Statement()
    try:
        json_format.Parse(json.dumps(stmt_json), pb)
    except json_format.ParseError as e:
        raise Problem(f"{path}: not an in-toto Statement v1: {e}")
    try:
        Statement.copy_from_pb(pb).validate()
    except ValueError as e:
        raise Problem(f"{path}: invalid Statement: {e}")
    ptype = stmt_json["predicateType"]
    pred = stmt_json["predicate"]
    if ptype == PROVENANCE:
        p = provenance_pb2.Provenance()
        try:
            json_format.ParseDict(pred, p)
        except json_format.ParseError as e:
            raise Problem(f"{path}: not an SLSA Provenance v1 predicate: {e}")
        if not p.build_definition.build_type:
            raise Problem(f"{path}: buildDefinition.buildType is required")
        if not p.run_details.builder.id:
            raise Problem(f"{path}: runDetails.builder.id is required")
        if not p.build_definition.resolved_dependencies:
            raise Problem(f"{path}: no resolvedDependencies (the dataset)")
    elif ptype == PROMOTION:
        if promotion_schema is not None:
            import jsonschema

            try:
                jsonschema.validate(pred, promotion_schema)
            except jsonschema.ValidationError as e:
                raise Problem(f"{path}: the promotion predicate does not validate: {e.message}")
    else:
        raise Problem(f"{path}: unexpected predicateType {ptype!r}")
    # Subjects: the artifact's sha256 and blake3 name the file the ledger holds.
    for s in stmt_json["subject"]:
        d = s["digest"]
        if "blake3" not in d:
            raise Problem(f"{path}: subject {s['name']} has no blake3 digest")
        if artifacts is not None:
            f = os.path.join(artifacts, d["blake3"] + ".json")
            if os.path.exists(f):
                with open(f, "rb") as fh:
                    sha = hashlib.sha256(fh.read()).hexdigest()
                if d.get("sha256") != sha:
                    raise Problem(f"{path}: subject {s['name']}: sha256 {d.get('sha256')} is not the artifact's {sha}")
    return ptype


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir")
    ap.add_argument("--public-key", required=True, help="the log key, raw ed25519 public key in hex")
    ap.add_argument("--artifacts", help="the ledger's artifacts directory, to check subjects' sha256")
    ap.add_argument("--promotion-schema", help="schemas/in-toto/promotion.v1.schema.json")
    a = ap.parse_args()
    schema = None
    if a.promotion_schema:
        with open(a.promotion_schema) as fh:
            schema = json.load(fh)
    counts = {PROVENANCE: 0, PROMOTION: 0}
    files = sorted(f for f in glob.glob(os.path.join(a.dir, "*.intoto.jsonl")) if not f.endswith("attestations.intoto.jsonl"))
    try:
        if not files:
            raise Problem(f"no attestations in {a.dir}")
        singles = []
        for f in files:
            with open(f) as fh:
                lines = fh.read().splitlines()
            if len(lines) != 1:
                raise Problem(f"{f}: {len(lines)} lines, expected one envelope")
            singles.append(lines[0])
            stmt = check_envelope(f, lines[0], a.public_key)
            counts[check_statement(f, stmt, a.artifacts, schema)] += 1
        bundle = os.path.join(a.dir, "attestations.intoto.jsonl")
        with open(bundle) as fh:
            blines = fh.read().splitlines()
        if sorted(blines) != sorted(singles):
            raise Problem(f"{bundle} does not hold exactly the single attestations")
    except Problem as p:
        print(json.dumps({"ok": False, "problem": str(p)}))
        return 1
    print(json.dumps({"ok": True, "verified": len(files), "provenance": counts[PROVENANCE], "promotion": counts[PROMOTION]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
