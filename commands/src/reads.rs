//! Read subcommands: `champion`, `alerts`, `timeline`, `log`, `show`; and `submit`, the
//! generic signed command for scripts.

use clap::Subcommand;
use projections::query;
use serde_json::{json, Value};

use crate::exit::{Failure, INVALID_INPUT};
use crate::session::{self, Common};

/// Show champions per model and segment, with the routing table.
///
/// Examples:
///   pledge champion
///   pledge champion demand --json
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct ChampionArgs {
    /// Only this model.
    model: Option<String>,
    #[command(flatten)]
    common: Common,
}

/// Runs `pledge champion`.
pub fn champion(args: ChampionArgs) -> Result<(), Failure> {
    let path = match &args.model {
        Some(m) => format!("/api/v1/champions?model={}", session::enc(m)),
        None => "/api/v1/champions".into(),
    };
    let doc = session::ask(&args.common, &path, |v| v.champions(args.model.as_deref()))?;
    if args.common.json {
        println!("{doc}");
        return Ok(());
    }
    let rows = doc["champions"].as_array().cloned().unwrap_or_default();
    println!("{:<12} {:<14} {:<8} {:<14} metrics", "model", "segment", "version", "challengers");
    for r in &rows {
        let ch: Vec<String> =
            r["challengers"].as_array().into_iter().flatten().map(|c| format!("v{c}")).collect();
        println!(
            "{:<12} {:<14} v{:<7} {:<14} {}",
            r["model"].as_str().unwrap_or(""),
            r["segment"].as_str().unwrap_or("(global)"),
            r["version"].as_u64().unwrap_or(0),
            if ch.is_empty() { "-".into() } else { ch.join(",") },
            r["metrics"]
        );
    }
    if rows.is_empty() {
        println!(
            "(no champion yet: `pledge bootstrap-champion MODEL VERSION` by an approver sets the first one)"
        );
    }
    Ok(())
}

/// The alert inbox (derived from events): list, one alert, counts; read and act (signed).
///
/// Examples:
///   pledge alerts list --status unread
///   pledge alerts list --severity critical --json
///   pledge alerts stats
///   pledge alerts read A-5eeb233fee7f --as colby
///   pledge alerts action A-5eeb233fee7f approve --notes "backtests reviewed" --as colby
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct AlertsArgs {
    #[command(subcommand)]
    command: AlertsCommand,
    #[command(flatten)]
    common: Common,
}

#[derive(Debug, Subcommand)]
enum AlertsCommand {
    /// List alerts, newest first.
    List {
        /// unread, read, actioned, acknowledged or dismissed.
        #[arg(long)]
        status: Option<String>,
        /// critical, warning or info.
        #[arg(long)]
        severity: Option<String>,
    },
    /// One alert with its history.
    Show {
        /// Alert id (`A-...`).
        id: String,
    },
    /// Open alerts by severity, all alerts by status.
    Stats,
    /// Mark an alert read (signed).
    Read {
        /// Alert id.
        id: String,
    },
    /// Act on an alert (signed): `approve` a drift or pending-promotion alert (an approver;
    /// this promotes the challenger), `acknowledge` an informational one, or `dismiss` any.
    Action {
        /// Alert id.
        id: String,
        /// approve, acknowledge or dismiss.
        action: String,
        /// Notes.
        #[arg(long, default_value = "")]
        notes: String,
        /// The version an approved drift alert promotes (required when its retrains left
        /// several challengers).
        #[arg(long)]
        version: Option<u64>,
        /// Why a pending promotion whose gates failed is approved anyway (required then).
        #[arg(long)]
        override_reason: Option<String>,
    },
}

