//! `pledge checkpoint`, `pledge prove` and `pledge witness`: signed checkpoints of the ledger's
//! Merkle tree, inclusion and consistency proofs, and witnesses who cosign only checkpoints
//! consistent with what they saw before. `docs/AUDITING.md` walks through them.

use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use clap::Subcommand;
use ledger::checkpoints::{Checkpoints, Published};
use ledger::merkle::{self, Hash};
use ledger::note::{self, Checkpoint, NoteKey, SignedNote, TlogProof};
use serde_json::{json, Value};

use super::common::Common;
use super::output::{out, outln};
use crate::app::failure::{Failure, INTEGRITY, INVALID_INPUT, REJECTED};
use crate::app::keystore;
use crate::app::query::enc;
use crate::app::transparency::{self, ConsistencyProof};

/// Sign a checkpoint of the ledger's Merkle tree, or list and show published ones.
///
/// A checkpoint (C2SP tlog-checkpoint) names the ledger (`pledge/<ledger id>`), its size in
/// events and the RFC 6962 root of their tree, signed by a log key: a key enrolled for a
/// principal with the `log` role. Every checkpoint is kept in `<ledger>/checkpoints/`, with the
/// cosignatures witnesses add. Keep one: later, `pledge verify --checkpoint FILE` proves the
/// ledger still contains that tree, and `pledge prove consistency` that it only grew.
///
/// Examples:
///   pledge keys new pledge-log && pledge keys enroll pledge-log --role log --as root
///   pledge checkpoint --as pledge-log --out q3.checkpoint
///   pledge checkpoint list
///   pledge checkpoint show latest --out latest.checkpoint
///   pledge checkpoint vkey                 # the log's public key, for auditors and witnesses
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment, args_conflicts_with_subcommands = true)]
pub struct CheckpointArgs {
    #[command(subcommand)]
    command: Option<CheckpointCommand>,
    /// Also write the signed checkpoint to this file.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    #[command(flatten)]
    common: Common,
}

#[derive(Debug, Subcommand)]
enum CheckpointCommand {
    /// Every published checkpoint: size, root, who cosigned.
    ///
    /// Example:
    ///   pledge checkpoint list --json
    #[command(verbatim_doc_comment)]
    List {
        #[command(flatten)]
        common: Common,
    },
    /// One published checkpoint (a size, or `latest`), its note as kept.
    ///
    /// Example:
    ///   pledge checkpoint show latest --out q3.checkpoint
    #[command(verbatim_doc_comment)]
    Show {
        /// The size, or `latest`.
        which: String,
        /// With `latest` against a server: wait (up to 10 s, within the server's request
        /// timeout) until a published checkpoint covers this many events.
        #[arg(long, value_name = "EVENTS")]
        wait_for: Option<u64>,
        /// Write the note to this file.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        #[command(flatten)]
        common: Common,
    },
    /// The verifier keys (vkeys) of the ledger's active log keys.
    ///
    /// Example:
    ///   pledge checkpoint vkey > log.vkey
    #[command(verbatim_doc_comment)]
    Vkey {
        #[command(flatten)]
        common: Common,
    },
}

fn write_file(path: &Path, text: &str) -> Result<(), Failure> {
    std::fs::write(path, text)
        .map_err(|e| Failure::new(INVALID_INPUT, format!("cannot write `{}`: {e}", path.display())))
}

