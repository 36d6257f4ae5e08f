//! What every ledger subcommand shares: where the ledger is, who is signing, where their keys
//! live, and how results are printed and mapped to exit codes.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ledger::canonical::{Clock, SystemClock, Timestamp};
use ledger::dsse::Envelope;
use ledger::keys::SecretKey;
use ledger::{Command, ExpectedHead, Ledger, RecordedEvent, SubmitError};
use serde_json::{json, Value};

use crate::domain::PledgeDomain;
use crate::exit::{Failure, INTEGRITY, INVALID_INPUT, REJECTED};

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
    /// Work against a `pledge serve` at this address instead of opening the ledger: commands
    /// are still signed here, with the key in PLEDGE_HOME, and sent to the server.
    #[arg(long, env = "PLEDGE_SERVER", value_name = "URL", global = true)]
    pub server: Option<String>,
    /// The API's read token: sent to `--server`; required on reads by `pledge serve` when set.
    #[arg(long, env = "PLEDGE_READ_TOKEN", value_name = "TOKEN", global = true, hide_env_values = true)]
    pub read_token: Option<String>,
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

    /// Opens an existing ledger with its read models (never creates one). Refused in remote
    /// mode: the commands that call it need the ledger's directory.
    pub fn open(&self) -> Result<Ledger<PledgeDomain>, Failure> {
        self.local_only()?;
        require_ledger(&self.ledger)?;
        open_ledger(&self.ledger)
    }

    /// Opens an existing ledger's store without folding it, for the commands that must run on
    /// a damaged ledger too (`verify`, `show`, `export`). Refused in remote mode.
    pub fn open_store(&self) -> Result<ledger::Store, Failure> {
        self.local_only()?;
        require_ledger(&self.ledger)?;
        Ok(ledger::Store::open(&self.ledger)?)
    }

    /// Fails in remote mode, for the few commands that need the ledger's directory itself
    /// (model artifacts, exports, replays of the raw log).
    pub fn local_only(&self) -> Result<(), Failure> {
        match &self.server {
            None => Ok(()),
            Some(url) => Err(Failure::new(
                INVALID_INPUT,
                format!(
                    "this command needs the ledger's directory and cannot run against the server `{url}`"
                ),
            )
            .hint("run it on the host that holds the ledger, without --server / PLEDGE_SERVER")),
        }
    }

    /// The API client of remote mode, if `--server` is set.
    pub fn client(&self) -> Result<Option<crate::api::client::Client>, Failure> {
        self.server
            .as_deref()
            .map(|url| crate::api::client::Client::new(url, self.read_token.clone()))
            .transpose()
    }
}

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

/// Opens (or creates) the ledger in `dir` with the session's clock (see [`Reproducible`]).
pub fn open_ledger(dir: &Path) -> Result<Ledger<PledgeDomain>, Failure> {
    Ok(open_ledger_reproducible(dir)?.0)
}

