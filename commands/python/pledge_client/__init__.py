"""Pledge's Python client: sign commands with your own key and send them to `pledge serve`.

    from pledge_client import Client
    pledge = Client()   # PLEDGE_SERVER, PLEDGE_IDENTITY and PLEDGE_HOME, as the CLI reads them
    pledge.record_run("demand", metrics={"mae": 11.5, "rmse": 15.2}, params=model.get_params(),
                      artifact="model.pkl", dataset="train.parquet", trainer="sklearn 1.5")

Every command is built exactly as the ledger's format says (docs/FORMAT.md sections 1, 2 and
5): RFC 8785 canonical JSON, a UUID v7 id, a six-digit UTC timestamp, a DSSE envelope whose
ed25519 signature covers the pre-authentication encoding. The private key never leaves this
process; the server checks the signature like any other.
"""

from .client import Client, PledgeError
from .signing import (
    PAYLOAD_TYPE,
    Key,
    canonical,
    file_digest,
    pae,
    sign_command,
    timestamp,
    uuid7,
)

__all__ = [
    "Client",
    "Key",
    "PledgeError",
    "PAYLOAD_TYPE",
    "canonical",
    "file_digest",
    "pae",
    "sign_command",
    "timestamp",
    "uuid7",
]
