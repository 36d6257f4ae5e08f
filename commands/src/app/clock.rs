//! The reproducible clock and command ids (`PLEDGE_FIXED_TIME`), and new commands stamped by
//! it or by the wall clock.

use std::sync::Arc;

use ledger::canonical::{Clock, Timestamp};
use ledger::Command;
use serde_json::Value;

use super::failure::{Failure, INVALID_INPUT};

/// The environment variable that makes a run reproducible: see [`Reproducible`].
pub const FIXED_TIME_ENV: &str = "PLEDGE_FIXED_TIME";

/// Reproducible runs, for golden files, tests and documentation: when `PLEDGE_FIXED_TIME` holds
/// an RFC 3339 instant, the clock starts there (or one second after the ledger's head, if that
/// is later) and advances one second per reading, and command and ledger ids are derived from
/// the ledger, its head and the command instead of drawn at random. Given the same keys and the
/// same commands, the same ledger results, byte for byte. Never set it in production: ids
/// become predictable and times fictitious (verification still holds; nothing else changes).
#[derive(Debug)]
pub struct Reproducible {
    start: i64,
    next: std::sync::atomic::AtomicI64,
}

impl Reproducible {
    /// The fixed start from the environment, if it is set.
    pub fn from_env() -> Result<Option<Arc<Reproducible>>, Failure> {
        let Some(v) = std::env::var_os(FIXED_TIME_ENV) else { return Ok(None) };
        let s = v.to_string_lossy();
        let t = chrono::DateTime::parse_from_rfc3339(&s).map_err(|e| {
            Failure::new(INVALID_INPUT, format!("{FIXED_TIME_ENV}=`{s}` is not an RFC 3339 time: {e}"))
                .hint(format!("unset {FIXED_TIME_ENV}, or write it like 2026-01-01T00:00:00Z"))
        })?;
        let micros = Timestamp::from_datetime(t.with_timezone(&chrono::Utc)).micros();
        Ok(Some(Arc::new(Reproducible { start: micros, next: std::sync::atomic::AtomicI64::new(micros) })))
    }

    /// The time the next reading will return, without advancing (a command's `issued_at`, so
    /// that it and the event recording it carry the same time).
    pub fn peek(&self) -> Timestamp {
        let m = self.next.load(std::sync::atomic::Ordering::SeqCst);
        Timestamp::from_datetime(chrono::DateTime::from_timestamp_micros(m).unwrap_or_default())
    }

    /// Sets the clock as a new invocation finds it for a head recorded at `head_at`: the fixed
    /// start, or one second after the head if that is later. Every process that appends (an
    /// invocation when it opens the ledger, a remote client after each answer, a server before
    /// each commit, so that a refused command leaves no trace) reads the same time for the
    /// same head.
    pub fn restart(&self, head_at: Option<Timestamp>) {
        let after = head_at.map_or(self.start, |t| t.micros() + 1_000_000);
        self.next.store(after.max(self.start), std::sync::atomic::Ordering::SeqCst);
    }

    /// A UUID v7 at `at` whose random bits are derived from `parts`.
    pub fn uuid(at: Timestamp, parts: &[&[u8]]) -> uuid::Uuid {
        let mut buf = Vec::new();
        for p in parts {
            buf.extend_from_slice(&(p.len() as u64).to_le_bytes());
            buf.extend_from_slice(p);
        }
        let digest = ledger::Digest::of(&buf);
        let mut random = [0u8; 10];
        random.copy_from_slice(&digest.0[..10]);
        let ms = u64::try_from(at.micros() / 1000).unwrap_or(0);
        uuid::Builder::from_unix_timestamp_millis(ms, &random).into_uuid()
    }
}

impl Clock for Reproducible {
    fn now(&self) -> Timestamp {
        let m = self.next.fetch_add(1_000_000, std::sync::atomic::Ordering::SeqCst);
        Timestamp::from_datetime(chrono::DateTime::from_timestamp_micros(m).unwrap_or_default())
    }
}

/// A new command for ledger `id` whose head is `head`: a fresh UUID v7 and the wall clock, or,
/// in a reproducible run (`clock` given), an id derived from the ledger's head and the command,
/// and the reproducible clock's time.
pub fn new_command(
    id: uuid::Uuid,
    head: Option<ledger::Digest>,
    clock: Option<&Reproducible>,
    kind: &str,
    body: Value,
) -> Result<Command, Failure> {
    let Some(clock) = clock else {
        return Ok(Command::new(id, Timestamp::from_datetime(chrono::Utc::now()), kind, body));
    };
    let at = clock.peek();
    let head = head.map(|h| h.0).unwrap_or([0; 32]);
    let body_bytes = serde_json::to_vec(&body).map_err(Failure::internal)?;
    let cid = Reproducible::uuid(at, &[id.as_bytes(), &head, kind.as_bytes(), &body_bytes]);
    Ok(Command { id: cid, ledger: id, issued_at: at, kind: kind.to_string(), body })
}
