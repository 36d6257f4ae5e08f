//! Read subcommands: `champion`, `alerts`, `timeline`, `log`, `show`, `lineage`. Each asks one
//! typed question (`app::query`) of the ledger or the server and prints the answer: as text,
//! or with `--json` as the document the API serves.

use clap::Subcommand;
use projections::events::AlertAction;
use projections::state::{AlertStatus, Severity};

use super::common::Common;
use super::input::snake;
use super::output::{outln, print_event_lines, print_json};
use super::style::severity;
use crate::app::failure::Failure;
use crate::app::query::{
    AlertById, AlertStats, Alerts, Champions, Direction, EventById, EventSelection, Events, Lineage, Page,
    Timeline,
};
use crate::domain::command::{AlertActionBody, AlertReadBody};
use crate::domain::DomainCommand;

/// Show champions per model and segment, with each model's routing table: where each
/// segment's requests go (its own champion, or the global one).
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
    let answer = args.common.ask(&Champions { model: args.model.clone() })?;
    if args.common.json {
        return print_json(&answer);
    }
    outln!("{:<12} {:<14} {:<8} {:<14} metrics", "model", "segment", "version", "challengers");
    for r in &answer.champions {
        let ch: Vec<String> = r.challengers.iter().map(|c| format!("v{c}")).collect();
        outln!(
            "{:<12} {:<14} v{:<7} {:<14} {}",
            r.model,
            r.segment.as_deref().unwrap_or("(global)"),
            r.version,
            if ch.is_empty() { "-".into() } else { ch.join(",") },
            serde_json::to_string(&r.metrics).unwrap_or_default()
        );
    }
    if answer.champions.is_empty() {
        outln!(
            "(no champion yet: `pledge bootstrap-champion MODEL VERSION` by an approver sets the first one)"
        );
        return Ok(());
    }
    for table in &answer.routing {
        outln!();
        outln!("routing for `{}`:", table.model);
        let segmented = table.routes.len() > 1;
        for r in &table.routes {
            let to = r.version.map_or("(no champion)".to_string(), |v| format!("v{v}"));
            let via = match (&r.segment, r.own_champion) {
                (None, _) if segmented => "every other segment",
                (None, _) => "all requests",
                (Some(_), true) => "its own champion",
                (Some(_), false) => "the global champion",
            };
            outln!("  {:<14} -> {:<6} ({via})", r.segment.as_deref().unwrap_or("*"), to);
        }
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
///   pledge alerts action A-5eeb233fee7f approve --version 4 --notes "backtests reviewed" --as colby
///   pledge alerts action A-0c1f33ab2e90 acknowledge --as maya
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
    ///
    /// Example:
    ///   pledge alerts list --status unread --severity critical
    #[command(verbatim_doc_comment)]
    List {
        /// unread, read, actioned, acknowledged or dismissed.
        #[arg(long, value_parser = snake::<AlertStatus>)]
        status: Option<AlertStatus>,
        /// critical, warning or info.
        #[arg(long, value_parser = snake::<Severity>)]
        severity: Option<Severity>,
    },
    /// One alert with its history.
    ///
    /// Example:
    ///   pledge alerts show A-5eeb233fee7f
    #[command(verbatim_doc_comment)]
    Show {
        /// Alert id (`A-...`).
        id: String,
    },
    /// Open alerts by severity, all alerts by status.
    ///
    /// Example:
    ///   pledge alerts stats --json
    #[command(verbatim_doc_comment)]
    Stats,
    /// Mark an alert read (signed).
    ///
    /// Example:
    ///   pledge alerts read A-5eeb233fee7f --as colby
    #[command(verbatim_doc_comment)]
    Read {
        /// Alert id.
        id: String,
    },
    /// Act on an alert (signed): `approve` a drift or pending-promotion alert (an approver;
    /// this promotes the challenger), `acknowledge` an informational one, or `dismiss` any.
    ///
    /// Example:
    ///   pledge alerts action A-5eeb233fee7f approve --version 4 --notes "backtests reviewed" --as colby
    #[command(verbatim_doc_comment)]
    Action {
        /// Alert id.
        id: String,
        /// approve, acknowledge or dismiss.
        #[arg(value_parser = snake::<AlertAction>)]
        action: AlertAction,
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
    let c = &args.common;
    match args.command {
        AlertsCommand::Read { id } => c.act(DomainCommand::AlertRead(AlertReadBody { alert_id: id })),
        AlertsCommand::Action { id, action, notes, version, override_reason } => {
            c.act(DomainCommand::AlertAction(AlertActionBody {
                alert_id: id,
                action,
                notes,
                version,
                override_reason,
            }))
        }
        AlertsCommand::List { status, severity: sev } => {
            let answer = c.ask(&Alerts { status, severity: sev })?;
            if c.json {
                return print_json(&answer);
            }
            for a in &answer.alerts {
                outln!(
                    "{} {} {:<22} {:<12} {}",
                    a.id,
                    severity(a.severity, 8),
                    a.alert_type.as_str(),
                    a.status.as_str(),
                    a.message
                );
            }
            Ok(())
        }
        AlertsCommand::Show { id } => {
            let a = c.ask(&AlertById { id })?;
            if c.json {
                return print_json(&a);
            }
            outln!(
                "{} {} {} ({})\n  {}\n  raised at #{} {}",
                a.id,
                a.severity.as_str(),
                a.alert_type.as_str(),
                a.status.as_str(),
                a.message,
                a.raised_seq,
                a.raised_at
            );
            for h in &a.history {
                outln!("  #{} {} by {} {}", h.seq, h.action, h.by, h.notes);
            }
            Ok(())
        }
        AlertsCommand::Stats => {
            let counts = c.ask(&AlertStats)?;
            if c.json {
                return print_json(&counts);
            }
            outln!("open: {}", fmt_counts(&counts.open_by_severity));
            outln!("all:  {}", fmt_counts(&counts.by_status));
            Ok(())
        }
    }
}

/// `{critical: 1, warning: 2}` as `1 critical, 2 warning` (`none` when empty).
pub fn fmt_counts(m: &std::collections::BTreeMap<String, usize>) -> String {
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
    let answer = args.common.ask(&Timeline {
        model: args.model.clone(),
        segment: args.segment.clone(),
        as_of: args.as_of.clone(),
    })?;
    if args.common.json {
        return print_json(&answer);
    }
    for e in &answer.entries {
        let pv = e.policy_version.map(|v| format!(" [policy v{v}]")).unwrap_or_default();
        outln!(
            "#{:<5} {}  {:<10} {}{}",
            e.seq,
            &e.recorded_at[..19.min(e.recorded_at.len())],
            e.actor.as_deref().unwrap_or("-"),
            e.summary,
            pv
        );
    }
    if answer.entries.is_empty() {
        outln!(
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
    /// Only the last N matching events (1 to 1000).
    #[arg(long, default_value_t = 50)]
    limit: usize,
    #[command(flatten)]
    common: Common,
}

/// Runs `pledge log`.
pub fn log(args: LogArgs) -> Result<(), Failure> {
    let q = Events {
        selection: EventSelection {
            kind: args.kind,
            model: args.model,
            segment: args.segment,
            actor: args.actor,
            since: args.since,
            until: args.until,
        },
        page: Page::Last { n: args.limit, after: None },
    };
    let answer = args.common.ask(&q)?;
    if args.common.json {
        return print_json(&answer);
    }
    print_event_lines(&answer.events);
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
    let q = EventById { id: args.id.clone() };
    let backend = args.common.backend()?;
    let doc = match backend.client() {
        Some(client) => client.ask(&q)?,
        // The events alone, read without opening sled where the journal and the event files
        // vouch for them, else from the store: `show` runs on a damaged ledger, to let an
        // auditor see the damage.
        None => {
            let dir = backend.dir()?;
            crate::app::backend::require_ledger(dir)?;
            match q.from_committed(dir)? {
                Some(answer) => answer,
                None => q.from_store(&backend.open_store()?)?,
            }
        }
    };
    if args.common.json {
        return print_json(&doc);
    }
    outln!("#{} {} {}", doc.seq, doc.hash, doc.event["kind"].as_str().unwrap_or(""));
    outln!("{}", doc.summary);
    outln!("{}", doc.canonical);
    Ok(())
}

/// Where a version came from (`--up`: hypothesis, approval, run, dataset, drift) and what
/// happened to it (`--down`: backtests, shadow windows, proposals, approvals, promotions).
/// Both by default.
///
/// Examples:
///   pledge lineage demand 13
///   pledge lineage demand 13 --up --json
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct LineageArgs {
    /// The model.
    model: String,
    /// The version.
    version: u64,
    /// Only upstream.
    #[arg(long, conflicts_with = "down")]
    up: bool,
    /// Only downstream.
    #[arg(long)]
    down: bool,
    #[command(flatten)]
    common: Common,
}

/// Runs `pledge lineage`.
pub fn lineage(a: LineageArgs) -> Result<(), Failure> {
    let direction = match (a.up, a.down) {
        (true, _) => Direction::Up,
        (_, true) => Direction::Down,
        _ => Direction::Both,
    };
    let answer = a.common.ask(&Lineage { model: a.model.clone(), version: a.version, direction })?;
    if a.common.json {
        return print_json(&answer);
    }
    for (title, list) in [("upstream", &answer.upstream), ("downstream", &answer.downstream)] {
        let Some(list) = list else { continue };
        outln!("{title} of {} v{}:", a.model, a.version);
        for e in list {
            outln!("  #{:<5} {:<10} {}", e.seq, e.actor.as_deref().unwrap_or("-"), e.summary);
        }
    }
    Ok(())
}
