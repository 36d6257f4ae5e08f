//! Ed25519 keys and key ids.

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::digest::{to_hex, Digest};

/// A key id: the blake3 digest of the 32 raw bytes of an ed25519 public key, as 64 hex characters.
///
/// # Examples
///
/// ```
/// use ledger::keys::SecretKey;
/// let key = SecretKey::from_seed([7; 32]);
/// let id = key.public().key_id();
/// assert_eq!(id.0, ledger::Digest::of(key.public().as_bytes()));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct KeyId(pub Digest);

impl std::fmt::Display for KeyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::str::FromStr for KeyId {
    type Err = crate::digest::ParseDigestError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse().map(KeyId)
    }
}

/// An ed25519 public key, serialised as 64 lowercase hex characters of its 32 raw bytes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    /// The key's id (see [`KeyId`]).
    pub fn key_id(&self) -> KeyId {
        KeyId(Digest::of(self.0.as_bytes()))
    }

    /// The 32 raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        self.0.as_bytes()
    }

    /// Parses a 32-byte key; refuses bytes that are not the canonical encoding of a curve point,
    /// and weak (small-order) keys, which could make a signature verify for many messages.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, String> {
        let vk = VerifyingKey::from_bytes(bytes)
            .map_err(|_| "public key is not a valid ed25519 point".to_string())?;
        // One key, one encoding: a y coordinate of p or more also decodes, to the point of
        // y - p, and would give the same key a second key id.
        if vk.to_edwards().compress().as_bytes() != bytes {
            return Err("public key is not the canonical encoding of its point".into());
        }
        if vk.is_weak() {
            return Err("public key is a weak (small-order) ed25519 key".into());
        }
        Ok(PublicKey(vk))
    }

    /// Verifies `sig` over `msg` with RFC 8032 strict rules (canonical `S`, no small-order `R`).
    pub fn verify_strict(&self, msg: &[u8], sig: &[u8]) -> bool {
        let Ok(sig) = ed25519_dalek::Signature::from_slice(sig) else {
            return false;
        };
        self.0.verify_strict(msg, &sig).is_ok()
    }
}

impl std::fmt::Display for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&to_hex(self.0.as_bytes()))
    }
}

impl std::str::FromStr for PublicKey {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        // A public key is 32 bytes, the same length as a digest, so the hex parser is shared.
        let d: Digest = s
            .parse()
            .map_err(|_| format!("`{s}` is not a public key: expected 64 lowercase hex characters"))?;
        PublicKey::from_bytes(&d.0)
    }
}

impl Serialize for PublicKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for PublicKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// An ed25519 private key. Never serialised by this crate except through [`SecretKey::seed`],
/// which key stores call explicitly.
pub struct SecretKey(SigningKey);

impl SecretKey {
    /// A fresh key from the operating system's random source.
    pub fn generate() -> Result<Self, getrandom::Error> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed)?;
        Ok(SecretKey::from_seed(seed))
    }

    /// The key whose RFC 8032 32-byte seed is `seed` (deterministic; used by tests and key files).
    pub fn from_seed(seed: [u8; 32]) -> Self {
        SecretKey(SigningKey::from_bytes(&seed))
    }

    /// The 32-byte seed, for writing a key file.
    pub fn seed(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// The matching public key.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    /// Signs `msg` (ed25519 is deterministic: the same key and message give the same signature).
    pub fn sign(&self, msg: &[u8]) -> [u8; 64] {
        self.0.sign(msg).to_bytes()
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretKey(public {})", self.public())
    }
}
