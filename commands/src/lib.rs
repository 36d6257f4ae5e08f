//! # commands: Pledge's command line
//!
//! The `pledge` binary is a thin shell over this library: [`cli::run`] parses arguments into
//! one of the subcommand modules, runs it, and maps its outcome to an exit code
//! ([`exit::Failure`]). Subcommands print human output by default and a stable JSON document
//! with `--json`.
//!
//! Subcommands so far: `demo` (the README's main job), `init`, `keys`, `submit` (any signed
//! command), `champion`, `alerts`, `timeline`, `log`, `show`, `verify`. The domain's decide
//! step (`domain`), policies (`policy`) and the counterfactual replay (`replay`) are here too.

pub mod audit;
pub mod cli;
pub mod demo;
pub mod domain;
pub mod exit;
pub mod keys;
pub mod policy;
pub mod reads;
pub mod replay;
pub mod session;
pub mod verbs;
pub mod verify;
