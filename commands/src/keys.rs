//! `pledge init` and `pledge keys`: creating a ledger, keys, enrollment, revocation, roles.

use clap::Subcommand;
use ledger::canonical::Timestamp;
use ledger::{Command, ExpectedHead};
use serde_json::json;

use crate::exit::{Failure, INVALID_INPUT};
use crate::session::{self, Common};

/// Create a ledger: its admin key (unless it exists), and the genesis event with the default
/// policy.
///
/// The admin is `--as NAME` (default `admin`). The ledger directory must not exist yet.
///
/// Examples:
///   pledge init --ledger .pledge --as root
///   PLEDGE_LEDGER=/srv/pledge pledge init --json
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct InitArgs {
    #[command(flatten)]
    common: Common,
}

/// Runs `pledge init`.
pub fn init(args: InitArgs) -> Result<(), Failure> {
    let c = &args.common;
    c.local_only()?;
    if c.ledger.exists() {
        return Err(Failure::new(INVALID_INPUT, format!("`{}` already exists", c.ledger.display()))
            .hint("a ledger is created once; use `--ledger` to name a new directory"));
    }
    let name = c.identity.clone().unwrap_or_else(|| "admin".into());
    let home = c.home()?;
    let (key, created) = match session::load_key(&home, &name) {
        Ok(k) => (k, false),
        Err(_) => (session::create_key(&home, &name)?, true),
    };
    let body = json!({"admins": [{"principal": name, "public_key": key.public().to_string()}], "policy": crate::domain::default_policy()});
    let (ledger_id, command) = match session::Reproducible::from_env()? {
        None => {
            let id = uuid::Uuid::now_v7();
            (id, Command::new(id, Timestamp::from_datetime(chrono::Utc::now()), "ledger.create", body))
        }
        Some(r) => {
            let at = r.peek();
            let id = session::Reproducible::uuid(at, &[b"ledger", key.public().as_bytes()]);
            let cid = session::Reproducible::uuid(at, &[b"genesis", key.public().as_bytes()]);
            (id, Command { id: cid, ledger: id, issued_at: at, kind: "ledger.create".into(), body })
        }
    };
    let env = command.sign(&key).map_err(Failure::internal)?;
    let mut l = session::open_ledger(&c.ledger)?;
    l.submit(env, ExpectedHead::Empty).map_err(Failure::internal)?;
    if c.json {
        println!(
            "{}",
            json!({"ok": true, "ledger": c.ledger, "ledger_id": ledger_id, "admin": name, "key_id": key.public().key_id(), "key_created": created})
        );
    } else {
        println!("created ledger {ledger_id} at {}", c.ledger.display());
        println!(
            "admin `{name}` (key {}{})",
            key.public().key_id().0.short(),
            if created { ", new" } else { "" }
        );
        println!("next: `pledge keys new NAME`, then `pledge keys enroll NAME --role scientist --as {name}`");
    }
    Ok(())
}

/// Manage keys: create local keys, enroll them in the ledger, revoke them, grant roles.
///
/// Private keys live in PLEDGE_HOME/keys (mode 0600) and never enter the ledger; the ledger
/// records public keys, who holds them and their roles, each change signed by an admin.
///
/// Examples:
///   pledge keys new maya
///   pledge keys enroll maya --role scientist --as root
///   pledge keys grant maya approver --as root
///   pledge keys revoke maya --reason "laptop lost" --as root
///   pledge keys list --json
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct KeysArgs {
    #[command(subcommand)]
    command: KeysCommand,
    #[command(flatten)]
    common: Common,
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Create a new private key NAME in PLEDGE_HOME (never overwrites).
    New {
        /// Key (and principal) name.
        name: String,
    },
    /// List local keys and, when a ledger is there, the enrolled keys and roles.
    List,
    /// Enroll a public key for principal NAME (an admin signs), optionally granting roles.
    Enroll {
        /// Principal name.
        name: String,
        /// The public key (hex); default: the local key NAME's.
        #[arg(long, value_name = "HEX")]
        public_key: Option<String>,
        /// Roles to grant too (admin, approver, scientist, service, log).
        #[arg(long = "role", value_name = "ROLE")]
        roles: Vec<String>,
    },
    /// Revoke a key, permanently (an admin signs).
    Revoke {
        /// Principal whose local key to revoke, or a key id.
        key: String,
        /// Why.
        #[arg(long)]
        reason: String,
    },
    /// Grant a role to a principal (an admin signs).
    Grant {
        /// Principal.
        name: String,
        /// admin, approver, scientist or service.
        role: String,
    },
}

