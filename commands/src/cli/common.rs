//! The options every ledger subcommand shares, and what they turn into: the key store, the
//! signer, and the backend (the ledger directory, or a server).

use std::path::PathBuf;

use ledger::dsse::Envelope;
use ledger::{Ledger, RecordedEvent};
use serde_json::Value;

use crate::app::backend::{Backend, Signer};
use crate::app::failure::{Failure, INVALID_INPUT};
use crate::app::keystore;
use crate::app::query::Query;
use crate::app::remote::Client;
use crate::domain::{DomainCommand, PledgeDomain};

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
    /// Print a JSON document instead of text (errors too, on standard error).
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
        keystore::home(self.home.as_deref())
    }

    /// The signing identity's name.
    pub fn identity(&self) -> Result<&str, Failure> {
        self.identity.as_deref().ok_or_else(|| {
            Failure::new(INVALID_INPUT, "no identity to sign with")
                .hint("pass `--as NAME` or set PLEDGE_IDENTITY")
        })
    }

    /// Who signs.
    pub fn signer(&self) -> Result<Signer, Failure> {
        Signer::load(&self.home()?, self.identity()?)
    }

    /// The ledger directory, or the server with `--server`.
    pub fn backend(&self) -> Result<Backend, Failure> {
        Ok(match &self.server {
            Some(url) => Backend::Remote(Box::new(Client::new(url, self.read_token.clone())?)),
            None => Backend::Local(self.ledger.clone()),
        })
    }

    /// The server's client with `--server`.
    pub fn client(&self) -> Result<Option<Client>, Failure> {
        self.server.as_deref().map(|url| Client::new(url, self.read_token.clone())).transpose()
    }

    /// Opens the existing ledger with its read models (never creates one; refused with
    /// `--server`).
    pub fn open(&self) -> Result<Ledger<PledgeDomain>, Failure> {
        self.backend()?.open()
    }

    /// Opens the existing ledger's store without folding it, for the commands that must run
    /// on a damaged ledger too (`verify`, `show`, `export`; refused with `--server`).
    pub fn open_store(&self) -> Result<ledger::Store, Failure> {
        self.backend()?.open_store()
    }

    /// Fails with `--server`, for the commands that need the ledger's directory itself.
    pub fn local_only(&self) -> Result<(), Failure> {
        self.backend()?.dir().map(drop)
    }

    /// Asks `q` of the ledger or the server.
    pub fn ask<Q: Query>(&self, q: &Q) -> Result<Q::Answer, Failure> {
        self.backend()?.ask(q)
    }

    /// Signs `kind` + `body` as the identity and appends it.
    pub fn submit(&self, kind: &str, body: Value) -> Result<Vec<RecordedEvent>, Failure> {
        self.backend()?.submit(&self.signer()?, vec![(kind.to_string(), body)])
    }

    /// Signs a typed domain command as the identity and appends it.
    pub fn submit_domain(&self, command: DomainCommand) -> Result<Vec<RecordedEvent>, Failure> {
        self.backend()?.submit_domain(&self.signer()?, &command)
    }

    /// Appends a command signed elsewhere.
    pub fn submit_signed(&self, envelope: Envelope) -> Result<Vec<RecordedEvent>, Failure> {
        self.backend()?.submit_signed(envelope)
    }

    /// Prints appended events: one line each, or with `--json` a document.
    pub fn print_events(&self, events: &[RecordedEvent]) {
        super::output::print_events(self.json, events);
    }

    /// Appends a typed domain command and prints its events.
    pub fn act(&self, command: DomainCommand) -> Result<(), Failure> {
        let events = self.submit_domain(command)?;
        self.print_events(&events);
        Ok(())
    }
}
