//! What every ledger subcommand shares: where the ledger is, who is signing, where their keys
//! live, and how results are printed and mapped to exit codes.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ledger::canonical::{SystemClock, Timestamp};
use ledger::keys::SecretKey;
use ledger::{Command, ExpectedHead, Ledger, RecordedEvent, SubmitError};
use serde_json::{json, Value};

use crate::domain::PledgeDomain;
use crate::exit::{Failure, INVALID_INPUT, REJECTED};

/// Options shared by the ledger subcommands.
#[derive(Debug, Clone, clap::Args)]
pub struct Common {
    /// The ledger directory.
    #[arg(long, env = "PLEDGE_LEDGER", default_value = ".pledge", value_name = "PATH", global = true)]
    pub ledger: PathBuf,
    /// Who signs: the name of a key in PLEDGE_HOME.
    #[arg(long = "as", env = "PLEDGE_IDENTITY", value_name = "NAME", global = true)]
    pub identity: Option<String>,
    /// Where private keys live (files `keys/NAME.key`, mode 0600).
    #[arg(long, env = "PLEDGE_HOME", value_name = "DIR", global = true)]
    pub home: Option<PathBuf>,
    /// Print a JSON document instead of text.
    #[arg(long, global = true)]
    pub json: bool,
}

impl Common {
    /// The key directory: `--home`, PLEDGE_HOME, or `~/.config/pledge`.
    pub fn home(&self) -> Result<PathBuf, Failure> {
        if let Some(h) = &self.home {
            return Ok(h.clone());
        }
        let base = std::env::var_os("HOME")
            .map(PathBuf::from)
            .ok_or_else(|| Failure::new(INVALID_INPUT, "no home directory").hint("set PLEDGE_HOME"))?;
        Ok(base.join(".config").join("pledge"))
    }

    /// The signing identity's name.
    pub fn identity(&self) -> Result<&str, Failure> {
        self.identity.as_deref().ok_or_else(|| {
            Failure::new(INVALID_INPUT, "no identity to sign with")
                .hint("pass `--as NAME` or set PLEDGE_IDENTITY")
        })
    }

    /// Opens an existing ledger with its read models (never creates one).
    pub fn open(&self) -> Result<Ledger<PledgeDomain>, Failure> {
        require_ledger(&self.ledger)?;
        Ok(Ledger::open(&self.ledger, Arc::new(SystemClock), PledgeDomain::default())?)
    }

    /// Opens an existing ledger's store for reading raw events (never creates one).
    pub fn store(&self) -> Result<ledger::Store, Failure> {
        require_ledger(&self.ledger)?;
        Ok(ledger::Store::open(&self.ledger)?)
    }
}

/// Fails with exit 2 unless `dir` holds a ledger, so that a mistyped path is never created.
pub fn require_ledger(dir: &Path) -> Result<(), Failure> {
    if dir.join("db").exists() {
        return Ok(());
    }
    Err(Failure::new(INVALID_INPUT, format!("no ledger at `{}`", dir.display()))
        .hint("create one with `pledge init`, or pass `--ledger PATH` / set PLEDGE_LEDGER"))
}

/// A principal or key name: the same rules as the ledger's principals.
pub fn check_name(name: &str) -> Result<(), Failure> {
    ledger::trust::validate_principal(name).map_err(|e| Failure::new(INVALID_INPUT, e))
}

fn key_path(home: &Path, name: &str) -> PathBuf {
    home.join("keys").join(format!("{name}.key"))
}

/// Loads the private key `name` from `home`.
pub fn load_key(home: &Path, name: &str) -> Result<SecretKey, Failure> {
    check_name(name)?;
    let path = key_path(home, name);
    let text = std::fs::read_to_string(&path).map_err(|_| {
        Failure::new(INVALID_INPUT, format!("no key `{name}` in `{}`", home.join("keys").display()))
            .hint(format!("create it with `pledge keys new {name}`"))
    })?;
    let seed: ledger::Digest = text.trim().parse().map_err(|_| {
        Failure::new(
            INVALID_INPUT,
            format!("`{}` is not a Pledge key file (64 hex characters)", path.display()),
        )
    })?;
    Ok(SecretKey::from_seed(seed.0))
}

