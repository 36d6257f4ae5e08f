//! Every subcommand explains itself: `--help` exits 0 and shows an example.

use std::process::Command;

fn pledge() -> Command {
    Command::new(env!("CARGO_BIN_EXE_pledge"))
}

#[test]
fn every_subcommand_has_help_with_an_example() {
    let top = pledge().arg("--help").output().unwrap();
    assert!(top.status.success());
    let text = String::from_utf8(top.stdout).unwrap();
    assert!(text.contains("Exit codes:"), "{text}");
    for sub in [
        "demo",
        "verify",
        "init",
        "keys",
        "submit",
        "champion",
        "alerts",
        "timeline",
        "log",
        "show",
        "policy",
        "export",
        "replay",
        "release-check",
        "daily",
    ] {
        let out = pledge().args([sub, "--help"]).output().unwrap();
        assert!(out.status.success(), "{sub} --help failed");
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.contains("Examples:"), "`pledge {sub} --help` has no example:\n{text}");
        assert!(text.contains("--json"), "`pledge {sub}` has no --json:\n{text}");
    }
}

#[test]
fn unknown_flags_are_invalid_input() {
    let out = pledge().args(["verify", "--frobnicate"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = pledge().arg("nonsense").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn the_command_tree_is_well_formed() {
    // clap's own consistency checks (unique argument names, valid defaults, ...), which a
    // release build skips at run time.
    use clap::CommandFactory;
    commands::cli::Cli::command().debug_assert();
}