/// Runs `pledge alerts`.
pub fn alerts(args: AlertsArgs) -> Result<(), Failure> {
    match &args.command {
        AlertsCommand::Read { id } => {
            let events = session::submit(&args.common, "alert.read", json!({"alert_id": id}))?;
            session::print_events(&args.common, &events);
            return Ok(());
        }
        AlertsCommand::Action { id, action, notes, version, override_reason } => {
            let action: projections::events::AlertAction =
                serde_json::from_value(json!(action)).map_err(|_| {
                    Failure::new(
                        crate::exit::INVALID_INPUT,
                        format!("`{action}` is not an alert action (approve, acknowledge, dismiss)"),
                    )
                })?;
            let body = crate::domain::command::AlertActionBody {
                alert_id: id.clone(),
                action,
                notes: notes.clone(),
                version: *version,
                override_reason: override_reason.clone(),
            };
            let events =
                session::submit_domain(&args.common, crate::domain::DomainCommand::AlertAction(body))?;
            session::print_events(&args.common, &events);
            return Ok(());
        }
        _ => {}
    }
    let json_out = args.common.json;
    match args.command {
        AlertsCommand::List { status, severity } => {
            let mut q = vec![];
            if let Some(s) = &status {
                q.push(format!("status={}", session::enc(s)));
            }
            if let Some(s) = &severity {
                q.push(format!("severity={}", session::enc(s)));
            }
            let path = format!("/api/v1/ml-alerts?{}", q.join("&"));
            let doc =
                session::ask(&args.common, &path, |v| v.alerts(status.as_deref(), severity.as_deref()))?;
            if json_out {
                println!("{doc}");
            } else {
                for a in doc["alerts"].as_array().into_iter().flatten() {
                    println!(
                        "{} {} {:<22} {:<9} {}",
                        s(&a["id"]),
                        session::severity(s(&a["severity"]), 8),
                        s(&a["alert_type"]),
                        s(&a["status"]),
                        s(&a["message"])
                    );
                }
            }
        }
        AlertsCommand::Show { id } => {
            let a = session::ask(&args.common, &format!("/api/v1/ml-alerts/{}", session::enc(&id)), |v| {
                v.alert(&id)
            })?;
            if json_out {
                println!("{a}");
            } else {
                println!(
                    "{} {} {} ({})\n  {}\n  raised at #{} {}",
                    s(&a["id"]),
                    s(&a["severity"]),
                    s(&a["alert_type"]),
                    s(&a["status"]),
                    s(&a["message"]),
                    a["raised_seq"],
                    s(&a["raised_at"])
                );
                for h in a["history"].as_array().into_iter().flatten() {
                    println!("  #{} {} by {} {}", h[3], s(&h[0]), s(&h[1]), s(&h[2]));
                }
            }
        }
        AlertsCommand::Stats => {
            let c = session::ask(&args.common, "/api/v1/ml-alerts/stats", |v| v.alert_stats())?;
            if json_out {
                println!("{c}");
            } else {
                println!("open: {}", fmt_counts(&c["open_by_severity"]));
                println!("all:  {}", fmt_counts(&c["by_status"]));
            }
        }
        AlertsCommand::Read { .. } | AlertsCommand::Action { .. } => {}
    }
    Ok(())
}

/// A JSON string field as text (`""` when absent).
pub fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

/// `{"critical": 1, "warning": 2}` as `1 critical, 2 warning` (`none` when empty).
pub fn fmt_counts(m: &Value) -> String {
    let Some(m) = m.as_object().filter(|m| !m.is_empty()) else { return "none".into() };
    m.iter().map(|(k, v)| format!("{v} {k}")).collect::<Vec<_>>().join(", ")
}

/// How did we get here: the causal chain of events behind a model's (segment's) champion,
/// each with actor, key, policy version and evidence; optionally as of a past point.
///
/// Examples:
///   pledge timeline demand
///   pledge timeline demand --segment electronics --as-of 2026-03-01T00:00:00Z
///   pledge timeline demand --as-of 120 --json
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct TimelineArgs {
    /// The model.
    model: String,
    /// A segment (default: the global champion).
    #[arg(long)]
    segment: Option<String>,
    /// A sequence number or an RFC 3339 time.
    #[arg(long, value_name = "SEQ|TIME")]
    as_of: Option<String>,
    #[command(flatten)]
    common: Common,
}

/// Runs `pledge timeline`.
pub fn timeline(args: TimelineArgs) -> Result<(), Failure> {
    let mut q = vec![];
    if let Some(seg) = &args.segment {
        q.push(format!("segment={}", session::enc(seg)));
    }
    if let Some(at) = &args.as_of {
        q.push(format!("as_of={}", session::enc(at)));
    }
    let path = format!("/api/v1/models/{}/timeline?{}", session::enc(&args.model), q.join("&"));
    let doc = session::ask(&args.common, &path, |v| {
        v.timeline(&args.model, args.segment.as_deref(), args.as_of.as_deref())
    })?;
    if args.common.json {
        println!("{doc}");
        return Ok(());
    }
    let entries = doc["entries"].as_array().cloned().unwrap_or_default();
    for e in &entries {
        let pv = e["policy_version"].as_u64().map(|v| format!(" [policy v{v}]")).unwrap_or_default();
        println!(
            "#{:<5} {}  {:<10} {}{}",
            e["seq"].as_u64().unwrap_or(0),
            &s(&e["recorded_at"])[..19.min(s(&e["recorded_at"]).len())],
            e["actor"].as_str().unwrap_or("-"),
            s(&e["summary"]),
            pv
        );
    }
    if entries.is_empty() {
        println!(
            "(`{}` has no champion{})",
            args.model,
            args.segment.as_ref().map(|s| format!(" for `{s}`")).unwrap_or_default()
        );
    }
    Ok(())
}