/// Creates a new private key `name` in `home`, readable only by its owner. Refuses to
/// overwrite an existing key.
pub fn create_key(home: &Path, name: &str) -> Result<SecretKey, Failure> {
    check_name(name)?;
    let dir = home.join("keys");
    std::fs::create_dir_all(&dir).map_err(Failure::internal)?;
    let path = key_path(home, name);
    let key = SecretKey::generate().map_err(|e| Failure::internal(anyhow::anyhow!("no randomness: {e}")))?;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(&path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            Failure::new(INVALID_INPUT, format!("key `{name}` already exists in `{}`", dir.display()))
                .hint("keys are never overwritten; pick another name")
        } else {
            Failure::internal(e)
        }
    })?;
    let hex: String = key.seed().iter().map(|b| format!("{b:02x}")).collect();
    f.write_all(format!("{hex}\n").as_bytes()).and_then(|_| f.sync_all()).map_err(Failure::internal)?;
    Ok(key)
}

/// Names of the keys in `home`.
pub fn list_keys(home: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(home.join("keys"))
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok()?.file_name().to_str()?.strip_suffix(".key").map(String::from))
        .collect();
    names.sort();
    names
}

/// Signs `kind` + `body` as the session's identity and appends it; maps refusals to exit codes
/// with a hint.
pub fn submit(common: &Common, kind: &str, body: Value) -> Result<Vec<RecordedEvent>, Failure> {
    submit_all(common, vec![(kind, body)])
}

/// Signs and appends several commands in order with one open of the ledger, stopping at the
/// first refusal (the commands before it stay appended, each being its own signed command).
pub fn submit_all(common: &Common, commands: Vec<(&str, Value)>) -> Result<Vec<RecordedEvent>, Failure> {
    let mut ledger = common.open()?;
    let who = common.identity()?;
    let key = load_key(&common.home()?, who)?;
    let ledger_id =
        ledger.trust().ledger_id().ok_or_else(|| Failure::new(INVALID_INPUT, "the ledger has no genesis"))?;
    if ledger.trust().key(&key.public().key_id()).is_none() {
        return Err(Failure::new(REJECTED, format!("key `{who}` is not enrolled in this ledger"))
            .hint(format!("an admin runs `pledge keys enroll {who} --public-key {}`", key.public())));
    }
    let mut events = vec![];
    for (kind, body) in commands {
        let cmd = Command::new(ledger_id, Timestamp::from_datetime(chrono::Utc::now()), kind, body);
        let env = cmd.sign(&key).map_err(Failure::internal)?;
        match ledger.submit(env, ExpectedHead::Any) {
            Ok(r) => events.extend(r.events),
            Err(SubmitError::Rejected(r)) => {
                return Err(Failure::new(REJECTED, format!("{} (rule `{}`)", r.message, r.rule)))
            }
            Err(SubmitError::Invalid(m)) => return Err(Failure::new(INVALID_INPUT, m)),
            Err(SubmitError::Store(e)) => return Err(e.into()),
            Err(e) => return Err(Failure::internal(e)),
        }
    }
    Ok(events)
}

/// Prints appended events: one line each, or a JSON document.
pub fn print_events(common: &Common, events: &[RecordedEvent]) {
    if common.json {
        println!("{}", json!({"ok": true, "events": events_json(events)}));
    } else {
        for e in events {
            println!("#{:<5} {:<24} {}", e.seq(), e.event.kind, projections::query::summarize(e));
        }
    }
}

/// Appended events as JSON: seq, hash, kind, subject, payload.
pub fn events_json(events: &[RecordedEvent]) -> Vec<Value> {
    events
        .iter()
        .map(|e| json!({"seq": e.seq(), "hash": e.hash, "kind": e.event.kind, "subject": e.event.subject, "payload": e.event.payload}))
        .collect()
}
