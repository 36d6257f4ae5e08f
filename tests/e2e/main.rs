//! End-to-end tests: the real `pledge` binary, real ledgers in temporary directories.

mod checkpoints;
mod cli;
mod desk;
mod integrity;
mod interop;
mod jobs;
mod remote;
mod serving;
mod snapshots;
mod storage;
mod training;
mod workflow;