fn print_checkpoint(common: &Common, doc: &Value, out: Option<&Path>) -> Result<(), Failure> {
    if let Some(path) = out {
        write_file(path, doc["note"].as_str().unwrap_or(""))?;
    }
    if common.json {
        outln!("{doc}");
    } else {
        let cosigned: Vec<&str> =
            doc["cosigned_by"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        outln!(
            "checkpoint of {} events, root {}\n  {}  cosigned by {} ({} required){}",
            doc["size"],
            doc["root"].as_str().unwrap_or(""),
            doc["origin"].as_str().unwrap_or(""),
            if cosigned.is_empty() { "no witness".to_string() } else { cosigned.join(", ") },
            doc["witness_quorum"],
            out.map_or(String::new(), |p| format!("\n  written to {}", p.display()))
        );
    }
    Ok(())
}

/// Runs `pledge checkpoint`.
pub fn checkpoint(args: CheckpointArgs) -> Result<(), Failure> {
    match args.command {
        None => sign(&args.common, args.out.as_deref()),
        Some(CheckpointCommand::List { common }) => {
            let doc = match common.client()? {
                Some(client) => client.get("/api/v1/checkpoints")?,
                None => {
                    let l = common.open()?;
                    let kept = Checkpoints::of(l.store().dir());
                    let policy = l.trust().witnesses();
                    let mut docs = vec![];
                    for size in kept.sizes().map_err(transparency::io)? {
                        if let Some(p) = kept.get(size).map_err(transparency::io)? {
                            docs.push(transparency::checkpoint_json(&p, &policy));
                        }
                    }
                    json!({"checkpoints": docs})
                }
            };
            if common.json {
                outln!("{doc}");
                return Ok(());
            }
            let list = doc["checkpoints"].as_array().cloned().unwrap_or_default();
            if list.is_empty() {
                outln!("no checkpoint published yet (sign one with `pledge checkpoint --as LOGKEY`)");
            }
            for c in list {
                let cosigned = c["cosigned_by"].as_array().map_or(0, Vec::len);
                outln!(
                    "{:>10} events  {}  {} cosignature(s){}",
                    c["size"],
                    c["root"].as_str().unwrap_or(""),
                    cosigned,
                    if c["published"] == true { "" } else { "  (witness quorum not met)" }
                );
            }
            Ok(())
        }
        Some(CheckpointCommand::Show { which, wait_for, out, common }) => {
            let doc = match common.client()? {
                Some(client) => {
                    let wait = match (wait_for, which.as_str()) {
                        (Some(n), "latest") => format!("?wait_for={n}"),
                        (Some(_), _) => {
                            return Err(Failure::new(INVALID_INPUT, "--wait-for goes with `latest`"))
                        }
                        (None, _) => String::new(),
                    };
                    client.get(&format!("/api/v1/checkpoints/{}{wait}", enc(&which)))?
                }
                None => {
                    let l = common.open()?;
                    let kept = Checkpoints::of(l.store().dir());
                    let p = if which == "latest" {
                        kept.latest().map_err(transparency::io)?
                    } else {
                        let size = which.parse::<u64>().map_err(|_| {
                            Failure::new(INVALID_INPUT, format!("`{which}` is neither a size nor `latest`"))
                        })?;
                        kept.get(size).map_err(transparency::io)?
                    };
                    let p =
                        p.ok_or_else(|| Failure::new(INVALID_INPUT, format!("no checkpoint `{which}`")))?;
                    transparency::checkpoint_json(&p, &l.trust().witnesses())
                }
            };
            if common.json || out.is_some() {
                print_checkpoint(&common, &doc, out.as_deref())
            } else {
                out!("{}", doc["note"].as_str().unwrap_or(""));
                Ok(())
            }
        }
        Some(CheckpointCommand::Vkey { common }) => {
            let keys: Vec<String> = match common.client()? {
                Some(client) => {
                    let tree = client.get("/api/v1/tree")?;
                    tree["log_keys"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|v| v.as_str().map(String::from))
                        .collect()
                }
                None => transparency::log_keys(common.open()?.trust()).iter().map(NoteKey::vkey).collect(),
            };
            if common.json {
                outln!("{}", json!({"log_keys": keys}));
            } else if keys.is_empty() {
                return Err(Failure::new(REJECTED, "the ledger has no active log key")
                    .hint("an admin runs `pledge keys enroll NAME --role log --as ADMIN`"));
            } else {
                keys.iter().for_each(|k| outln!("{k}"));
            }
            Ok(())
        }
    }
}

/// Signs a checkpoint of the whole tree with the session's key (a log key) and keeps it: in the
/// ledger's directory, or, in remote mode, through the server, which checks it.
fn sign(common: &Common, out: Option<&Path>) -> Result<(), Failure> {
    let name = common.identity()?;
    let key = keystore::load(&common.home()?, name)?;
    let doc = match common.client()? {
        Some(client) => {
            let tree = client.get("/api/v1/tree")?;
            let ledger_id: uuid::Uuid =
                serde_json::from_value(client.get("/api/v1/ledger")?["ledger_id"].clone())
                    .map_err(|_| Failure::new(INVALID_INPUT, "the server serves no ledger"))?;
            let root: Hash = STANDARD
                .decode(tree["root"].as_str().unwrap_or(""))
                .ok()
                .and_then(|r| r.try_into().ok())
                .ok_or_else(|| Failure::new(INTEGRITY, "the server's tree root is not a 32-byte hash"))?;
            let cp = Checkpoint {
                origin: note::origin(&ledger_id),
                size: tree["size"].as_u64().unwrap_or(0),
                root,
            };
            client.post("/api/v1/checkpoints", &json!({"note": cp.sign(&key).to_string()}))?
        }
        None => {
            let l = common.open()?;
            transparency::check_log_key(l.trust(), &key, name)?;
            let p = transparency::sign_checkpoint(l.store(), l.trust(), &key)?;
            transparency::checkpoint_json(&p, &l.trust().witnesses())
        }
    };
    print_checkpoint(common, &doc, out)
}

/// Prove an event is in the ledger, or that the ledger only grew between two checkpoints.
///
/// `inclusion` writes a C2SP tlog-proof: the event (its canonical bytes), its inclusion proof and
/// the signed checkpoint it leads to, with its cosignatures. Anyone holding the log's public key
/// checks it offline with `pledge prove verify`. `consistency` writes a proof that the tree of
/// the newer checkpoint extends the older one (RFC 6962), both checkpoints included, checked with
/// the log key alone. Checkpoints are files or sizes of published ones.
///
/// Examples:
///   pledge prove inclusion 12 --out event-12.tlog-proof
///   pledge prove consistency --from q3.checkpoint --to latest --out q3-q4.json
///   pledge prove verify event-12.tlog-proof --log-key "$(cat log.vkey)" --witness "$(cat w1.vkey)" --quorum 1
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct ProveArgs {
    #[command(subcommand)]
    command: ProveCommand,
}

#[derive(Debug, Subcommand)]
enum ProveCommand {
    /// A tlog-proof that an event (sequence number or hash) is in a checkpointed tree.
    ///
    /// Example:
    ///   pledge prove inclusion 42 --out event42.tlog-proof
    #[command(verbatim_doc_comment)]
    Inclusion {
        /// The event: a sequence number or a hash.
        event: String,
        /// Prove against this checkpoint (a file, or a published size; default: the smallest
        /// published checkpoint covering the event that its witnesses cosigned).
        #[arg(long, value_name = "FILE|SIZE")]
        checkpoint: Option<String>,
        /// Write the proof here (default: standard output).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        #[command(flatten)]
        common: Common,
    },
    /// A proof that the tree of NEW extends the tree of OLD.
    ///
    /// Example:
    ///   pledge prove consistency q3.checkpoint latest --out q3-to-now.json
    #[command(verbatim_doc_comment)]
    Consistency {
        /// The older checkpoint: a file, or a published size.
        #[arg(long, value_name = "FILE|SIZE")]
        from: String,
        /// The newer checkpoint: a file, a published size, or `latest`.
        #[arg(long, value_name = "FILE|SIZE")]
        to: String,
        /// Write the proof here (default: standard output).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        #[command(flatten)]
        common: Common,
    },
    /// Check a tlog-proof or a consistency proof offline, with the log's key (and witnesses).
    ///
    /// Example:
    ///   pledge prove verify event42.tlog-proof --log-key "$(cat log.vkey)"
    #[command(verbatim_doc_comment)]
    Verify {
        /// The proof file.
        file: PathBuf,
        /// The log's verifier key (`pledge checkpoint vkey` prints it).
        #[arg(long, value_name = "VKEY")]
        log_key: String,
        /// A witness's verifier key; repeat for several.
        #[arg(long = "witness", value_name = "VKEY")]
        witnesses: Vec<String>,
        /// How many of the witnesses must have cosigned the checkpoint.
        #[arg(long, default_value_t = 0)]
        quorum: usize,
        /// Print a JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// A published checkpoint named by a size (or `latest`), or a checkpoint file (which must be
/// this ledger's tree: signed by its log key, with its root at that size).
fn resolve(l: &ledger::Ledger<crate::domain::PledgeDomain>, which: &str) -> Result<Published, Failure> {
    let kept = Checkpoints::of(l.store().dir());
    let found = match which {
        "latest" => kept.latest().map_err(transparency::io)?,
        w => match w.parse::<u64>() {
            Ok(size) => kept.get(size).map_err(transparency::io)?,
            Err(_) => {
                let note = transparency::read_note(Path::new(w))?;
                transparency::check_signed_by_log(&note, &transparency::log_keys(l.trust()))?;
                let checkpoint = Checkpoint::from_note(&note).map_err(|e| Failure::new(INVALID_INPUT, e))?;
                Some(Published { checkpoint, note })
            }
        },
    };
    found.ok_or_else(|| {
        Failure::new(INVALID_INPUT, format!("no published checkpoint `{which}`"))
            .hint("`pledge checkpoint list` shows them")
    })
}

/// Writes a proof to `out` (or standard output); with `--json`, prints `doc` (and the file).
fn emit(common: &Common, out: Option<&Path>, text: &str, mut doc: Value) -> Result<(), Failure> {
    if let Some(p) = out {
        write_file(p, text)?;
        doc["file"] = json!(p);
    }
    match (common.json, out) {
        (true, _) => outln!("{doc}"),
        (false, None) => out!("{text}"),
        (false, Some(p)) => outln!("wrote {}", p.display()),
    }
    Ok(())
}

/// Runs `pledge prove`.
pub fn prove(args: ProveArgs) -> Result<(), Failure> {
    match args.command {
        ProveCommand::Inclusion { event, checkpoint, out, common } => {
            let (text, doc) = match common.client()? {
                Some(client) => {
                    let size = match &checkpoint {
                        None => String::new(),
                        Some(c) => format!(
                            "&size={}",
                            c.parse::<u64>().map_err(|_| {
                                Failure::new(
                                    INVALID_INPUT,
                                    "against a server, --checkpoint is a published size",
                                )
                            })?
                        ),
                    };
                    let doc = client.get(&format!("/api/v1/proofs/inclusion?event={}{size}", enc(&event)))?;
                    (doc["tlog_proof"].as_str().unwrap_or("").to_string(), doc)
                }
                None => {
                    let l = common.open()?;
                    let ev = transparency::event(l.store(), &event)?;
                    let cp = checkpoint.as_deref().map(|c| resolve(&l, c)).transpose()?;
                    let proof = transparency::inclusion(l.store(), &l.trust().witnesses(), &ev, cp)?;
                    let size = Checkpoint::from_note(&proof.checkpoint).map(|c| c.size).unwrap_or(0);
                    let text = proof.to_string();
                    let doc = json!({"seq": ev.seq(), "hash": ev.hash, "size": size,
                        "proof": proof.proof.iter().map(|h| STANDARD.encode(h)).collect::<Vec<_>>(), "tlog_proof": text});
                    (text, doc)
                }
            };
            emit(&common, out.as_deref(), &text, doc)
        }
        ProveCommand::Consistency { from, to, out, common } => {
            let doc = match common.client()? {
                Some(client) => {
                    let size = |w: &str| {
                        w.parse::<u64>().map_err(|_| {
                            Failure::new(
                                INVALID_INPUT,
                                "against a server, --from and --to are published sizes",
                            )
                        })
                    };
                    client.get(&format!(
                        "/api/v1/proofs/consistency?from={}&to={}",
                        size(&from)?,
                        size(&to)?
                    ))?
                }
                None => {
                    let l = common.open()?;
                    let proof = ConsistencyProof::make(l.store(), &resolve(&l, &from)?, &resolve(&l, &to)?)?;
                    serde_json::to_value(proof).map_err(Failure::internal)?
                }
            };
            let text = format!("{}\n", serde_json::to_string_pretty(&doc).map_err(Failure::internal)?);
            emit(&common, out.as_deref(), &text, doc)
        }
        ProveCommand::Verify { file, log_key, witnesses, quorum, json: json_out } => {
            let log = transparency::vkey(&log_key)?;
            let witnesses = witnesses.iter().map(|w| transparency::vkey(w)).collect::<Result<Vec<_>, _>>()?;
            if quorum > witnesses.len() {
                return Err(Failure::new(
                    INVALID_INPUT,
                    format!("--quorum {quorum} needs as many --witness keys"),
                ));
            }
            let text = std::fs::read_to_string(&file)
                .map_err(|e| Failure::new(INVALID_INPUT, format!("cannot read `{}`: {e}", file.display())))?;
            if text.starts_with(note::TLOG_PROOF_HEADER) {
                let proof = TlogProof::parse(&text)
                    .map_err(|e| Failure::new(INVALID_INPUT, format!("`{}`: {e}", file.display())))?;
                let proven = transparency::check_tlog_proof(&proof, &log, &witnesses, quorum)?;
                if json_out {
                    outln!("{}", json!({"ok": true, "inclusion": proven}));
                } else {
                    outln!(
                        "ok: event {} ({}, {}) is in the tree of {} events of `{}`{}",
                        proven.seq,
                        proven.kind,
                        proven.hash,
                        proven.size,
                        proven.origin,
                        cosigned_text(&proven.cosigned_by)
                    );
                }
            } else {
                let proof: ConsistencyProof = serde_json::from_str(&text).map_err(|e| {
                    Failure::new(
                        INVALID_INPUT,
                        format!("`{}` is neither a tlog-proof nor a consistency proof: {e}", file.display()),
                    )
                })?;
                let (old, new) = proof.check(&log)?;
                let new_note = SignedNote::parse(&proof.new).map_err(|e| Failure::new(INTEGRITY, e))?;
                let cosigned = transparency::cosigners(
                    &new_note,
                    &ledger::trust::WitnessPolicy { keys: witnesses.clone(), quorum },
                );
                if cosigned.len() < quorum {
                    return Err(Failure::new(
                        INTEGRITY,
                        format!(
                            "{} of the witnesses given cosigned the newer checkpoint, {quorum} are required",
                            cosigned.len()
                        ),
                    ));
                }
                if json_out {
                    outln!(
                        "{}",
                        json!({"ok": true, "consistency": {"origin": old.origin, "old_size": old.size,
                        "new_size": new.size, "cosigned_by": cosigned}})
                    );
                } else {
                    outln!(
                        "ok: the tree of {} events of `{}` extends the tree of {}{}",
                        new.size,
                        new.origin,
                        old.size,
                        cosigned_text(&cosigned)
                    );
                }
            }
            Ok(())
        }
    }
}

fn cosigned_text(names: &[String]) -> String {
    if names.is_empty() {
        String::new()
    } else {
        format!(" (cosigned by {})", names.join(", "))
    }
}

/// Cosign a ledger's checkpoints as a witness, only ever consistently.
///
/// A witness keeps, in its own state directory (never in the ledger it watches), the last
/// checkpoint it cosigned for each log. `cosign` checks the new checkpoint's signature with the
/// log's key, then that its tree extends that last one (a consistency proof, from `--proof`,
/// the server or the ledger), and refuses a smaller tree (a rollback) or one that does not
/// extend it (a fork). Then it writes a C2SP tlog-cosignature (timestamped Ed25519) onto the
/// checkpoint, and, with `--submit` and a server, sends it there.
///
/// Examples:
///   pledge witness vkey --as acme-audit          # put it in the policy's `witnesses.keys`
///   pledge witness cosign latest.checkpoint --as acme-audit --log-key "$(cat log.vkey)" --out cosigned.checkpoint
///   PLEDGE_SERVER=http://ledger:7400 pledge witness cosign latest.checkpoint --as acme-audit --submit
///
/// Order matters: the state is updated before submitting, so a refused submission never makes
/// the witness forget what it cosigned.
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct WitnessArgs {
    #[command(subcommand)]
    command: WitnessCommand,
}

#[derive(Debug, Subcommand)]
enum WitnessCommand {
    /// Cosign a checkpoint file consistent with the last one this witness cosigned.
    ///
    /// Example:
    ///   pledge witness cosign q3.checkpoint --as acme-audit --log-key "$(cat log.vkey)" --submit
    #[command(verbatim_doc_comment)]
    Cosign {
        /// The checkpoint (a signed note file).
        checkpoint: PathBuf,
        /// The log's verifier key (needed the first time; kept in the witness state after).
        #[arg(long, value_name = "VKEY")]
        log_key: Option<String>,
        /// The consistency proof from the last cosigned checkpoint (`pledge prove consistency`);
        /// default: ask the server, or read the ledger.
        #[arg(long, value_name = "FILE")]
        proof: Option<PathBuf>,
        /// The witness's name in cosignatures (default: its key name).
        #[arg(long, value_name = "NAME")]
        name: Option<String>,
        /// Where the witness keeps what it cosigned (default: PLEDGE_HOME/witness).
        #[arg(long, value_name = "DIR")]
        state: Option<PathBuf>,
        /// Write the cosigned checkpoint here (default: standard output).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Hand the cosignature to the ledger (through `--server`, or into the ledger directory),
        /// which keeps it with the checkpoint if its policy names this witness.
        #[arg(long)]
        submit: bool,
        #[command(flatten)]
        common: Common,
    },
    /// The witness's verifier key (vkey), for the ledger's policy.
    ///
    /// Example:
    ///   pledge witness vkey --as acme-audit
    #[command(verbatim_doc_comment)]
    Vkey {
        /// The witness's name in cosignatures (default: its key name).
        #[arg(long, value_name = "NAME")]
        name: Option<String>,
        #[command(flatten)]
        common: Common,
    },
}

/// What a witness remembers of one log.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct WitnessState {
    origin: String,
    log_key: String,
    /// The last checkpoint cosigned: its note text.
    text: String,
}

/// Runs `pledge witness`.
pub fn witness(args: WitnessArgs) -> Result<(), Failure> {
    match args.command {
        WitnessCommand::Vkey { name, common } => {
            let who = common.identity()?;
            let key = keystore::load(&common.home()?, who)?;
            let vkey = NoteKey::witness(name.as_deref().unwrap_or(who), key.public()).vkey();
            if common.json {
                outln!("{}", json!({"vkey": vkey}));
            } else {
                outln!("{vkey}");
            }
            Ok(())
        }
        WitnessCommand::Cosign { checkpoint, log_key, proof, name, state, out, submit, common } => {
            let who = common.identity()?;
            let key = keystore::load(&common.home()?, who)?;
            let name = name.unwrap_or_else(|| who.to_string());
            let mut note = transparency::read_note(&checkpoint)?;
            let cp = Checkpoint::from_note(&note).map_err(|e| Failure::new(INVALID_INPUT, e))?;
            let dir = match state {
                Some(d) => d,
                None => common.home()?.join("witness"),
            };
            let file = dir.join(format!("{}.json", cp.origin.replace(['/', '\\', ':'], "_")));
            let kept: Option<WitnessState> = match std::fs::read_to_string(&file) {
                Ok(t) => Some(serde_json::from_str(&t).map_err(|e| {
                    Failure::new(INVALID_INPUT, format!("witness state `{}` is damaged: {e}", file.display()))
                })?),
                Err(_) => None,
            };
            let log =
                match (&kept, &log_key) {
                    (Some(k), Some(given)) if &k.log_key != given => {
                        return Err(Failure::new(
                            REJECTED,
                            format!(
                                "`{}` has log key {} in this witness's state, not the one given",
                                cp.origin, k.log_key
                            ),
                        ))
                    }
                    (Some(k), _) => transparency::vkey(&k.log_key)?,
                    (None, Some(given)) => transparency::vkey(given)?,
                    (None, None) => return Err(Failure::new(
                        INVALID_INPUT,
                        format!("this witness has not seen `{}` before", cp.origin),
                    )
                    .hint(
                        "pass the log's key once with --log-key VKEY (`pledge checkpoint vkey` prints it)",
                    )),
                };
            log.verify(&note).map_err(|e| Failure::new(INTEGRITY, format!("the checkpoint: {e}")))?;
            if log.name != cp.origin {
                return Err(Failure::new(
                    INTEGRITY,
                    format!("the log key is for `{}`, the checkpoint for `{}`", log.name, cp.origin),
                ));
            }
            if let Some(k) = &kept {
                let old = Checkpoint::from_text(&k.text).map_err(|e| Failure::new(INVALID_INPUT, e))?;
                check_extends(&common, &old, &k.text, &cp, &note.text, proof.as_deref())?;
            }
            let time = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_err(Failure::internal)?
                .as_secs();
            note.add(note::cosign(&note.text, &name, &key, time));
            std::fs::create_dir_all(&dir).map_err(Failure::internal)?;
            let state =
                WitnessState { origin: cp.origin.clone(), log_key: log.vkey(), text: note.text.clone() };
            let tmp = file.with_extension("tmp");
            std::fs::write(&tmp, serde_json::to_vec_pretty(&state).map_err(Failure::internal)?)
                .and_then(|_| std::fs::rename(&tmp, &file))
                .map_err(Failure::internal)?;
            if submit {
                match common.client()? {
                    Some(client) => {
                        client.post(
                            &format!("/api/v1/checkpoints/{}/cosignatures", cp.size),
                            &json!({"note": note.to_string()}),
                        )?;
                    }
                    None => {
                        let l = common.open()?;
                        transparency::add_cosignatures(l.store(), l.trust(), &note)?;
                    }
                }
            }
            match &out {
                Some(p) => write_file(p, &note.to_string())?,
                None if !common.json => out!("{note}"),
                None => {}
            }
            if common.json {
                outln!(
                    "{}",
                    json!({"ok": true, "origin": cp.origin, "size": cp.size, "witness": name,
                    "note": note.to_string(), "submitted": submit})
                );
            } else if out.is_some() {
                outln!("cosigned the checkpoint of {} events of `{}` as `{name}`", cp.size, cp.origin);
            }
            Ok(())
        }
    }
}

/// Refuses a checkpoint that does not extend `old` (the last one cosigned): smaller is a
/// rollback, the same size with another root or a failing consistency proof a fork.
fn check_extends(
    common: &Common,
    old: &Checkpoint,
    old_text: &str,
    new: &Checkpoint,
    new_text: &str,
    proof_file: Option<&Path>,
) -> Result<(), Failure> {
    let refuse = |why: String| {
        Failure::new(REJECTED, why)
            .hint("a witness never cosigns two views of one log; investigate before anything else")
    };
    if new.size < old.size {
        return Err(refuse(format!(
            "rollback: this witness cosigned `{}` at {} events, the checkpoint has {}",
            old.origin, old.size, new.size
        )));
    }
    if new.size == old.size {
        return if new.root == old.root {
            Ok(())
        } else {
            Err(refuse(format!("fork: two roots for `{}` at {} events", old.origin, old.size)))
        };
    }
    let proof: Vec<Hash> = match proof_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| Failure::new(INVALID_INPUT, format!("cannot read `{}`: {e}", path.display())))?;
            let p: ConsistencyProof = serde_json::from_str(&text).map_err(|e| {
                Failure::new(INVALID_INPUT, format!("`{}` is not a consistency proof: {e}", path.display()))
            })?;
            let texts = |n: &str| SignedNote::parse(n).map(|n| n.text).unwrap_or_default();
            if texts(&p.old) != old_text || texts(&p.new) != new_text {
                return Err(Failure::new(
                    INVALID_INPUT,
                    "the proof is not between the last cosigned checkpoint and this one",
                ));
            }
            decode_hashes(&p.proof)?
        }
        None => match common.client()? {
            Some(client) => {
                let doc =
                    client.get(&format!("/api/v1/proofs/consistency?from={}&to={}", old.size, new.size))?;
                let p: ConsistencyProof = serde_json::from_value(doc).map_err(Failure::internal)?;
                decode_hashes(&p.proof)?
            }
            None => {
                let store = common.open_store()?;
                store.consistency_proof(old.size, new.size)?
            }
        },
    };
    merkle::verify_consistency(old.size, new.size, &proof, &old.root, &new.root).map_err(|e| {
        refuse(format!(
            "fork: the tree of {} events does not extend the one of {} this witness cosigned: {e}",
            new.size, old.size
        ))
    })
}

fn decode_hashes(list: &[String]) -> Result<Vec<Hash>, Failure> {
    list.iter()
        .map(|b| {
            STANDARD
                .decode(b)
                .ok()
                .and_then(|r| r.try_into().ok())
                .ok_or_else(|| Failure::new(INTEGRITY, "a proof hash is not 32 bytes of base64"))
        })
        .collect()
}