/// List events, filtered by kind, model, segment, actor or time.
///
/// The actor of an event is the principal whose signed command caused it, directly or through
/// the events that led to it (a promotion decided by policy belongs to whoever recorded the run).
///
/// Examples:
///   pledge log --kind champion.changed
///   pledge log --model demand --segment electronics --limit 20 --json
///   pledge log --actor colby --since 2026-03-01T00:00:00Z --until 2026-04-01T00:00:00Z
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct LogArgs {
    /// Only this event kind.
    #[arg(long)]
    kind: Option<String>,
    /// Only events about this model.
    #[arg(long)]
    model: Option<String>,
    /// Only events about this segment of the model ("" for the whole model).
    #[arg(long, requires = "model")]
    segment: Option<String>,
    /// Only events caused by this principal's commands.
    #[arg(long)]
    actor: Option<String>,
    /// Only events recorded at or after this RFC 3339 time.
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    /// Only events recorded before this RFC 3339 time.
    #[arg(long, value_name = "TIME")]
    until: Option<String>,
    /// Only the last N matching events.
    #[arg(long, default_value_t = 50)]
    limit: usize,
    #[command(flatten)]
    common: Common,
}

/// Runs `pledge log`.
pub fn log(args: LogArgs) -> Result<(), Failure> {
    let filter = query::EventFilter {
        kind: args.kind.clone(),
        model: args.model.clone(),
        segment: args.segment.clone(),
        actor: args.actor.clone(),
        since: args.since.as_deref().map(|t| crate::views::parse_time("--since", t)).transpose()?,
        until: args.until.as_deref().map(|t| crate::views::parse_time("--until", t)).transpose()?,
    };
    let mut q = vec![format!("last={}", args.limit)];
    for (k, v) in [
        ("kind", &args.kind),
        ("model", &args.model),
        ("segment", &args.segment),
        ("actor", &args.actor),
        ("since", &args.since),
        ("until", &args.until),
    ] {
        if let Some(v) = v {
            q.push(format!("{k}={}", session::enc(v)));
        }
    }
    let doc = session::ask(&args.common, &format!("/api/v1/events?{}", q.join("&")), |v| {
        v.last_events(&filter, args.limit)
    })?;
    session::print_event_doc(&args.common, &doc);
    Ok(())
}

/// Show one event, by sequence number or hash, with its canonical bytes.
///
/// Examples:
///   pledge show 12
///   pledge show 5c1d3e6f...(64 hex) --json
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct ShowArgs {
    /// A sequence number or an event hash.
    id: String,
    #[command(flatten)]
    common: Common,
}

/// Runs `pledge show`.
pub fn show(args: ShowArgs) -> Result<(), Failure> {
    let doc = match args.common.client()? {
        Some(client) => client.get(&format!("/api/v1/events/{}", session::enc(&args.id)))?,
        // The store alone: `show` runs on a damaged ledger, to let an auditor see the damage.
        None => crate::views::event(&args.common.open_store()?, &args.id)?,
    };
    if args.common.json {
        println!("{doc}");
    } else {
        println!("#{} {} {}", doc["seq"], s(&doc["hash"]), s(&doc["event"]["kind"]));
        println!("{}", s(&doc["summary"]));
        println!("{}", s(&doc["canonical"]));
    }
    Ok(())
}

/// Sign and append any command: KIND and a JSON body (inline, or `@FILE`).
///
/// The building block under every write: the body is the command's `body` as specified in
/// `schemas/commands/KIND.schema.json`. Exit 1 when a rule refuses it, 2 when it is malformed;
/// either way nothing is written. With `--envelope FILE`, appends a command signed earlier
/// with `pledge sign` (or by any DSSE signer) instead: the ledger checks it exactly as if it
/// had been signed now, and refuses it once it is older than the policy's freshness window.
///
/// Examples:
///   pledge submit champion.bootstrap '{"model":"demand","segment":null,"version":1}' --as colby
///   pledge submit run.record @run.json --as scheduler --json
///   pledge submit --envelope approve-p17.json
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct SubmitArgs {
    /// The command kind, e.g. `drift.record`.
    #[arg(required_unless_present = "envelope")]
    kind: Option<String>,
    /// The body: JSON, or `@FILE` to read it from a file.
    #[arg(required_unless_present = "envelope")]
    body: Option<String>,
    /// Append this signed command (a DSSE envelope, JSON) instead of signing one.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["kind", "body"])]
    envelope: Option<std::path::PathBuf>,
    #[command(flatten)]
    common: Common,
}

/// A command body given as JSON or `@FILE`.
fn read_body(arg: &str) -> Result<Value, Failure> {
    let text = match arg.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| Failure::new(INVALID_INPUT, format!("cannot read `{path}`: {e}")))?,
        None => arg.to_string(),
    };
    serde_json::from_str(&text).map_err(|e| Failure::new(INVALID_INPUT, format!("the body is not JSON: {e}")))
}

