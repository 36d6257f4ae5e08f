//! Checkpoints of the Merkle tree as C2SP signed notes: `tlog-checkpoint` text signed with
//! Ed25519 (`signed-note`, signature type `0x01`) by the ledger's log key, and cosigned by
//! witnesses with timestamped Ed25519 cosignatures (`tlog-cosignature`, type `0x04`);
//! verifier keys (`vkey`s); and C2SP `tlog-proof` files. `docs/FORMAT.md`, section 16.
//!
//! ```
//! use ledger::keys::SecretKey;
//! use ledger::note::{Checkpoint, NoteKey};
//! let log = SecretKey::from_seed([7; 32]);
//! let cp = Checkpoint { origin: "pledge/example".into(), size: 3, root: [9; 32] };
//! let key = NoteKey::log(&cp.origin, log.public());
//! let note = cp.sign(&log);
//! assert_eq!(key.verify(&note).unwrap(), None);
//! assert_eq!(Checkpoint::from_note(&note).unwrap(), cp);
//! ```

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use sha2::{Digest as _, Sha256};

use crate::keys::{PublicKey, SecretKey};
use crate::merkle::Hash;

/// The most signature lines a note may carry (C2SP asks verifiers to accept at least 16).
pub const MAX_SIGNATURES: usize = 64;

/// Signature type of a log's Ed25519 note signature.
pub const TYPE_ED25519: u8 = 0x01;
/// Signature type of a timestamped Ed25519 cosignature.
pub const TYPE_COSIGNATURE: u8 = 0x04;

/// The origin of a Pledge ledger's checkpoints: `pledge/<ledger id>`.
pub fn origin(ledger_id: &uuid::Uuid) -> String {
    format!("pledge/{ledger_id}")
}

/// One signature line: `— <name> base64(key id || signature)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signature {
    /// The key name.
    pub name: String,
    /// The 4-byte key id.
    pub key_id: [u8; 4],
    /// What follows the key id: an Ed25519 signature, or a timestamp and one.
    pub bytes: Vec<u8>,
}

impl Signature {
    /// The line, without its newline.
    pub fn line(&self) -> String {
        let mut b = self.key_id.to_vec();
        b.extend_from_slice(&self.bytes);
        format!("\u{2014} {} {}", self.name, STANDARD.encode(b))
    }
}

/// A signed note: text ending in a newline, a blank line, one or more signature lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedNote {
    /// The signed text, final newline included.
    pub text: String,
    /// The signature lines, in order.
    pub signatures: Vec<Signature>,
}

impl std::fmt::Display for SignedNote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)?;
        f.write_str("\n")?;
        for s in &self.signatures {
            writeln!(f, "{}", s.line())?;
        }
        Ok(())
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && !name.contains(char::is_whitespace) && !name.contains('+')
}

impl SignedNote {
    /// Parses a note. Refuses anything that is not UTF-8 text without control characters
    /// other than newline, with a text, a blank line and 1 to [`MAX_SIGNATURES`] well-formed
    /// signature lines.
    pub fn parse(note: &str) -> Result<SignedNote, String> {
        if note.chars().any(|c| c.is_ascii_control() && c != '\n') {
            return Err("a signed note holds no control character but newline".into());
        }
        if !note.ends_with('\n') {
            return Err("a signed note ends with a newline".into());
        }
        let split = note.rfind("\n\n").ok_or("a signed note has a blank line before its signatures")?;
        let text = &note[..split + 1];
        let mut signatures = Vec::new();
        for line in note[split + 2..].lines() {
            let rest = line
                .strip_prefix("\u{2014} ")
                .ok_or_else(|| format!("`{line}` is not a signature line (`— name signature`)"))?;
            let (name, sig) = rest.split_once(' ').ok_or_else(|| format!("`{line}` has no signature"))?;
            if !valid_name(name) {
                return Err(format!("`{name}` is not a key name"));
            }
            let raw =
                STANDARD.decode(sig).map_err(|e| format!("signature of `{name}` is not base64: {e}"))?;
            if raw.len() < 5 {
                return Err(format!("signature of `{name}` is too short"));
            }
            let mut key_id = [0u8; 4];
            key_id.copy_from_slice(&raw[..4]);
            signatures.push(Signature { name: name.to_string(), key_id, bytes: raw[4..].to_vec() });
        }
        if signatures.is_empty() {
            return Err("a signed note has at least one signature".into());
        }
        if signatures.len() > MAX_SIGNATURES {
            return Err(format!("a signed note has at most {MAX_SIGNATURES} signatures"));
        }
        Ok(SignedNote { text: text.to_string(), signatures })
    }

    /// Adds a signature line, unless the note already holds one from that key.
    pub fn add(&mut self, signature: Signature) {
        if !self.signatures.iter().any(|s| s.name == signature.name && s.key_id == signature.key_id) {
            self.signatures.push(signature);
        }
    }
}