/// [`open_ledger`], and the reproducible clock when `PLEDGE_FIXED_TIME` is set.
pub fn open_ledger_reproducible(
    dir: &Path,
) -> Result<(Ledger<PledgeDomain>, Option<Arc<Reproducible>>), Failure> {
    match Reproducible::from_env()? {
        None => Ok((Ledger::open(dir, Arc::new(SystemClock), PledgeDomain::default())?, None)),
        Some(r) => {
            let l = Ledger::open(dir, r.clone(), PledgeDomain::default())?;
            r.restart(l.store().head().map(|h| h.recorded_at));
            Ok((l, Some(r)))
        }
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

/// Signs and appends one typed domain command (locally or on the server).
pub fn submit_domain(
    common: &Common,
    command: crate::domain::DomainCommand,
) -> Result<Vec<RecordedEvent>, Failure> {
    submit(common, command.kind().as_str(), command.body())
}

/// Signs and appends several commands in order with one open of the ledger, stopping at the
/// first refusal (the commands before it stay appended, each being its own signed command).
pub fn submit_all(common: &Common, commands: Vec<(&str, Value)>) -> Result<Vec<RecordedEvent>, Failure> {
    if let Some(client) = common.client()? {
        return submit_remote(common, &client, commands);
    }
    common.local_only()?;
    require_ledger(&common.ledger)?;
    let (mut ledger, repro) = open_ledger_reproducible(&common.ledger)?;
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
        let head = ledger.store().head().map(|h| h.hash);
        let cmd = new_command(ledger_id, head, repro.as_deref(), kind, body)?;
        let env = cmd.sign(&key).map_err(Failure::internal)?;
        events.extend(ledger.submit(env, ExpectedHead::Any).map_err(refused)?.events);
    }
    Ok(events)
}

/// The failure (and exit code) for a command the append path did not take.
fn refused(e: SubmitError) -> Failure {
    match e {
        SubmitError::Rejected(r) => Failure::new(REJECTED, format!("{} (rule `{}`)", r.message, r.rule)),
        SubmitError::Invalid(m) => Failure::new(INVALID_INPUT, m),
        SubmitError::Store(e) => e.into(),
        e => Failure::internal(e),
    }
}

/// Appends a command signed elsewhere (`pledge sign`, another tool), through the same checks,
/// locally or through the server. A resend of an appended command answers its events again.
pub fn submit_signed(common: &Common, envelope: Envelope) -> Result<Vec<RecordedEvent>, Failure> {
    if let Some(client) = common.client()? {
        let answer =
            client.post("/api/v1/commands", &serde_json::to_value(&envelope).map_err(Failure::internal)?)?;
        return remote_events(&answer);
    }
    common.local_only()?;
    require_ledger(&common.ledger)?;
    let mut ledger = open_ledger(&common.ledger)?;
    Ok(ledger.submit(envelope, ExpectedHead::Any).map_err(refused)?.events)
}

/// The events of a server's answer to a command, each checked against its hash.
fn remote_events(answer: &Value) -> Result<Vec<RecordedEvent>, Failure> {
    let mut events = vec![];
    for e in answer["events"].as_array().into_iter().flatten() {
        let bytes = e["canonical"].as_str().unwrap_or("").as_bytes().to_vec();
        let ev = RecordedEvent::decode(bytes).map_err(|m| {
            Failure::new(INTEGRITY, format!("the server sent an event that does not decode: {m}"))
        })?;
        if e["hash"].as_str() != Some(ev.hash.to_string().as_str()) {
            return Err(Failure::new(
                INTEGRITY,
                format!("the server sent event {} with a hash that is not its bytes'", ev.seq()),
            ));
        }
        events.push(ev);
    }
    Ok(events)
}

/// [`submit_all`] against a server: the same checks and signatures, sent over HTTP. The events
/// come back with their canonical bytes and are checked against their hashes.
fn submit_remote(
    common: &Common,
    client: &crate::api::client::Client,
    commands: Vec<(&str, Value)>,
) -> Result<Vec<RecordedEvent>, Failure> {
    let who = common.identity()?;
    let key = load_key(&common.home()?, who)?;
    let info = client.get("/api/v1/ledger")?;
    let ledger_id: uuid::Uuid = serde_json::from_value(info["ledger_id"].clone()).map_err(|_| {
        Failure::new(INVALID_INPUT, format!("the server `{}` serves no ledger", client.base()))
    })?;
    let enrolled = client.get("/api/v1/keys")?;
    let key_id = key.public().key_id().to_string();
    let known = enrolled["enrolled"].as_array().into_iter().flatten().any(|k| k["key_id"] == json!(key_id));
    if !known {
        return Err(Failure::new(REJECTED, format!("key `{who}` is not enrolled in this ledger"))
            .hint(format!("an admin runs `pledge keys enroll {who} --public-key {}`", key.public())));
    }
    let repro = Reproducible::from_env()?;
    let mut head: Option<ledger::Digest> = info["head"]["hash"].as_str().and_then(|h| h.parse().ok());
    if let Some(r) = &repro {
        r.restart(info["head"]["recorded_at"].as_str().and_then(|t| Timestamp::parse_exact(t).ok()));
    }
    let mut events = vec![];
    for (kind, body) in commands {
        let env = new_command(ledger_id, head, repro.as_deref(), kind, body)?
            .sign(&key)
            .map_err(Failure::internal)?;
        let answer =
            client.post("/api/v1/commands", &serde_json::to_value(&env).map_err(Failure::internal)?)?;
        for ev in remote_events(&answer)? {
            head = Some(ev.hash);
            if let Some(r) = &repro {
                r.restart(Some(ev.event.recorded_at));
            }
            events.push(ev);
        }
    }
    Ok(events)
}

/// Prints appended events: one line each, or a JSON document.
pub fn print_events(common: &Common, events: &[RecordedEvent]) {
    let doc = json!({"ok": true, "events": crate::views::events_json(events)});
    print_event_doc(common, &doc);
}

/// Prints a document holding `events` (as [`crate::views::events_json`] writes them): one
/// line each, or the document itself with `--json`.
pub fn print_event_doc(common: &Common, doc: &Value) {
    if common.json {
        println!("{doc}");
        return;
    }
    for e in doc["events"].as_array().into_iter().flatten() {
        let summary = projections::query::summarize_parts(e["kind"].as_str().unwrap_or(""), &e["payload"]);
        println!(
            "#{:<5} {:<24} {}",
            e["seq"].as_u64().unwrap_or(0),
            e["kind"].as_str().unwrap_or(""),
            summary
        );
    }
}

/// Percent-encodes a path segment or query value.
pub fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Colours for human output: used only when the stream is a terminal and `NO_COLOR` is unset,
/// so pipes, files and `--json` never carry escape codes.
#[derive(Debug, Clone, Copy)]
pub enum Paint {
    /// Failures, red gates, critical alerts.
    Red,
    /// Green gates.
    Green,
    /// Warnings and hints.
    Yellow,
}

fn colour_on(stderr: bool) -> bool {
    use std::io::IsTerminal;
    if std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) {
        return false;
    }
    if stderr {
        std::io::stderr().is_terminal()
    } else {
        std::io::stdout().is_terminal()
    }
}

