//! Adding a command or event kind touches its variant, its decide arm, its fold arm and its
//! tests (`docs/ARCHITECTURE.md`, "Adding a command kind"). The compiler holds the `match`es
//! to every variant; this test holds the rest: a kind missing from the default policy's
//! permissions, from `docs/FORMAT.md`, from `schemas/`, or from the property tests' templates
//! fails here.

use std::path::Path;

use commands::domain::CommandKind;
use projections::events::EventKind;

fn repo(rel: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn every_command_kind_is_permitted_specified_and_has_a_schema() {
    let policy = commands::domain::default_policy();
    let format = repo("docs/FORMAT.md");
    for kind in CommandKind::ALL {
        let k = kind.as_str();
        assert!(
            policy["permissions"][k].as_array().is_some_and(|r| !r.is_empty()),
            "the default policy lets nobody issue `{k}`"
        );
        let heading = format.lines().any(|l| l.starts_with("### ") && l.contains(&format!("`{k}`")));
        assert!(heading, "docs/FORMAT.md section 10 has no `### ` entry for `{k}`");
        repo(&format!("schemas/commands/{k}.schema.json"));
        assert_eq!(CommandKind::parse(k), Some(*kind));
    }
    // And nothing else: every permission names a command kind.
    for k in policy["permissions"].as_object().unwrap().keys() {
        assert!(
            CommandKind::parse(k).is_some() || ledger::trust::kinds::COMMANDS.contains(&k.as_str()),
            "the default policy permits `{k}`, which is no command kind"
        );
    }
}

#[test]
fn every_event_kind_is_specified_and_has_a_schema() {
    let format = repo("docs/FORMAT.md");
    for kind in EventKind::ALL {
        let k = kind.as_str();
        let named = format.contains(&format!("`{k}`")) || format.contains(&format!("`{k} {{"));
        assert!(named, "docs/FORMAT.md never names `{k}`");
        repo(&format!("schemas/events/{k}.v1.schema.json"));
        assert_eq!(EventKind::parse(k), Some(*kind));
        assert!(!ledger::trust::kinds::EVENTS.contains(&k), "`{k}` is a trust kind too");
    }
    let files = std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/events")).unwrap();
    for f in files {
        let name = f.unwrap().file_name().into_string().unwrap();
        let kind = name.strip_suffix(".v1.schema.json").unwrap_or(&name);
        assert!(
            EventKind::parse(kind).is_some() || ledger::trust::kinds::EVENTS.contains(&kind),
            "schemas/events/{name} is for no kind"
        );
    }
}
