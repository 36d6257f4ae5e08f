"""Commands and envelopes, byte for byte as docs/FORMAT.md specifies them."""

import base64
import datetime
import math
import os
import secrets
import uuid
from pathlib import Path

import blake3
import nacl.signing
import rfc8785

#: The DSSE payload type of a Pledge command (FORMAT.md section 5).
PAYLOAD_TYPE = "application/vnd.pledge.command.v1+json"

_MAX_INT = 2**53 - 1


def canonical(value):
    """RFC 8785 canonical JSON bytes (FORMAT.md section 1). Refuses what the ledger refuses:
    NaN and infinities, integers beyond +-(2^53 - 1), keys that are not strings."""
    _check(value, "$")
    return rfc8785.dumps(value)


def _check(value, at):
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return
    if isinstance(value, int):
        if abs(value) > _MAX_INT:
            raise ValueError(f"{at}: the integer {value} is beyond +-(2^53 - 1), which the ledger refuses")
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{at}: {value} is not a finite number (JSON has no spelling for it)")
        return
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise ValueError(f"{at}: the key {k!r} is not a string")
            _check(v, f"{at}.{k}")
        return
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _check(v, f"{at}[{i}]")
        return
    raise ValueError(f"{at}: {type(value).__name__} is not JSON")


def timestamp(when=None):
    """`YYYY-MM-DDTHH:MM:SS.ffffffZ` in UTC, exactly six fractional digits (FORMAT.md section 2)."""
    when = when or datetime.datetime.now(datetime.timezone.utc)
    if when.tzinfo is None:
        raise ValueError("a naive datetime has no time zone; pass an aware one")
    return when.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def uuid7(unix_ms=None, rand=None):
    """A UUID version 7 (RFC 9562): 48 bits of Unix milliseconds, then random bits."""
    ms = int(datetime.datetime.now(datetime.timezone.utc).timestamp() * 1000) if unix_ms is None else unix_ms
    rand = secrets.token_bytes(10) if rand is None else rand
    b = bytearray(ms.to_bytes(6, "big") + bytes(rand))
    b[6] = 0x70 | (b[6] & 0x0F)
    b[8] = 0x80 | (b[8] & 0x3F)
    return str(uuid.UUID(bytes=bytes(b)))


def pae(payload_type, payload):
    """DSSE's pre-authentication encoding: what the signature covers."""
    t = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload)


def file_digest(path):
    """blake3 of a file's bytes, hex: how the ledger names datasets and artifacts."""
    h = blake3.blake3()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class Key:
    """An ed25519 signing key, as Pledge keeps it: `PLEDGE_HOME/keys/NAME.key`, the 32-byte seed
    in hex."""

    def __init__(self, seed, name=None):
        if len(seed) != 32:
            raise ValueError("an ed25519 seed is 32 bytes")
        self.name = name
        self._signing = nacl.signing.SigningKey(bytes(seed))

    @classmethod
    def load(cls, name, home=None):
        """The key NAME from `home`, else PLEDGE_HOME, else ~/.config/pledge (as the CLI does)."""
        home = Path(home or os.environ.get("PLEDGE_HOME") or Path.home() / ".config" / "pledge")
        path = home / "keys" / f"{name}.key"
        try:
            text = path.read_text().strip()
        except FileNotFoundError:
            raise FileNotFoundError(f"no key `{name}` in `{home / 'keys'}`: create it with `pledge keys new {name}`")
        try:
            seed = bytes.fromhex(text)
        except ValueError:
            seed = b""
        if len(seed) != 32:
            raise ValueError(f"`{path}` is not a Pledge key file (64 hex characters)")
        return cls(seed, name)

    @property
    def public_key(self):
        """The raw 32-byte public key."""
        return bytes(self._signing.verify_key)

    @property
    def key_id(self):
        """blake3 of the public key, hex (FORMAT.md section 5)."""
        return blake3.blake3(self.public_key).hexdigest()

    def sign(self, message):
        return self._signing.sign(message).signature


def sign_command(key, ledger_id, kind, body, command_id=None, issued_at=None):
    """The DSSE envelope (a dict) of the command `kind` with `body`, signed by `key`, and the
    command's payload bytes."""
    command = {
        "id": command_id or uuid7(),
        "ledger": str(ledger_id),
        "issued_at": issued_at or timestamp(),
        "kind": kind,
        "body": body,
    }
    payload = canonical(command)
    sig = key.sign(pae(PAYLOAD_TYPE, payload))
    envelope = {
        "payloadType": PAYLOAD_TYPE,
        "payload": base64.b64encode(payload).decode(),
        "signatures": [{"keyid": key.key_id, "sig": base64.b64encode(sig).decode()}],
    }
    return envelope, payload
