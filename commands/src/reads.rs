//! Read subcommands: `champion`, `alerts`, `timeline`, `log`, `show`; and `submit`, the
//! generic signed command for scripts.

use clap::Subcommand;
use projections::query;
use projections::replay::{self, AsOf};
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
    let l = args.common.open()?;
    let state = &l.domain().state;
    let mut rows = vec![];
    for (name, m) in &state.models {
        if args.model.as_ref().is_some_and(|x| x != name) {
            continue;
        }
        for (seg, v) in &m.champions {
            let info = &m.versions[v];
            rows.push(json!({"model": name, "segment": if seg.is_empty() { Value::Null } else { json!(seg) }, "version": v,
                             "metrics": info.metrics, "challengers": m.versions.values().filter(|x| x.segment == info.segment && x.status == projections::events::VersionStatus::Challenger).map(|x| x.version).collect::<Vec<_>>()}));
        }
    }
    if let Some(m) = &args.model {
        if !state.models.contains_key(m) {
            return Err(Failure::new(INVALID_INPUT, format!("no model `{m}` in this ledger")));
        }
    }
    if args.common.json {
        println!("{}", json!({"champions": rows}));
        return Ok(());
    }
    println!("{:<12} {:<14} {:<8} {:<14} metrics", "model", "segment", "version", "challengers");
    for r in &rows {
        let ch: Vec<String> =
            r["challengers"].as_array().into_iter().flatten().map(|c| format!("v{c}")).collect();
        println!(
            "{:<12} {:<14} v{:<7} {:<14} {}",
            r["model"].as_str().unwrap_or(""),
            r["segment"].as_str().unwrap_or("(global)"),
            r["version"],
            if ch.is_empty() { "-".into() } else { ch.join(",") },
            r["metrics"]
        );
    }
    if rows.is_empty() {
        println!("(no champion yet: `pledge submit champion.bootstrap` by an approver sets the first one)");
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
        /// unread, read, actioned or dismissed.
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
    /// Act on an alert: `approve` (an approver; for drift and pending-promotion alerts this
    /// promotes the challenger) or `dismiss`, with notes (signed).
    Action {
        /// Alert id.
        id: String,
        /// approve or dismiss.
        action: String,
        /// Notes.
        #[arg(long, default_value = "")]
        notes: String,
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
        AlertsCommand::Action { id, action, notes } => {
            let events = session::submit(
                &args.common,
                "alert.action",
                json!({"alert_id": id, "action": action, "notes": notes}),
            )?;
            session::print_events(&args.common, &events);
            return Ok(());
        }
        _ => {}
    }
    let l = args.common.open()?;
    let state = &l.domain().state;
    let json_out = args.common.json;
    match args.command {
        AlertsCommand::List { status, severity } => {
            let mut list: Vec<_> = state
                .alerts
                .values()
                .filter(|a| status.as_ref().is_none_or(|s| projections::state::name(&a.status) == *s))
                .filter(|a| severity.as_ref().is_none_or(|s| a.severity == *s))
                .collect();
            list.sort_by_key(|a| std::cmp::Reverse(a.raised_seq));
            if json_out {
                println!("{}", json!({"alerts": list}));
            } else {
                for a in list {
                    println!(
                        "{} {:<8} {:<22} {:<9} {}",
                        a.id,
                        a.severity,
                        a.alert_type,
                        projections::state::name(&a.status),
                        a.message
                    );
                }
            }
        }
        AlertsCommand::Show { id } => {
            let a = state.alerts.get(&id).ok_or_else(|| {
                Failure::new(INVALID_INPUT, format!("no alert `{id}`"))
                    .hint("list them with `pledge alerts list`")
            })?;
            if json_out {
                println!("{}", json!(a));
            } else {
                println!(
                    "{} {} {} ({})\n  {}\n  raised at #{} {}",
                    a.id,
                    a.severity,
                    a.alert_type,
                    projections::state::name(&a.status),
                    a.message,
                    a.raised_seq,
                    a.raised_at
                );
                for (action, by, notes, seq) in &a.history {
                    println!("  #{seq} {action} by {by} {notes}");
                }
            }
        }
        AlertsCommand::Stats => {
            let c = state.alert_counts();
            if json_out {
                println!("{}", json!(c));
            } else {
                println!("open: {}", fmt_counts(&c.open_by_severity));
                println!("all:  {}", fmt_counts(&c.by_status));
            }
        }
        AlertsCommand::Read { .. } | AlertsCommand::Action { .. } => {}
    }
    Ok(())
}

