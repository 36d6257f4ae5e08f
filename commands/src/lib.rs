//! # commands: Pledge's command line
//!
//! The `pledge` binary is a thin shell over this library: [`cli::run`] parses arguments into
//! one of the subcommand modules, runs it, and maps its outcome to an exit code
//! ([`exit::Failure`]). Subcommands print human output by default and a stable JSON document
//! with `--json`.
//!
//! Subcommands so far: `demo` (the README's main job: a real ledger end to end) and `verify`
//! (a stored ledger or an export). The domain's decide step, policies and the rest of the
//! command line build on the `ledger` crate's append path.

pub mod cli;
pub mod demo;
pub mod domain;
pub mod exit;
pub mod policy;
pub mod replay;
pub mod verify;