/// `text` in `paint` for standard output (plain when it is not a terminal).
pub fn paint(text: &str, paint: Paint) -> String {
    paint_for(false, text, paint)
}

/// `text` in `paint` for standard error (plain when it is not a terminal).
pub fn paint_err(text: &str, paint: Paint) -> String {
    paint_for(true, text, paint)
}

fn paint_for(stderr: bool, text: &str, paint: Paint) -> String {
    if !colour_on(stderr) {
        return text.to_string();
    }
    let code = match paint {
        Paint::Red => "31",
        Paint::Green => "32",
        Paint::Yellow => "33",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

/// A severity, coloured for standard output.
pub fn severity(sev: &str, width: usize) -> String {
    let padded = format!("{sev:<width$}");
    match sev {
        "critical" => paint(&padded, Paint::Red),
        "warning" => paint(&padded, Paint::Yellow),
        _ => padded,
    }
}

/// Answers a read: from the local ledger through `local`, or in remote mode from the API's
/// route `path`, which calls the same function. Returns the document `--json` prints.
pub fn ask(
    common: &Common,
    path: &str,
    local: impl FnOnce(&crate::views::View<'_>) -> crate::views::Answer,
) -> Result<Value, Failure> {
    if let Some(client) = common.client()? {
        return client.get(path);
    }
    let l = common.open()?;
    let view = crate::views::View {
        store: l.store(),
        trust: l.trust(),
        state: &l.domain().state,
        policy: l.domain().policy.as_deref(),
    };
    Ok(local(&view)?)
}
