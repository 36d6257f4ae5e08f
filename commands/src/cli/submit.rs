//! `pledge submit` (any signed command, or one signed earlier) and `pledge sign` (sign without
//! appending, for approvers who sign offline).

use serde_json::json;

use super::common::Common;
use super::input::read_body;
use super::output::outln;
use crate::app::clock::{new_command, Reproducible};
use crate::app::failure::{Failure, INVALID_INPUT};

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

/// Runs `pledge submit`.
pub fn submit(args: SubmitArgs) -> Result<(), Failure> {
    let events = match (&args.envelope, &args.kind, &args.body) {
        (Some(file), _, _) => {
            let envelope: ledger::dsse::Envelope = crate::app::json::read_file(file, "the envelope")
                .map_err(|f| f.hint("`pledge sign` writes a DSSE envelope"))?;
            args.common.submit_signed(envelope)?
        }
        (None, Some(kind), Some(body)) => args.common.submit(kind, read_body(body)?)?,
        _ => return Err(Failure::new(INVALID_INPUT, "give KIND and BODY, or --envelope FILE")),
    };
    args.common.print_events(&events);
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
    let ledger_id = match args.ledger_id {
        Some(id) => id,
        None => args.common.backend()?.ledger_id().map_err(|f| f.hint("or pass --ledger-id UUID"))?,
    };
    let signer = args.common.signer()?;
    let (who, key) = (&signer.name, &signer.key);
    let clock = Reproducible::from_env()?;
    let cmd = new_command(ledger_id, None, clock.as_deref(), &args.kind, body)?;
    let envelope = cmd.sign(key).map_err(Failure::internal)?;
    let envelope_json = serde_json::to_value(&envelope).map_err(Failure::internal)?;
    let about = json!({"id": cmd.id, "kind": cmd.kind, "ledger": cmd.ledger, "issued_at": cmd.issued_at,
                       "key_id": key.public().key_id(), "signer": who});
    match &args.out {
        Some(file) => {
            std::fs::write(file, format!("{envelope_json}\n")).map_err(|e| {
                Failure::new(INVALID_INPUT, format!("cannot write `{}`: {e}", file.display()))
            })?;
            if args.common.json {
                outln!("{}", json!({"ok": true, "file": file, "command": about}));
            } else {
                outln!(
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
            outln!("{}", json!({"ok": true, "envelope": envelope_json, "command": about}))
        }
        None => outln!("{envelope_json}"),
    }
    Ok(())
}
