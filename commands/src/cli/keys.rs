//! `pledge init` and `pledge keys`: creating a ledger, keys, enrollment, revocation, roles.

use clap::Subcommand;
use ledger::canonical::Timestamp;
use ledger::trust::{GenesisBody, KeyRevokeBody, PrincipalKey, RoleChange};
use ledger::{Command, ExpectedHead, Role};
use serde_json::json;

use super::common::Common;
use super::input::snake;
use super::output::{outln, print_json};
use crate::app::backend::open_ledger;
use crate::app::clock::Reproducible;
use crate::app::failure::{Failure, INVALID_INPUT};
use crate::app::keystore;
use crate::app::query::Keys;

fn to_value<T: serde::Serialize>(body: &T) -> Result<serde_json::Value, Failure> {
    serde_json::to_value(body).map_err(Failure::internal)
}

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
    let (key, created) = match keystore::load(&home, &name) {
        Ok(k) => (k, false),
        Err(_) => (keystore::create(&home, &name)?, true),
    };
    let body = to_value(&GenesisBody {
        admins: vec![PrincipalKey { principal: name.clone(), public_key: key.public() }],
        policy: crate::domain::default_policy(),
    })?;
    let (ledger_id, command) = match Reproducible::from_env()? {
        None => {
            let id = uuid::Uuid::now_v7();
            (id, Command::new(id, Timestamp::from_datetime(chrono::Utc::now()), "ledger.create", body))
        }
        Some(r) => {
            let at = r.peek();
            let id = Reproducible::uuid(at, &[b"ledger", key.public().as_bytes()]);
            let cid = Reproducible::uuid(at, &[b"genesis", key.public().as_bytes()]);
            (id, Command { id: cid, ledger: id, issued_at: at, kind: "ledger.create".into(), body })
        }
    };
    let env = command.sign(&key).map_err(Failure::internal)?;
    create_atomically(&c.ledger, |dir| {
        let mut l = open_ledger(dir)?;
        l.submit(env, ExpectedHead::Empty)?;
        Ok(())
    })?;
    if c.json {
        return print_json(&json!({"ok": true, "ledger": c.ledger, "ledger_id": ledger_id, "admin": name,
            "key_id": key.public().key_id(), "key_created": created}));
    }
    outln!("created ledger {ledger_id} at {}", c.ledger.display());
    outln!("admin `{name}` (key {}{})", key.public().key_id().0.short(), if created { ", new" } else { "" });
    outln!("next: `pledge keys new NAME`, then `pledge keys enroll NAME --role scientist --as {name}`");
    Ok(())
}

/// Creates the directory `dir` with `fill`, atomically: `fill` works in a hidden sibling
/// directory, which is renamed to `dir` only once it succeeded (and never over a `dir` that
/// appeared meanwhile). On any failure (a full disk, say) the sibling is removed and `dir`
/// does not exist.
fn create_atomically(
    dir: &std::path::Path,
    fill: impl FnOnce(&std::path::Path) -> Result<(), Failure>,
) -> Result<(), Failure> {
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "ledger".into());
    let io = |what: &str, e: std::io::Error| {
        let f = Failure::new(crate::app::failure::INTERNAL, format!("{what}: {e}"));
        match e.kind() {
            std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded => {
                Failure { code: crate::app::failure::STORAGE, ..f }
                    .hint("free space on that disk and run `pledge init` again")
            }
            std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem => {
                Failure { code: crate::app::failure::STORAGE, ..f }
                    .hint("create the ledger in a directory you may write")
            }
            _ => f,
        }
    };
    std::fs::create_dir_all(&parent).map_err(|e| io(&format!("cannot create `{}`", parent.display()), e))?;
    let staging = tempfile::Builder::new()
        .prefix(&format!(".{name}.init-"))
        .tempdir_in(&parent)
        .map_err(|e| io(&format!("cannot create a directory in `{}`", parent.display()), e))?;
    fill(staging.path()).map_err(|mut f| {
        // Name the ledger as the person named it, not the sibling it was built in.
        f.message = f.message.replace(&staging.path().display().to_string(), &dir.display().to_string());
        if !f.message.contains(&dir.display().to_string()) {
            f.message = format!("cannot create the ledger at `{}`: {}", dir.display(), f.message);
        }
        f
    })?;
    rustix::fs::renameat_with(
        rustix::fs::CWD,
        staging.path(),
        rustix::fs::CWD,
        dir,
        rustix::fs::RenameFlags::NOREPLACE,
    )
    .map_err(|e| io(&format!("cannot move the new ledger to `{}`", dir.display()), e.into()))?;
    // The sibling is now `dir`: nothing for the guard to remove.
    let _ = staging.keep();
    std::fs::File::open(&parent)
        .and_then(|d| d.sync_all())
        .map_err(|e| io(&format!("cannot sync `{}`", parent.display()), e))?;
    Ok(())
}

