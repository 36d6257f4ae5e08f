//! Integration tests of the `commands` crate: the domain's rules (given / when / then), the
//! seed scenarios end to end at library level, schemas of every domain event, and the CLI.

mod api;
mod checkpoints;
mod desk;
mod domain;
mod forgery;
mod governance;
mod harness;
mod help;
mod layers;
mod properties;
mod queries;
mod scenarios;
mod schemas;
mod serving;
mod state_snapshots;
mod vocabulary;
