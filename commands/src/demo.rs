//! `pledge demo`: the README's main job. A real ledger, end to end, through the same append
//! path as every other command: genesis, people and a service enrolled and given roles,
//! commands that the trust rules reject (and that change nothing), an idempotent resend, a key
//! rotation, an export, and verification of the ledger, the export and a tampered copy.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ledger::canonical::{SystemClock, Timestamp};
use ledger::dsse::Envelope;
use ledger::export;
use ledger::keys::SecretKey;
use ledger::trust::base_policy;
use ledger::{Command, ExpectedHead, Ledger, NoDomain, RecordedEvent, SubmitError};
use serde_json::{json, Value};

use crate::exit::{Failure, INTERNAL};

/// Run the end-to-end scenario on a fresh ledger and print how it went.
///
/// Creates a ledger (in a temporary directory unless `--ledger` names a new one), signs
/// every command with its own ed25519 key (admin, scientist, approver, service), shows the
/// trust rules rejecting an unenrolled key, a wrong role, a tampered payload and a reused
/// command id, resends a command idempotently, rotates a key, exports the ledger and verifies
/// the ledger, the export and a tampered copy of the export.
///
/// Examples:
///   pledge demo
///   pledge demo --ledger ./demo-ledger
///   pledge demo --json | jq .verify
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// Create the ledger here (must not exist yet) and keep it; default: a temporary directory.
    #[arg(long, value_name = "PATH")]
    pub ledger: Option<PathBuf>,
    /// Print a JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

struct Keys {
    root: SecretKey,
    maya: SecretKey,
    colby: SecretKey,
    colby_new: SecretKey,
    scheduler: SecretKey,
    mallory: SecretKey,
}

struct Demo {
    ledger: Ledger<NoDomain>,
    id: uuid::Uuid,
    rejections: Vec<Value>,
}

fn internal(e: impl std::fmt::Display) -> Failure {
    Failure::new(INTERNAL, e.to_string())
}

impl Demo {
    fn cmd(&self, kind: &str, body: Value, key: &SecretKey) -> Result<Envelope, Failure> {
        let now = Timestamp::from_datetime(chrono::Utc::now());
        Command::new(self.id, now, kind, body).sign(key).map_err(internal)
    }

    fn accept(&mut self, env: Envelope) -> Result<Vec<RecordedEvent>, Failure> {
        match self.ledger.submit(env, ExpectedHead::Any) {
            Ok(r) => Ok(r.events),
            Err(e) => Err(internal(format!("the demo expected this command to be accepted: {e}"))),
        }
    }

    /// Submits a command that must be rejected, and checks nothing was appended.
    fn expect_rejected(&mut self, attempt: &str, env: Envelope) -> Result<(), Failure> {
        let before = self.ledger.store().head();
        let (rule, message) = match self.ledger.submit(env, ExpectedHead::Any) {
            Err(SubmitError::Rejected(r)) => (r.rule, r.message),
            Err(SubmitError::Invalid(m)) => ("invalid".to_string(), m),
            other => return Err(internal(format!("`{attempt}` should have been rejected, got {other:?}"))),
        };
        if self.ledger.store().head() != before {
            return Err(internal(format!("`{attempt}` was rejected but the head moved")));
        }
        self.rejections.push(json!({"attempt": attempt, "rule": rule, "message": message}));
        Ok(())
    }
}

fn keys() -> Result<Keys, Failure> {
    let k = || SecretKey::generate().map_err(internal);
    Ok(Keys { root: k()?, maya: k()?, colby: k()?, colby_new: k()?, scheduler: k()?, mallory: k()? })
}

/// Runs `pledge demo`.
pub fn run(args: Args) -> Result<(), Failure> {
    let tmp = tempfile::tempdir().map_err(internal)?;
    let dir = match &args.ledger {
        Some(p) if p.exists() => {
            return Err(Failure::new(crate::exit::INVALID_INPUT, format!("`{}` already exists", p.display()))
                .hint(
                    "the demo creates a new ledger; name a path that does not exist yet, or omit --ledger",
                ))
        }
        Some(p) => p.clone(),
        None => tmp.path().join("ledger"),
    };
    let report = play(&dir, tmp.path())?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report).map_err(internal)?);
    } else {
        print_human(&report, args.ledger.is_none());
    }
    Ok(())
}

