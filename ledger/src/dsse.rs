//! DSSE envelopes (Dead Simple Signing Envelope, as used by in-toto and Sigstore).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::keys::{KeyId, SecretKey};

/// The `payloadType` of every Pledge command envelope.
pub const COMMAND_PAYLOAD_TYPE: &str = "application/vnd.pledge.command.v1+json";

/// A DSSE envelope: the exact payload bytes (base64) and the signatures over their PAE encoding.
///
/// Pledge accepts exactly one signature per envelope; see `docs/FORMAT.md`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// What the payload is; for commands, [`COMMAND_PAYLOAD_TYPE`].
    #[serde(rename = "payloadType")]
    pub payload_type: String,
    /// The payload bytes, standard base64 with padding.
    pub payload: String,
    /// The signatures.
    pub signatures: Vec<EnvelopeSignature>,
}

/// One DSSE signature.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvelopeSignature {
    /// The signing key's id.
    pub keyid: KeyId,
    /// The 64-byte ed25519 signature, standard base64 with padding.
    pub sig: String,
}

/// DSSE's pre-authentication encoding:
/// `"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`, lengths in ASCII decimal bytes.
///
/// # Examples
///
/// ```
/// assert_eq!(ledger::dsse::pae("t", b"hi"), b"DSSEv1 1 t 2 hi");
/// ```
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!("DSSEv1 {} {} {} ", payload_type.len(), payload_type, payload.len()).into_bytes();
    out.extend_from_slice(payload);
    out
}

impl Envelope {
    /// Signs `payload` with `key`, producing a one-signature envelope.
    pub fn sign(payload_type: &str, payload: &[u8], key: &SecretKey) -> Envelope {
        let sig = key.sign(&pae(payload_type, payload));
        Envelope {
            payload_type: payload_type.to_string(),
            payload: STANDARD.encode(payload),
            signatures: vec![EnvelopeSignature { keyid: key.public().key_id(), sig: STANDARD.encode(sig) }],
        }
    }

    /// The decoded payload bytes. Fails on anything but canonical standard base64.
    pub fn payload_bytes(&self) -> Result<Vec<u8>, String> {
        STANDARD.decode(&self.payload).map_err(|e| format!("payload is not standard base64: {e}"))
    }

    /// The single signature this envelope must carry, decoded.
    pub fn single_signature(&self) -> Result<(KeyId, Vec<u8>), String> {
        match self.signatures.as_slice() {
            [s] => {
                let sig =
                    STANDARD.decode(&s.sig).map_err(|e| format!("signature is not standard base64: {e}"))?;
                if sig.len() != 64 {
                    return Err(format!("signature is {} bytes, expected 64", sig.len()));
                }
                Ok((s.keyid, sig))
            }
            [] => Err("envelope has no signature".into()),
            more => Err(format!("envelope has {} signatures, Pledge accepts exactly one", more.len())),
        }
    }
}