/// Runs `pledge submit`.
pub fn submit(args: SubmitArgs) -> Result<(), Failure> {
    let events = match (&args.envelope, &args.kind, &args.body) {
        (Some(file), _, _) => {
            let text = std::fs::read(file)
                .map_err(|e| Failure::new(INVALID_INPUT, format!("cannot read `{}`: {e}", file.display())))?;
            let envelope: ledger::dsse::Envelope = serde_json::from_slice(&text).map_err(|e| {
                Failure::new(INVALID_INPUT, format!("`{}` is not a DSSE envelope: {e}", file.display()))
                    .hint("`pledge sign` writes one")
            })?;
            session::submit_signed(&args.common, envelope)?
        }
        (None, Some(kind), Some(body)) => session::submit(&args.common, kind, read_body(body)?)?,
        _ => return Err(Failure::new(INVALID_INPUT, "give KIND and BODY, or --envelope FILE")),
    };
    session::print_events(&args.common, &events);
    Ok(())
}

/// Sign a command without appending it, for an approver who signs offline.
///
/// Writes the signed command (a DSSE envelope: the exact bytes an auditor will later find in
/// the ledger) to FILE, or to standard output. Anyone can append it later with `pledge submit
/// --envelope FILE`; the ledger checks the signer's key and role then, and accepts the command
/// only while it is fresh: by default up to 7 days after it was signed and never more than 5
/// minutes before (the policy's `freshness` section). The ledger id comes from `--ledger-id`,
/// or from the ledger (or server) when it is reachable.
///
/// Examples:
///   pledge sign arena.approve '{"proposal_id":"P-17","notes":"ok"}' --as colby --out p17.json
///   pledge sign alert.action @action.json --ledger-id 019c5e00-... --as colby > action.dsse.json
///   pledge submit --envelope p17.json
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct SignArgs {
    /// The command kind, e.g. `arena.approve`.
    kind: String,
    /// The body: JSON, or `@FILE` to read it from a file.
    body: String,
    /// Write the envelope here instead of to standard output.
    #[arg(long, value_name = "FILE")]
    out: Option<std::path::PathBuf>,
    /// The ledger the command is for (default: read from the ledger or the server).
    #[arg(long, value_name = "UUID")]
    ledger_id: Option<uuid::Uuid>,
    #[command(flatten)]
    common: Common,
}

/// Runs `pledge sign`.
pub fn sign(args: SignArgs) -> Result<(), Failure> {
    let body = read_body(&args.body)?;
    let ledger_id = match (args.ledger_id, args.common.client()?) {
        (Some(id), _) => id,
        (None, Some(client)) => serde_json::from_value(client.get("/api/v1/ledger")?["ledger_id"].clone())
            .map_err(|_| {
                Failure::new(INVALID_INPUT, format!("the server `{}` serves no ledger", client.base()))
            })?,
        (None, None) => {
            let store = args.common.open_store().map_err(|f| f.hint("or pass --ledger-id UUID"))?;
            let genesis =
                store.get(0)?.ok_or_else(|| Failure::new(INVALID_INPUT, "the ledger has no genesis"))?;
            serde_json::from_value(genesis.event.payload["ledger_id"].clone()).map_err(Failure::internal)?
        }
    };
    let who = args.common.identity()?;
    let key = session::load_key(&args.common.home()?, who)?;
    let clock = session::Reproducible::from_env()?;
    let cmd = session::new_command(ledger_id, None, clock.as_deref(), &args.kind, body)?;
    let envelope = cmd.sign(&key).map_err(Failure::internal)?;
    let envelope_json = serde_json::to_value(&envelope).map_err(Failure::internal)?;
    let about = json!({"id": cmd.id, "kind": cmd.kind, "ledger": cmd.ledger, "issued_at": cmd.issued_at,
                       "key_id": key.public().key_id(), "signer": who});
    match &args.out {
        Some(file) => {
            std::fs::write(file, format!("{envelope_json}\n")).map_err(|e| {
                Failure::new(INVALID_INPUT, format!("cannot write `{}`: {e}", file.display()))
            })?;
            if args.common.json {
                println!("{}", json!({"ok": true, "file": file, "command": about}));
            } else {
                println!(
                    "signed `{}` {} as {who} for ledger {}, issued {}: {}\nappend it with `pledge submit --envelope {}` while it is fresh",
                    cmd.kind,
                    cmd.id,
                    cmd.ledger,
                    cmd.issued_at,
                    file.display(),
                    file.display()
                );
            }
        }
        None if args.common.json => {
            println!("{}", json!({"ok": true, "envelope": envelope_json, "command": about}))
        }
        None => println!("{envelope_json}"),
    }
    Ok(())
}