fn play(dir: &Path, scratch: &Path) -> Result<Value, Failure> {
    let k = keys()?;
    let mut d = Demo {
        ledger: Ledger::open(dir, Arc::new(SystemClock), NoDomain)?,
        id: uuid::Uuid::now_v7(),
        rejections: vec![],
    };
    let pk = |s: &SecretKey| s.public().to_string();

    // Genesis: the ledger names its admin and its policy, signed by that admin.
    let genesis = d.cmd(
        "ledger.create",
        json!({"admins": [{"principal": "root", "public_key": pk(&k.root)}], "policy": base_policy()}),
        &k.root,
    )?;
    match d.ledger.submit(genesis, ExpectedHead::Empty) {
        Ok(_) => {}
        Err(e) => return Err(internal(format!("genesis: {e}"))),
    }
    // People and a service, each with their own key and role.
    for (who, key, role) in [
        ("maya", &k.maya, "scientist"),
        ("colby", &k.colby, "approver"),
        ("scheduler", &k.scheduler, "service"),
    ] {
        let enroll = d.cmd("key.enroll", json!({"principal": who, "public_key": pk(key)}), &k.root)?;
        d.accept(enroll)?;
        let grant = d.cmd("role.grant", json!({"principal": who, "role": role}), &k.root)?;
        d.accept(grant)?;
    }

    // What the trust rules refuse; none of it is written.
    let env =
        d.cmd("key.enroll", json!({"principal": "mallory", "public_key": pk(&k.mallory)}), &k.mallory)?;
    d.expect_rejected("mallory (never enrolled) enrolls herself", env)?;
    let env = d.cmd("role.grant", json!({"principal": "maya", "role": "approver"}), &k.maya)?;
    d.expect_rejected("maya (scientist) grants herself `approver`", env)?;
    let mut env = d.cmd("role.grant", json!({"principal": "scheduler", "role": "scientist"}), &k.root)?;
    let forged = d.cmd("role.grant", json!({"principal": "scheduler", "role": "admin"}), &k.root)?.payload;
    env.payload = forged; // root's signature, someone else's payload
    d.expect_rejected("root's signature on a swapped payload", env)?;
    let first = d.ledger.store().get(1)?.ok_or_else(|| internal("event 1 missing"))?;
    let original =
        first.event.command_envelope().cloned().ok_or_else(|| internal("event 1 has no command"))?;
    let original_cmd = ledger::SignedCommand::parse(original.clone()).map_err(internal)?.command;
    let mut reused = original_cmd.clone();
    reused.body = json!({"principal": "mallory", "public_key": pk(&k.mallory)});
    let env = reused.sign(&k.root).map_err(internal)?;
    d.expect_rejected("an old command id reused for new content", env)?;

    // Resending a command is harmless: the original events come back, nothing is added.
    let head_before = d.ledger.store().head();
    let resent = d.ledger.submit(original, ExpectedHead::Any).map_err(internal)?;
    let resend = json!({"duplicate": resent.duplicate, "events": resent.events.iter().map(|e| e.seq()).collect::<Vec<_>>(),
                        "head_unchanged": d.ledger.store().head() == head_before});

    // Key rotation: colby's new key is enrolled, the old one revoked, and then refused.
    let env = d.cmd("key.enroll", json!({"principal": "colby", "public_key": pk(&k.colby_new)}), &k.root)?;
    d.accept(env)?;
    let env = d.cmd(
        "key.revoke",
        json!({"key_id": k.colby.public().key_id(), "reason": "rotated: laptop replaced"}),
        &k.root,
    )?;
    d.accept(env)?;
    let env = d.cmd("role.grant", json!({"principal": "maya", "role": "approver"}), &k.colby)?;
    d.expect_rejected("colby signs with the revoked key", env)?;

    // Export, then verify the ledger, the export, and a copy of the export with one byte flipped.
    let out = dir.with_extension("jsonl");
    let manifest = export::export(d.ledger.store(), &out).map_err(internal)?;
    let store_summary = ledger::verify_store(d.ledger.store()).map_err(internal)?;
    let (_, export_summary) = export::verify_export(&out).map_err(internal)?;
    let tampered = scratch.join("tampered.jsonl");
    let mut bytes = std::fs::read(&out).map_err(internal)?;
    let line = 3usize;
    let start =
        bytes.iter().enumerate().filter(|(_, b)| **b == b'\n').nth(line - 1).map(|(i, _)| i + 1).unwrap_or(0);
    bytes[start + 40] ^= 0x01;
    std::fs::write(&tampered, &bytes).map_err(internal)?;
    std::fs::copy(export::manifest_path(&out), export::manifest_path(&tampered)).map_err(internal)?;
    let detected = match export::verify_export(&tampered) {
        Err(export::ExportError::Verify(f)) => json!({"detected": true, "seq": f.seq, "reason": f.reason}),
        Err(e) => json!({"detected": true, "seq": null, "reason": e.to_string()}),
        Ok(_) => return Err(internal("a tampered export verified")),
    };

    let trust = d.ledger.trust();
    let events: Vec<Value> = d
        .ledger
        .store()
        .iter()
        .map(|e| {
            let e = e?;
            let actor = e
                .event
                .command_envelope()
                .and_then(|env| ledger::SignedCommand::parse(env.clone()).ok())
                .and_then(|c| trust.key(&c.key_id).map(|k| k.principal.clone()));
            Ok(json!({"seq": e.seq(), "hash": e.hash, "kind": e.event.kind, "actor": actor,
                      "recorded_at": e.event.recorded_at, "payload": e.event.payload}))
        })
        .collect::<Result<_, ledger::StoreError>>()?;
    Ok(json!({
        "ledger": dir, "ledger_id": d.id, "events": events, "rejections": d.rejections,
        "idempotent_resend": resend,
        "export": {"path": out, "count": manifest.count, "head": manifest.head},
        "verify": {"ledger": store_summary, "export": export_summary},
        "tamper_check": {"flipped_line_index": line, "result": detected},
    }))
}

