"""The HTTP client of `pledge serve`: signed commands in, the server's answers out."""

import datetime
import json
import os
import urllib.error
import urllib.parse
import urllib.request

from .signing import Key, file_digest, sign_command, timestamp


class PledgeError(Exception):
    """A refusal or failure answered by the server: `status` (HTTP), `rule` (the ledger rule
    that refused, e.g. `four_eyes`, or None), `message`. Nothing was written."""

    def __init__(self, status, message, rule=None, code=None):
        super().__init__(f"{rule + ': ' if rule else ''}{message} (HTTP {status})")
        self.status = status
        self.message = message
        self.rule = rule
        self.code = code


def _when(value):
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, datetime.datetime):
        return timestamp(value)
    raise TypeError("a time is a timezone-aware datetime or a FORMAT.md timestamp string")


class Client:
    """A client of one `pledge serve`, signing as one identity.

    `server` defaults to PLEDGE_SERVER, `identity` (a key name in `home`) to PLEDGE_IDENTITY,
    `home` to PLEDGE_HOME or ~/.config/pledge, `read_token` to PLEDGE_READ_TOKEN: the
    variables the `pledge` command line reads. Reads work without an identity.
    """

    def __init__(self, server=None, identity=None, home=None, read_token=None, key=None, timeout=60):
        server = server or os.environ.get("PLEDGE_SERVER")
        if not server:
            raise ValueError("no server: pass server='http://host:port' or set PLEDGE_SERVER (`pledge serve` prints it)")
        self.server = server.rstrip("/")
        identity = identity or os.environ.get("PLEDGE_IDENTITY")
        self.key = key or (Key.load(identity, home) if identity else None)
        self.read_token = read_token or os.environ.get("PLEDGE_READ_TOKEN")
        self.timeout = timeout
        self._ledger_id = None

    # -- HTTP ---------------------------------------------------------------------------------

    def _request(self, method, path, body=None):
        data = None
        headers = {"accept": "application/json"}
        if body is not None:
            data = json.dumps(body).encode()
            headers["content-type"] = "application/json"
        if self.read_token:
            headers["authorization"] = f"Bearer {self.read_token}"
        req = urllib.request.Request(self.server + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                err = json.loads(raw).get("error", {})
            except (ValueError, AttributeError):
                err = {"message": raw.decode(errors="replace") or e.reason}
            raise PledgeError(e.code, err.get("message", str(e.reason)), err.get("rule"), err.get("code")) from None

    def get(self, path, **query):
        """GET an API path (`/api/v1/...`) with query parameters; the JSON answer."""
        q = {k: v for k, v in query.items() if v is not None}
        if q:
            path += "?" + urllib.parse.urlencode(q)
        return self._request("GET", path)[1]

    @property
    def ledger_id(self):
        """The ledger's id (from genesis), which every command names."""
        if self._ledger_id is None:
            self._ledger_id = self.get("/api/v1/ledger")["ledger_id"]
            if not self._ledger_id:
                raise PledgeError(409, "the ledger has no genesis yet", "ledger.not_created")
        return self._ledger_id

    # -- commands -----------------------------------------------------------------------------

    def sign(self, kind, body, command_id=None, issued_at=None):
        """The DSSE envelope of command `kind` with `body`, signed by this client's key."""
        if self.key is None:
            raise ValueError("no key to sign with: pass identity='NAME' or set PLEDGE_IDENTITY")
        envelope, _ = sign_command(self.key, self.ledger_id, kind, body, command_id, _when(issued_at))
        return envelope

    def submit_envelope(self, envelope):
        """Sends a signed envelope; the server's answer (`events`, `duplicate`). Resending the
        same envelope is harmless: the answer is the original events, `duplicate` true."""
        return self._request("POST", "/api/v1/commands", envelope)[1]

    def submit(self, kind, body, command_id=None):
        """Signs `kind` + `body` and sends it; the server's answer."""
        return self.submit_envelope(self.sign(kind, body, command_id))

    def record_run(
        self,
        model,
        *,
        metrics,
        artifact,
        dataset,
        trainer,
        params=None,
        run_id=None,
        trigger="manual",
        segment=None,
        task=None,
        hypothesis_id=None,
        drift_alert_id=None,
        dataset_version=None,
        feature_set=None,
        code_version=None,
        started_at=None,
        finished_at=None,
        command_id=None,
    ):
        """Records a training run done here (`run.record`): the artifact and dataset files are
        hashed with blake3, the run's `metrics` (name -> number) and `params` (a JSON object)
        recorded, and the model version it produces registered. `run_id` defaults to
        `MODEL-<first 16 hex of the artifact's digest>`, so recording the same artifact twice is
        refused (`run.exists`) rather than duplicated. `task` ('classification', 'regression',
        'forecast') registers the model on its first run. Returns the server's answer; the new
        version is in `answer["events"]`, kind `version.registered`."""
        artifact_digest = file_digest(artifact)
        body = {
            "run_id": run_id or f"{model}-{artifact_digest[:16]}",
            "model": model,
            "task": task,
            "trigger": trigger,
            "hypothesis_id": hypothesis_id,
            "drift_alert_id": drift_alert_id,
            "dataset_digest": file_digest(dataset),
            "dataset_version": dataset_version,
            "feature_set": feature_set,
            "config_digest": None,
            "code_version": code_version,
            "trainer": trainer,
            "params": dict(params) if params is not None else {},
            "metrics": dict(metrics),
            "started_at": _when(started_at),
            "finished_at": _when(finished_at),
            "models": [{"segment": segment, "artifact_digest": artifact_digest, "metrics": dict(metrics), "baseline": None}],
        }
        return self.submit("run.record", body, command_id)

    def propose(self, model, challenger=None, segment=None):
        """Proposes promoting `challenger` (default: the best by the gates) over the champion
        (`arena.propose`); the answer holds the `promotion.proposed` event with its gates."""
        return self.submit("arena.propose", {"model": model, "segment": segment, "challenger": challenger})

    def approve(self, proposal_id, notes="", override_reason=None):
        """Approves a proposal (`arena.approve`; never your own: four eyes)."""
        return self.submit("arena.approve", {"proposal_id": proposal_id, "notes": notes, "override_reason": override_reason})

    def reject(self, proposal_id, reason):
        """Rejects a proposal with a reason (`arena.reject`)."""
        return self.submit("arena.reject", {"proposal_id": proposal_id, "reason": reason})

    def bootstrap_champion(self, model, version, reason="", segment=None):
        """Sets a model's first champion (`champion.bootstrap`, an approver's decision)."""
        return self.submit("champion.bootstrap", {"model": model, "version": version, "reason": reason, "segment": segment})

    # -- reads ----------------------------------------------------------------------------------

    def champions(self, model):
        """Every champion of `model` by segment, and its routing table."""
        return self.get(f"/api/v1/models/{urllib.parse.quote(model, safe='')}/champion")

    def champion(self, model, segment=None):
        """The champion serving `segment` of `model` (None: the whole model) as
        `{"model", "segment", "version", "metrics", "challengers"}`, or None if it has none."""
        for row in self.champions(model)["champions"]:
            if row["segment"] == segment:
                return row
        return None

    def versions(self, model):
        """The model's versions with their status and metrics."""
        return self.get(f"/api/v1/models/{urllib.parse.quote(model, safe='')}/versions")

    def verify(self):
        """Asks the server to verify its whole ledger (every event re-derived)."""
        return self.get("/api/v1/verify")