/// Manage keys: create local keys, enroll them in the ledger, revoke them, grant roles, export
/// a private key for a browser.
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
///   pledge keys export colby --out colby.pem
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
    ///
    /// Example:
    ///   pledge keys new maya
    #[command(verbatim_doc_comment)]
    New {
        /// Key (and principal) name.
        name: String,
    },
    /// List local keys and, when a ledger is there, the enrolled keys and roles.
    ///
    /// Example:
    ///   pledge keys list --json
    #[command(verbatim_doc_comment)]
    List,
    /// Enroll a public key for principal NAME (an admin signs), optionally granting roles.
    ///
    /// Example:
    ///   pledge keys enroll maya --role scientist --as root
    #[command(verbatim_doc_comment)]
    Enroll {
        /// Principal name.
        name: String,
        /// The public key (hex); default: the local key NAME's.
        #[arg(long, value_name = "HEX")]
        public_key: Option<String>,
        /// Roles to grant too (admin, approver, scientist, service, log).
        #[arg(long = "role", value_name = "ROLE", value_parser = snake::<Role>)]
        roles: Vec<Role>,
    },
    /// Revoke a key, permanently (an admin signs).
    ///
    /// Example:
    ///   pledge keys revoke maya --reason "laptop lost" --as root
    #[command(verbatim_doc_comment)]
    Revoke {
        /// Principal whose local key to revoke, or a key id.
        key: String,
        /// Why.
        #[arg(long)]
        reason: String,
    },
    /// Export the private key NAME as PKCS#8 (RFC 8410), the form a browser's WebCrypto
    /// (`importKey("pkcs8", ..., "Ed25519")`) and OpenSSL read: a PEM `PRIVATE KEY` block, or
    /// DER with `--der`. The file is created readable only by you and never written over; it is
    /// the private key, to be loaded only where you sign.
    ///
    /// Example:
    ///   pledge keys export colby --out colby.pem
    #[command(verbatim_doc_comment)]
    Export {
        /// The key's name.
        name: String,
        /// The file to create.
        #[arg(long, value_name = "FILE")]
        out: std::path::PathBuf,
        /// DER (48 bytes) instead of PEM.
        #[arg(long)]
        der: bool,
    },
    /// Grant a role to a principal (an admin signs).
    ///
    /// Example:
    ///   pledge keys grant maya approver --as root
    #[command(verbatim_doc_comment)]
    Grant {
        /// Principal.
        name: String,
        /// admin, approver, scientist, service or log.
        #[arg(value_parser = snake::<Role>)]
        role: Role,
    },
}

/// Runs `pledge keys`.
pub fn keys(args: KeysArgs) -> Result<(), Failure> {
    let c = &args.common;
    let home = c.home()?;
    let submit = |commands: Vec<(String, serde_json::Value)>| -> Result<(), Failure> {
        let events = c.backend()?.submit(&c.signer()?, commands)?;
        c.print_events(&events);
        Ok(())
    };
    match args.command {
        KeysCommand::New { name } => {
            let key = keystore::create(&home, &name)?;
            if c.json {
                return print_json(&json!({"ok": true, "name": name, "public_key": key.public().to_string(),
                    "key_id": key.public().key_id()}));
            }
            outln!("created key `{name}`: public key {}", key.public());
            outln!(
                "an admin enrolls it with `pledge keys enroll {name} --public-key {} --role ROLE`",
                key.public()
            );
            Ok(())
        }
        KeysCommand::List => list(c, &home),
        KeysCommand::Export { name, out, der } => {
            let key = keystore::load(&home, &name)?;
            let bytes = if der { keystore::pkcs8_der(&key) } else { keystore::pkcs8_pem(&key).into_bytes() };
            keystore::write_private(&out, &bytes)?;
            let format = if der { "pkcs8-der" } else { "pkcs8-pem" };
            if c.json {
                return print_json(&json!({"ok": true, "name": name, "file": out, "format": format,
                    "public_key": key.public().to_string(), "key_id": key.public().key_id()}));
            }
            outln!(
                "wrote `{}`: private key `{name}` as PKCS#8 ({}), mode 0600",
                out.display(),
                if der { "DER" } else { "PEM" }
            );
            Ok(())
        }
        KeysCommand::Enroll { name, public_key, roles } => {
            keystore::check_name(&name)?;
            let pk = match public_key {
                Some(h) => {
                    h.parse::<ledger::keys::PublicKey>().map_err(|e| Failure::new(INVALID_INPUT, e))?
                }
                None => keystore::load(&home, &name)?.public(),
            };
            let mut commands = vec![(
                "key.enroll".to_string(),
                to_value(&PrincipalKey { principal: name.clone(), public_key: pk })?,
            )];
            for role in roles {
                commands
                    .push(("role.grant".into(), to_value(&RoleChange { principal: name.clone(), role })?));
            }
            submit(commands)
        }
        KeysCommand::Revoke { key, reason } => {
            let key_id = match key.parse::<ledger::keys::KeyId>() {
                Ok(id) => id,
                Err(_) => keystore::load(&home, &key)?.public().key_id(),
            };
            submit(vec![("key.revoke".into(), to_value(&KeyRevokeBody { key_id, reason })?)])
        }
        KeysCommand::Grant { name, role } => {
            submit(vec![("role.grant".into(), to_value(&RoleChange { principal: name, role })?)])
        }
    }
}

fn list(c: &Common, home: &std::path::Path) -> Result<(), Failure> {
    let local = keystore::list(home);
    let has_ledger = c.server.is_some() || c.ledger.join("db").exists();
    let enrolled = if has_ledger { c.ask(&Keys)?.enrolled } else { vec![] };
    if c.json {
        return print_json(&json!({"local": local, "enrolled": enrolled}));
    }
    outln!(
        "local keys in {}: {}",
        home.join("keys").display(),
        if local.is_empty() { "none".into() } else { local.join(", ") }
    );
    if has_ledger {
        outln!("{:<12} {:<14} {:<9} roles", "principal", "key", "status");
        for k in &enrolled {
            let status = k.revoked_seq.map_or("active".to_string(), |s| format!("revoked@{s}"));
            let roles: Vec<&str> = k.roles.iter().map(|r| r.as_str()).collect();
            outln!("{:<12} {:<14} {:<9} {}", k.principal, &k.key_id[..12], status, roles.join(", "));
        }
    }
    Ok(())
}