/// Runs `pledge keys`.
pub fn keys(args: KeysArgs) -> Result<(), Failure> {
    let c = &args.common;
    let home = c.home()?;
    match args.command {
        KeysCommand::New { name } => {
            let key = session::create_key(&home, &name)?;
            if c.json {
                println!(
                    "{}",
                    json!({"ok": true, "name": name, "public_key": key.public().to_string(), "key_id": key.public().key_id()})
                );
            } else {
                println!("created key `{name}`: public key {}", key.public());
                println!(
                    "an admin enrolls it with `pledge keys enroll {name} --public-key {} --role ROLE`",
                    key.public()
                );
            }
            Ok(())
        }
        KeysCommand::List => list(c, &home),
        KeysCommand::Enroll { name, public_key, roles } => {
            session::check_name(&name)?;
            let pk = match public_key {
                Some(h) => {
                    h.parse::<ledger::keys::PublicKey>().map_err(|e| Failure::new(INVALID_INPUT, e))?
                }
                None => session::load_key(&home, &name)?.public(),
            };
            for r in &roles {
                r.parse::<ledger::Role>().map_err(|e| Failure::new(INVALID_INPUT, e))?;
            }
            let mut commands = vec![("key.enroll", json!({"principal": name, "public_key": pk.to_string()}))];
            commands.extend(roles.into_iter().map(|r| ("role.grant", json!({"principal": name, "role": r}))));
            let events = session::submit_all(c, commands)?;
            session::print_events(c, &events);
            Ok(())
        }
        KeysCommand::Revoke { key, reason } => {
            let key_id = match key.parse::<ledger::keys::KeyId>() {
                Ok(id) => id,
                Err(_) => session::load_key(&home, &key)?.public().key_id(),
            };
            let events = session::submit(c, "key.revoke", json!({"key_id": key_id, "reason": reason}))?;
            session::print_events(c, &events);
            Ok(())
        }
        KeysCommand::Grant { name, role } => {
            role.parse::<ledger::Role>().map_err(|e| Failure::new(INVALID_INPUT, e))?;
            let events = session::submit(c, "role.grant", json!({"principal": name, "role": role}))?;
            session::print_events(c, &events);
            Ok(())
        }
    }
}

fn list(c: &Common, home: &std::path::Path) -> Result<(), Failure> {
    let local = session::list_keys(home);
    let has_ledger = c.server.is_some() || c.ledger.join("db").exists();
    let enrolled: Vec<serde_json::Value> = if has_ledger {
        let doc = session::ask(c, "/api/v1/keys", |v| v.keys())?;
        doc["enrolled"].as_array().cloned().unwrap_or_default()
    } else {
        vec![]
    };
    if c.json {
        println!("{}", json!({"local": local, "enrolled": enrolled}));
        return Ok(());
    }
    println!(
        "local keys in {}: {}",
        home.join("keys").display(),
        if local.is_empty() { "none".into() } else { local.join(", ") }
    );
    if has_ledger {
        println!("{:<12} {:<14} {:<9} roles", "principal", "key", "status");
        for k in &enrolled {
            let status = if k["revoked_seq"].is_null() {
                "active".to_string()
            } else {
                format!("revoked@{}", k["revoked_seq"])
            };
            let roles: Vec<&str> =
                k["roles"].as_array().into_iter().flatten().filter_map(|r| r.as_str()).collect();
            println!(
                "{:<12} {:<14} {:<9} {}",
                k["principal"].as_str().unwrap_or(""),
                &k["key_id"].as_str().unwrap_or("")[..12],
                status,
                roles.join(", ")
            );
        }
    }
    Ok(())
}
