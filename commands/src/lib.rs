//! # commands: Pledge's domain, use cases, HTTP API and command line
//!
//! Four layers; imports point only down (`cli` → `api` → `app` → `domain`; a test checks it):
//!
//! - [`domain`]: the decide step, the typed command vocabulary, the policy and its rules, the
//!   counterfactual. Pure: no clap, axum, I/O or printing.
//! - [`app`]: the use cases the CLI and the API share: the key store, the reproducible clock,
//!   a [`app::backend::Backend`] (a ledger directory or a server), typed questions and answers
//!   ([`app::query`]), training requests and reports, verification, transparency (checkpoints
//!   and proofs), the demo. No clap, axum or printing.
//! - [`api`]: the HTTP API (axum): routes answering the same typed questions, the one writer.
//! - [`cli`]: the `pledge` command line (clap): one module per subcommand group; printing.

pub mod api;
pub mod app;
pub mod cli;
pub mod domain;
