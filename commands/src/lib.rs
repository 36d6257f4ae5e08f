//! # commands: Pledge's command line
//!
//! The `pledge` binary is a thin shell over this library: [`cli::run`] parses arguments into
//! one of the subcommand modules, runs it, and maps its outcome to an exit code
//! ([`exit::Failure`]). Subcommands print human output by default and a stable JSON document
//! with `--json`.
//!
//! The modules: `demo` (the README's main job), `keys` (`init`, `keys`), `verbs` (the seed
//! workflow verbs), `reads` (`submit` and the read commands), `audit` (`policy`, `export`,
//! `replay`, `release-check`, `daily`), `training` (`train-candidate --data`, `drift check`,
//! `predict`: the built-in trainer), `verify`, `bench`; `session` holds what they share. The domain's
//! decide step (`domain`), policies (`policy`) and the counterfactual replay (`replay`) are here
//! too.

pub mod api;
pub mod audit;
pub mod bench;
pub mod cli;
pub mod demo;
pub mod domain;
pub mod exit;
pub mod keys;
pub mod reads;
pub mod serve;
pub mod session;
pub mod tlog;
pub mod training;
pub mod transparency;
pub mod verbs;
pub mod verify;
pub mod views;
