//! Commands: what a person or a service asks the ledger to do, signed in a DSSE envelope.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::canonical::{self, Timestamp};
use crate::digest::Digest;
use crate::dsse::{Envelope, COMMAND_PAYLOAD_TYPE};
use crate::keys::{KeyId, PublicKey, SecretKey};

/// The bytes inside a command envelope's payload (canonical JSON when Pledge makes them; any
/// JSON of this shape is accepted, and the bytes are kept verbatim).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Command {
    /// Client-chosen UUID v7. Resending the same command is harmless; reusing the id for other
    /// bytes is rejected.
    pub id: Uuid,
    /// The ledger this command is meant for, so a signature cannot be replayed into another ledger.
    pub ledger: Uuid,
    /// When the client issued it (the client's clock; recorded, not trusted for ordering).
    pub issued_at: Timestamp,
    /// What to do, e.g. `key.enroll`.
    pub kind: String,
    /// The kind-specific arguments.
    pub body: Value,
}

impl Command {
    /// A command with a fresh UUID v7 id.
    pub fn new(ledger: Uuid, issued_at: Timestamp, kind: &str, body: Value) -> Command {
        Command { id: Uuid::now_v7(), ledger, issued_at, kind: kind.to_string(), body }
    }

    /// Canonical JSON bytes of the command.
    pub fn to_bytes(&self) -> Result<Vec<u8>, serde_json::Error> {
        canonical::to_vec(self)
    }

    /// Signs the canonical bytes with `key` into a DSSE envelope.
    ///
    /// # Examples
    ///
    /// ```
    /// use ledger::{Command, keys::SecretKey, canonical::Timestamp};
    /// let key = SecretKey::from_seed([1; 32]);
    /// let t = Timestamp::parse_exact("2026-01-01T00:00:00.000000Z").unwrap();
    /// let cmd = Command::new(uuid::Uuid::now_v7(), t, "role.grant",
    ///     serde_json::json!({"principal": "ana", "role": "approver"}));
    /// let env = cmd.sign(&key).unwrap();
    /// let parsed = ledger::SignedCommand::parse(env).unwrap();
    /// assert_eq!(parsed.command(), &cmd);
    /// ```
    pub fn sign(&self, key: &SecretKey) -> Result<Envelope, serde_json::Error> {
        Ok(Envelope::sign(COMMAND_PAYLOAD_TYPE, &self.to_bytes()?, key))
    }
}

/// A command envelope that is well formed (its signature is not yet checked: that needs the
/// ledger's keys, see [`crate::TrustState::authenticate`]).
///
/// The signature may be checked ahead of the append path, on another thread, with
/// [`SignedCommand::check_signature`]; the command then remembers the key it verified with,
/// and the append path does not verify it again if the ledger's key for `key_id` is that same
/// key. Nothing else can mark a command checked.
#[derive(Clone, Debug)]
///
/// Its parts are read-only: each is decoded from the envelope by [`SignedCommand::parse`], so
/// they always agree with it (the append path decides on `command()` and records `envelope()`).
pub struct SignedCommand {
    envelope: Envelope,
    command: Command,
    payload: Vec<u8>,
    digest: Digest,
    key_id: KeyId,
    signature: Vec<u8>,
    /// The key the signature was found valid with, by [`SignedCommand::check_signature`].
    checked_with: Option<PublicKey>,
}

/// Two commands are equal when their envelopes are (everything else is decoded from it),
/// whether or not either signature has been checked yet.
impl PartialEq for SignedCommand {
    fn eq(&self, other: &Self) -> bool {
        self.envelope == other.envelope
    }
}

impl SignedCommand {
    /// Checks the envelope's shape and decodes the command. Errors say what is malformed.
    pub fn parse(envelope: Envelope) -> Result<SignedCommand, String> {
        if envelope.payload_type != COMMAND_PAYLOAD_TYPE {
            return Err(format!(
                "payloadType is `{}`, expected `{COMMAND_PAYLOAD_TYPE}`",
                envelope.payload_type
            ));
        }
        let payload = envelope.payload_bytes()?;
        crate::canonical::check_unambiguous(&payload).map_err(|e| format!("payload: {e}"))?;
        let (key_id, signature) = envelope.single_signature()?;
        let command: Command =
            serde_json::from_slice(&payload).map_err(|e| format!("payload is not a Pledge command: {e}"))?;
        if command.id.get_version_num() != 7 {
            return Err(format!("command id `{}` is not a UUID v7", command.id));
        }
        if command.kind.is_empty() || command.kind.chars().count() > 64 {
            return Err("command kind must be 1 to 64 characters".into());
        }
        let digest = Digest::of(&payload);
        Ok(SignedCommand { envelope, command, payload, digest, key_id, signature, checked_with: None })
    }

    /// The envelope exactly as received; events embed it verbatim.
    pub fn envelope(&self) -> &Envelope {
        &self.envelope
    }

    /// The decoded command.
    pub fn command(&self) -> &Command {
        &self.command
    }

    /// The decoded command, taking it out of the envelope.
    pub fn into_command(self) -> Command {
        self.command
    }

    /// The exact payload bytes the signature covers.
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// blake3 of the payload: what "the same command" means for idempotency.
    pub fn digest(&self) -> Digest {
        self.digest
    }

    /// The key that claims to have signed it.
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// The signature bytes.
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    /// The bytes the signature covers (DSSE PAE of the payload).
    pub fn signed_bytes(&self) -> Vec<u8> {
        crate::dsse::pae(&self.envelope.payload_type, &self.payload)
    }

    /// Verifies the signature with `key` (RFC 8032 strict rules) and, if it holds, remembers
    /// that it did, so that [`SignedCommand::signature_valid`] with the same key costs nothing.
    /// Lets servers verify signatures in parallel before the one writer takes the command.
    /// `key` should be the ledger's key for `key_id`; a check with any other key is ignored
    /// by the append path, which then verifies again.
    pub fn check_signature(&mut self, key: &PublicKey) -> bool {
        let valid = key.verify_strict(&self.signed_bytes(), &self.signature);
        self.checked_with = valid.then_some(*key);
        valid
    }

    /// True if the signature is valid for `key`: checked earlier with that very key, or
    /// verified now.
    pub fn signature_valid(&self, key: &PublicKey) -> bool {
        self.checked_with.as_ref() == Some(key) || key.verify_strict(&self.signed_bytes(), &self.signature)
    }
}