/// The three lines of a `tlog-checkpoint`: origin, tree size, root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's origin (`pledge/<ledger id>`).
    pub origin: String,
    /// Leaves (events) in the tree.
    pub size: u64,
    /// The RFC 6962 root at that size.
    pub root: Hash,
}

impl Checkpoint {
    /// The note text: `origin\nsize\nbase64(root)\n`.
    pub fn text(&self) -> String {
        format!("{}\n{}\n{}\n", self.origin, self.size, STANDARD.encode(self.root))
    }

    /// Reads the text of a checkpoint note. Pledge writes no extension lines and accepts none.
    pub fn from_text(text: &str) -> Result<Checkpoint, String> {
        let lines: Vec<&str> =
            text.strip_suffix('\n').ok_or("a checkpoint ends with a newline")?.split('\n').collect();
        let [origin, size, root] = lines[..] else {
            return Err(format!("a checkpoint has 3 lines (origin, size, root), this one {}", lines.len()));
        };
        if origin.is_empty() {
            return Err("the checkpoint's origin is empty".into());
        }
        let parsed: u64 = size.parse().map_err(|_| format!("`{size}` is not a tree size"))?;
        if parsed.to_string() != size {
            return Err(format!("`{size}` is not a tree size in decimal without leading zeros"));
        }
        let raw = STANDARD.decode(root).map_err(|e| format!("the root is not base64: {e}"))?;
        let root: Hash = raw.try_into().map_err(|_| "the root is not 32 bytes".to_string())?;
        Ok(Checkpoint { origin: origin.to_string(), size: parsed, root })
    }

    /// The checkpoint a note carries (its signatures not checked).
    pub fn from_note(note: &SignedNote) -> Result<Checkpoint, String> {
        Checkpoint::from_text(&note.text)
    }

    /// Signs the checkpoint with the log key: a note signed with key name = origin.
    pub fn sign(&self, log: &SecretKey) -> SignedNote {
        let key = NoteKey::log(&self.origin, log.public());
        let text = self.text();
        let sig = log.sign(text.as_bytes());
        let key_id = key.id();
        SignedNote { text, signatures: vec![Signature { name: key.name, key_id, bytes: sig.to_vec() }] }
    }
}

/// A note verifier key: a name, a signature type and an Ed25519 public key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteKey {
    /// The key name in signature lines.
    pub name: String,
    /// [`TYPE_ED25519`] (a log) or [`TYPE_COSIGNATURE`] (a witness).
    pub kind: u8,
    /// The Ed25519 public key.
    pub public_key: PublicKey,
}

impl NoteKey {
    /// A log key: signs checkpoints, named by the log's origin.
    pub fn log(origin: &str, public_key: PublicKey) -> NoteKey {
        NoteKey { name: origin.to_string(), kind: TYPE_ED25519, public_key }
    }

    /// A witness key: cosigns checkpoints.
    pub fn witness(name: &str, public_key: PublicKey) -> NoteKey {
        NoteKey { name: name.to_string(), kind: TYPE_COSIGNATURE, public_key }
    }

    /// `SHA-256(name || 0x0A || type || public key)[:4]`.
    pub fn id(&self) -> [u8; 4] {
        let mut h = Sha256::new();
        h.update(self.name.as_bytes());
        h.update([0x0a, self.kind]);
        h.update(self.public_key.as_bytes());
        let d = h.finalize();
        [d[0], d[1], d[2], d[3]]
    }

    /// The vkey: `name+hex(key id)+base64(type || public key)`.
    pub fn vkey(&self) -> String {
        let mut material = vec![self.kind];
        material.extend_from_slice(self.public_key.as_bytes());
        let id: String = self.id().iter().map(|b| format!("{b:02x}")).collect();
        format!("{}+{id}+{}", self.name, STANDARD.encode(material))
    }

    /// Parses a vkey; its key id must be the one its name, type and key give.
    pub fn parse_vkey(vkey: &str) -> Result<NoteKey, String> {
        let mut parts = vkey.trim().splitn(3, '+');
        let (Some(name), Some(id), Some(material)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(format!("`{vkey}` is not a vkey (name+hex key id+base64 key)"));
        };
        if !valid_name(name) {
            return Err(format!("`{name}` is not a key name"));
        }
        let raw = STANDARD.decode(material).map_err(|e| format!("the vkey's key is not base64: {e}"))?;
        let (kind, key) = raw.split_first().ok_or("the vkey holds no key")?;
        if ![TYPE_ED25519, TYPE_COSIGNATURE].contains(kind) {
            return Err(format!(
                "signature type {kind:#04x} is not Ed25519 (0x01) or an Ed25519 cosignature (0x04)"
            ));
        }
        let key: [u8; 32] = key.try_into().map_err(|_| "an Ed25519 key is 32 bytes".to_string())?;
        let k = NoteKey { name: name.to_string(), kind: *kind, public_key: PublicKey::from_bytes(&key)? };
        let want: String = k.id().iter().map(|b| format!("{b:02x}")).collect();
        if id != want {
            return Err(format!("the vkey's key id `{id}` is not `{want}`, the id of its name and key"));
        }
        Ok(k)
    }

