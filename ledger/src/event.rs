//! The event envelope: what is stored, hashed, chained and exported.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::canonical::{self, Timestamp};
use crate::digest::Digest;
use crate::dsse::Envelope;

/// The version of the envelope format described in `docs/FORMAT.md`.
pub const FORMAT_VERSION: u32 = 2;

/// The largest canonical event Pledge writes or accepts, in bytes.
///
/// Keeps every sled value far below sled's blob threshold and bounds what one command can add.
pub const MAX_EVENT_BYTES: usize = 256 * 1024;

/// What an event is about: a model, and a segment of it where relevant.
#[derive(
    Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct Subject {
    /// The model name.
    pub model: String,
    /// The segment (department, store cluster...), `null` for the whole model.
    pub segment: Option<String>,
}

impl Subject {
    /// A whole-model subject.
    pub fn model(model: &str) -> Subject {
        Subject { model: model.to_string(), segment: None }
    }

    /// A segment subject.
    pub fn segment(model: &str, segment: &str) -> Subject {
        Subject { model: model.to_string(), segment: Some(segment.to_string()) }
    }

    /// Checks the names: 1 to 128 characters (Unicode scalar values, as JSON Schema's
    /// `maxLength` counts them), none a control character (Unicode category Cc).
    pub fn validate(&self) -> Result<(), String> {
        let ok = |s: &str| !s.is_empty() && s.chars().count() <= 128 && !s.chars().any(char::is_control);
        if !ok(&self.model) {
            return Err(format!(
                "model name `{}` must be 1-128 characters, none a control character",
                self.model.escape_debug()
            ));
        }
        if let Some(seg) = &self.segment {
            if !ok(seg) {
                return Err(format!(
                    "segment name `{}` must be 1-128 characters, none a control character",
                    seg.escape_debug()
                ));
            }
        }
        Ok(())
    }
}

/// Why an event exists: a signed command, or an earlier event that triggered it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Cause {
    /// The signed command, verbatim.
    Command(Envelope),
    /// The hash of the earlier event (possibly in the same append) that triggered this one.
    Event(Digest),
}

/// The event envelope. Its canonical JSON (RFC 8785) is what is stored and exported; its id is
/// the blake3 hash of those bytes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    /// Envelope format version ([`FORMAT_VERSION`]).
    pub format: u32,
    /// Position in the ledger, from 0 (genesis), without gaps.
    pub seq: u64,
    /// Hash of the event at `seq - 1`; `null` for genesis.
    pub prev: Option<Digest>,
    /// Past-tense event kind, e.g. `key.enrolled`.
    pub kind: String,
    /// Version of the payload schema for this kind.
    pub kind_version: u32,
    /// When the ledger recorded it (never earlier than the previous event's).
    pub recorded_at: Timestamp,
    /// The model/segment concerned, `null` for ledger-wide events.
    pub subject: Option<Subject>,
    /// The signed command or triggering event.
    pub cause: Cause,
    /// Kind-specific content.
    pub payload: Value,
}

impl Event {
    /// Canonical bytes (RFC 8785).
    pub fn canonical_bytes(&self) -> Result<Vec<u8>, serde_json::Error> {
        canonical::to_vec(self)
    }

    /// The signed command envelope that caused this event, if any.
    pub fn command_envelope(&self) -> Option<&Envelope> {
        match &self.cause {
            Cause::Command(e) => Some(e),
            Cause::Event(_) => None,
        }
    }
}

/// An event with its canonical bytes and hash.
#[derive(Clone, PartialEq)]
pub struct RecordedEvent {
    /// The event id: blake3 of `bytes`.
    pub hash: Digest,
    /// The decoded event.
    pub event: Event,
    /// The canonical bytes, exactly as stored.
    pub bytes: Vec<u8>,
}

impl std::fmt::Debug for RecordedEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordedEvent")
            .field("seq", &self.event.seq)
            .field("kind", &self.event.kind)
            .field("hash", &self.hash)
            .field("bytes", &String::from_utf8_lossy(&self.bytes))
            .finish()
    }
}

impl RecordedEvent {
    /// The event's sequence number.
    pub fn seq(&self) -> u64 {
        self.event.seq
    }

    /// Decodes stored bytes, checking that they are canonical and hash to `hash` when given.
    pub fn decode(bytes: Vec<u8>) -> Result<RecordedEvent, String> {
        let hash = Digest::of(&bytes);
        Self::decode_hashed(bytes, hash)
    }

    /// [`RecordedEvent::decode`] of bytes whose hash the caller has just computed.
    pub(crate) fn decode_hashed(bytes: Vec<u8>, hash: Digest) -> Result<RecordedEvent, String> {
        let event: Event = serde_json::from_slice(&bytes).map_err(|e| format!("event is not valid: {e}"))?;
        let again = event.canonical_bytes().map_err(|e| format!("event cannot be re-encoded: {e}"))?;
        if again != bytes {
            return Err("event bytes are not in canonical form (RFC 8785)".into());
        }
        Ok(RecordedEvent { hash, event, bytes })
    }
}

impl RecordedEvent {
    /// Decodes stored bytes and hashes them, without checking that they are canonical (which
    /// costs a re-encoding): for reads of a store whose hashes and links are checked anyway.
    pub fn decode_unchecked(bytes: Vec<u8>) -> Result<RecordedEvent, String> {
        let hash = Digest::of(&bytes);
        Self::decode_unchecked_hashed(bytes, hash)
    }

    /// [`RecordedEvent::decode_unchecked`] of bytes whose hash the caller has just computed.
    pub(crate) fn decode_unchecked_hashed(bytes: Vec<u8>, hash: Digest) -> Result<RecordedEvent, String> {
        let event: Event = serde_json::from_slice(&bytes).map_err(|e| format!("event is not valid: {e}"))?;
        Ok(RecordedEvent { hash, event, bytes })
    }
}

/// What a decide step produces: an event without its position, time and hash, which the
/// store assigns when it appends.
#[derive(Clone, Debug, PartialEq)]
pub struct EventDraft {
    /// Past-tense kind.
    pub kind: String,
    /// Payload schema version.
    pub kind_version: u32,
    /// Model/segment, if any.
    pub subject: Option<Subject>,
    /// Why it exists.
    pub cause: DraftCause,
    /// Kind-specific content.
    pub payload: Value,
}

/// The cause of a draft. A decision's drafts form one **run** (`docs/FORMAT.md`, section 3):
/// the first is caused by the command, every later one by an earlier draft of the same run.
#[derive(Clone, Debug, PartialEq)]
pub enum DraftCause {
    /// The command being decided: the first draft, and only the first.
    ThisCommand,
    /// An earlier draft of the same decision, by index (e.g. a promotion caused by the
    /// evaluation recorded just before it, in the same atomic append).
    EarlierDraft(usize),
}

impl EventDraft {
    /// A version-1 draft caused by the command being decided.
    pub fn new(kind: &str, subject: Option<Subject>, payload: Value) -> EventDraft {
        EventDraft {
            kind: kind.to_string(),
            kind_version: 1,
            subject,
            cause: DraftCause::ThisCommand,
            payload,
        }
    }
}