fn fmt_counts(m: &std::collections::BTreeMap<String, usize>) -> String {
    if m.is_empty() {
        return "none".into();
    }
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
    let l = args.common.open()?;
    let at = match &args.as_of {
        Some(s) => AsOf::parse(s).map_err(|e| Failure::new(INVALID_INPUT, e))?,
        None => AsOf::Head,
    };
    let state = if at == AsOf::Head { l.domain().state.clone() } else { replay::replay(l.store(), at)? };
    if state.model(&args.model).is_none() {
        return Err(Failure::new(
            INVALID_INPUT,
            format!(
                "no model `{}` in this ledger{}",
                args.model,
                if at == AsOf::Head { "" } else { " at that point" }
            ),
        ));
    }
    let entries = query::timeline(l.store(), l.trust(), &state, &args.model, args.segment.as_deref())?;
    if args.common.json {
        println!(
            "{}",
            json!({"model": args.model, "segment": args.segment, "as_of": args.as_of, "entries": entries})
        );
        return Ok(());
    }
    for e in &entries {
        let pv = e.policy_version.map(|v| format!(" [policy v{v}]")).unwrap_or_default();
        println!(
            "#{:<5} {}  {:<10} {}{}",
            e.seq,
            &e.recorded_at[..19],
            e.actor.as_deref().unwrap_or("-"),
            e.summary,
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

/// List events, filtered by kind, model or actor.
///
/// Examples:
///   pledge log --kind champion.changed
///   pledge log --model demand --limit 20 --json
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct LogArgs {
    /// Only this event kind.
    #[arg(long)]
    kind: Option<String>,
    /// Only events about this model.
    #[arg(long)]
    model: Option<String>,
    /// Only the last N matching events.
    #[arg(long, default_value_t = 50)]
    limit: usize,
    #[command(flatten)]
    common: Common,
}

/// Runs `pledge log`.
pub fn log(args: LogArgs) -> Result<(), Failure> {
    let store = args.common.store()?;
    let mut out = vec![];
    for ev in store.iter().rev() {
        let ev = ev?;
        if args.kind.as_ref().is_some_and(|k| *k != ev.event.kind) {
            continue;
        }
        if args.model.as_ref().is_some_and(|m| ev.event.subject.as_ref().is_none_or(|s| s.model != *m)) {
            continue;
        }
        out.push(ev);
        if out.len() == args.limit {
            break;
        }
    }
    out.reverse();
    session::print_events(&args.common, &out);
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
    let store = args.common.store()?;
    let ev = match args.id.parse::<u64>() {
        Ok(seq) => store.get(seq)?,
        Err(_) => {
            let h =
                args.id.parse::<ledger::Digest>().map_err(|e| Failure::new(INVALID_INPUT, e.to_string()))?;
            store.get_by_hash(&h)?
        }
    };
    let ev = ev.ok_or_else(|| Failure::new(INVALID_INPUT, format!("no event `{}`", args.id)))?;
    if args.common.json {
        let v: Value = serde_json::from_slice(&ev.bytes).map_err(Failure::internal)?;
        println!("{}", json!({"seq": ev.seq(), "hash": ev.hash, "event": v}));
    } else {
        println!("#{} {} {}", ev.seq(), ev.hash, ev.event.kind);
        println!("{}", projections::query::summarize(&ev));
        println!("{}", String::from_utf8_lossy(&ev.bytes));
    }
    Ok(())
}

/// Sign and append any command: KIND and a JSON body (inline, or `@FILE`).
///
/// The building block under every write: the body is the command's `body` as specified in
/// `schemas/commands/KIND.schema.json`. Exit 1 when a rule refuses it, 2 when it is malformed;
/// either way nothing is written.
///
/// Examples:
///   pledge submit champion.bootstrap '{"model":"demand","segment":null,"version":1}' --as colby
///   pledge submit run.record @run.json --as scheduler --json
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct SubmitArgs {
    /// The command kind, e.g. `drift.record`.
    kind: String,
    /// The body: JSON, or `@FILE` to read it from a file.
    body: String,
    #[command(flatten)]
    common: Common,
}

/// Runs `pledge submit`.
pub fn submit(args: SubmitArgs) -> Result<(), Failure> {
    let text = match args.body.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| Failure::new(INVALID_INPUT, format!("cannot read `{path}`: {e}")))?,
        None => args.body.clone(),
    };
    let body: Value = serde_json::from_str(&text)
        .map_err(|e| Failure::new(INVALID_INPUT, format!("the body is not JSON: {e}")))?;
    let events = session::submit(&args.common, &args.kind, body)?;
    session::print_events(&args.common, &events);
    Ok(())
}
