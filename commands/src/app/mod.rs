//! The use cases the command line and the HTTP API share. No clap, no axum, no printing:
//! requests in, typed answers and reports out, failures as [`failure::Failure`].

pub mod backend;
pub mod clock;
pub mod demo;
pub mod failure;
pub mod import;
pub mod interop;
pub mod jobs;
pub mod json;
pub mod keystore;
pub mod mlflow;
pub mod predlog;
pub mod query;
pub mod remote;
pub mod review;
pub mod serving;
pub mod shadow;
pub mod training;
pub mod transparency;
pub mod verify;