fn describe(e: &Value) -> String {
    let p = &e["payload"];
    let s = |v: &Value| v.as_str().unwrap_or("").to_string();
    match e["kind"].as_str().unwrap_or("") {
        "ledger.created" => format!("admins: {}; policy v1", p["admins"].as_array().map_or(0, Vec::len)),
        "key.enrolled" => format!("{} key {}", s(&p["principal"]), &s(&p["key_id"])[..12]),
        "key.revoked" => {
            format!("{} key {}: {}", s(&p["principal"]), &s(&p["key_id"])[..12], s(&p["reason"]))
        }
        "role.granted" | "role.revoked" => format!("{} -> {}", s(&p["principal"]), s(&p["role"])),
        "policy.changed" => format!("policy v{}", p["version"]),
        _ => String::new(),
    }
}

fn print_human(r: &Value, temporary: bool) {
    println!(
        "Pledge demo: ledger {} at {}",
        r["ledger_id"].as_str().unwrap_or(""),
        r["ledger"].as_str().unwrap_or("")
    );
    println!();
    println!("{:>4}  {:<15} {:<8} {:<12}  what", "seq", "event", "by", "hash");
    for e in r["events"].as_array().into_iter().flatten() {
        println!(
            "{:>4}  {:<15} {:<8} {:<12}  {}",
            e["seq"].as_u64().unwrap_or(0),
            e["kind"].as_str().unwrap_or(""),
            e["actor"].as_str().unwrap_or("-"),
            &e["hash"].as_str().unwrap_or("")[..12],
            describe(e)
        );
    }
    println!();
    println!("Refused by the trust rules (nothing written):");
    for x in r["rejections"].as_array().into_iter().flatten() {
        println!(
            "  - {}\n      rule `{}`: {}",
            x["attempt"].as_str().unwrap_or(""),
            x["rule"].as_str().unwrap_or(""),
            x["message"].as_str().unwrap_or("")
        );
    }
    let rs = &r["idempotent_resend"];
    println!();
    println!(
        "Resent an earlier command: duplicate={}, same events {}, head unchanged={}",
        rs["duplicate"], rs["events"], rs["head_unchanged"]
    );
    println!(
        "Exported {} events to {} (head {})",
        r["export"]["count"],
        r["export"]["path"].as_str().unwrap_or(""),
        &r["export"]["head"].as_str().unwrap_or("")[..12]
    );
    let v = &r["verify"]["ledger"];
    println!(
        "Verify ledger: ok, {} events, {} signed commands checked; export: ok, {} events",
        v["events"], v["commands"], r["verify"]["export"]["events"]
    );
    let t = &r["tamper_check"];
    println!(
        "Tampered export (one byte flipped in line {}): detected at event {}: {}",
        t["flipped_line_index"],
        t["result"]["seq"],
        t["result"]["reason"].as_str().unwrap_or("")
    );
    if temporary {
        println!();
        println!("(the ledger was in a temporary directory and is gone; keep one with `pledge demo --ledger PATH`)");
    }
}