    /// Verifies this key's signature on the note: `Ok(None)` for a log signature, the
    /// cosignature's time for a witness. Fails when the note has no signature by this key
    /// or it does not verify (a signature from another key is ignored, as C2SP requires).
    pub fn verify(&self, note: &SignedNote) -> Result<Option<u64>, String> {
        let id = self.id();
        let sig = note
            .signatures
            .iter()
            .find(|s| s.name == self.name && s.key_id == id)
            .ok_or_else(|| format!("the note carries no signature by `{}`", self.name))?;
        match self.kind {
            TYPE_ED25519 => {
                if self.public_key.verify_strict(note.text.as_bytes(), &sig.bytes) {
                    Ok(None)
                } else {
                    Err(format!("the signature of `{}` does not verify", self.name))
                }
            }
            _ => {
                let (time, ed) = sig.bytes.split_at_checked(8).ok_or("a cosignature is 72 bytes")?;
                let time = u64::from_be_bytes(time.try_into().map_err(|_| "a cosignature is 72 bytes")?);
                if ed.len() != 64 || time > i64::MAX as u64 {
                    return Err(format!("the cosignature of `{}` is malformed", self.name));
                }
                if self.public_key.verify_strict(&cosigned_message(&note.text, time), ed) {
                    Ok(Some(time))
                } else {
                    Err(format!("the cosignature of `{}` does not verify", self.name))
                }
            }
        }
    }
}

/// What a cosignature signs: `cosignature/v1\ntime <t>\n` and the checkpoint text.
fn cosigned_message(text: &str, time: u64) -> Vec<u8> {
    format!("cosignature/v1\ntime {time}\n{text}").into_bytes()
}

/// A witness's cosignature of a checkpoint note's text at POSIX time `time`.
pub fn cosign(text: &str, name: &str, witness: &SecretKey, time: u64) -> Signature {
    let key = NoteKey::witness(name, witness.public());
    let mut bytes = time.to_be_bytes().to_vec();
    bytes.extend_from_slice(&witness.sign(&cosigned_message(text, time)));
    Signature { name: name.to_string(), key_id: key.id(), bytes }
}

/// The first line of a C2SP `tlog-proof`.
pub const TLOG_PROOF_HEADER: &str = "c2sp.org/tlog-proof@v1";

/// A C2SP `tlog-proof`: an entry's index, its inclusion proof, the signed checkpoint it
/// leads to, and opaque extra data (Pledge puts the event's canonical bytes there).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlogProof {
    /// The extra data.
    pub extra: Option<Vec<u8>>,
    /// The entry's index (the event's sequence number).
    pub index: u64,
    /// The inclusion proof, from the leaf's sibling up.
    pub proof: Vec<Hash>,
    /// The checkpoint, with its signatures.
    pub checkpoint: SignedNote,
}

impl std::fmt::Display for TlogProof {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "{TLOG_PROOF_HEADER}")?;
        if let Some(extra) = &self.extra {
            writeln!(f, "extra {}", STANDARD.encode(extra))?;
        }
        writeln!(f, "index {}", self.index)?;
        for h in &self.proof {
            writeln!(f, "{}", STANDARD.encode(h))?;
        }
        writeln!(f)?;
        write!(f, "{}", self.checkpoint)
    }
}

impl TlogProof {
    /// Parses a `.tlog-proof` file.
    pub fn parse(text: &str) -> Result<TlogProof, String> {
        let (head, note) =
            text.split_once("\n\n").ok_or("a tlog proof has a blank line before its checkpoint")?;
        let mut lines = head.split('\n');
        if lines.next() != Some(TLOG_PROOF_HEADER) {
            return Err(format!("a tlog proof starts with `{TLOG_PROOF_HEADER}`"));
        }
        let mut line = lines.next().ok_or("a tlog proof has an `index` line")?;
        let extra = match line.strip_prefix("extra ") {
            Some(b64) => {
                let bytes = STANDARD.decode(b64).map_err(|e| format!("`extra` is not base64: {e}"))?;
                line = lines.next().ok_or("a tlog proof has an `index` line")?;
                Some(bytes)
            }
            None => None,
        };
        let index = line.strip_prefix("index ").ok_or("a tlog proof has an `index` line")?;
        let parsed: u64 = index.parse().map_err(|_| format!("`{index}` is not an index"))?;
        if parsed.to_string() != index {
            return Err(format!("`{index}` is not an index in decimal without leading zeros"));
        }
        let proof = lines
            .map(|l| {
                let raw = STANDARD.decode(l).map_err(|e| format!("proof line `{l}` is not base64: {e}"))?;
                raw.try_into().map_err(|_| format!("proof line `{l}` is not a 32-byte hash"))
            })
            .collect::<Result<Vec<Hash>, String>>()?;
        Ok(TlogProof { extra, index: parsed, proof, checkpoint: SignedNote::parse(note)? })
    }
}
