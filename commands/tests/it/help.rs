//! Every subcommand explains itself: clap's whole command tree is walked (no hand-kept list),
//! and every leaf's `--help` shows an example; every subcommand that reads or writes a ledger
//! offers `--json`.

use std::process::Command;

use clap::CommandFactory;

fn pledge() -> Command {
    Command::new(env!("CARGO_BIN_EXE_pledge"))
}

/// Every command path below `pledge`, leaves and groups, with whether it is a leaf.
fn walk(cmd: &clap::Command, path: Vec<String>, out: &mut Vec<(Vec<String>, bool)>) {
    let subs: Vec<&clap::Command> = cmd.get_subcommands().filter(|c| c.get_name() != "help").collect();
    if !path.is_empty() {
        out.push((path.clone(), subs.is_empty()));
    }
    for s in subs {
        let mut p = path.clone();
        p.push(s.get_name().to_string());
        walk(s, p, out);
    }
}

#[test]
fn every_leaf_subcommand_has_help_with_an_example() {
    let top = pledge().arg("--help").output().unwrap();
    assert!(top.status.success());
    let text = String::from_utf8(top.stdout).unwrap();
    assert!(text.contains("Exit codes:"), "{text}");
    let mut all = vec![];
    walk(&commands::cli::Cli::command(), vec![], &mut all);
    assert!(all.len() > 40, "the tree has {} commands", all.len());
    let mut missing = vec![];
    for (path, leaf) in &all {
        let out = pledge().args(path).arg("--help").output().unwrap();
        assert!(out.status.success(), "`pledge {} --help` failed", path.join(" "));
        let text = String::from_utf8(out.stdout).unwrap();
        if *leaf && !(text.contains("Example:") || text.contains("Examples:")) {
            missing.push(path.join(" "));
        }
    }
    assert!(missing.is_empty(), "leaf subcommands without an example in --help: {}", missing.join("; "));
}

#[test]
fn every_subcommand_offers_json() {
    let mut all = vec![];
    walk(&commands::cli::Cli::command(), vec![], &mut all);
    for (path, leaf) in all.iter().filter(|(_, leaf)| *leaf) {
        let _ = leaf;
        let text = String::from_utf8(pledge().args(path).arg("--help").output().unwrap().stdout).unwrap();
        assert!(text.contains("--json"), "`pledge {}` has no --json", path.join(" "));
    }
}

#[test]
fn unknown_flags_are_invalid_input() {
    let out = pledge().args(["verify", "--frobnicate"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = pledge().arg("nonsense").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    // With --json, the error is a JSON document on standard error.
    let out = pledge().args(["champion", "--frobnicate", "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err: serde_json::Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(err["error"]["exit"], 2);
    assert!(err["error"]["message"].as_str().unwrap().contains("--frobnicate"), "{err}");
}

#[test]
fn the_command_tree_is_well_formed() {
    // clap's own consistency checks (unique argument names, valid defaults, ...), which a
    // release build skips at run time.
    commands::cli::Cli::command().debug_assert();
}
