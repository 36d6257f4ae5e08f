//! `commands` is four layers, and imports point only down: `cli` → `api` → `app` → `domain`
//! (`docs/ARCHITECTURE.md`). The domain is pure (no clap, axum, tokio, I/O or printing); the use
//! cases print nothing and know no clap or axum; the API knows no clap.

use std::path::{Path, PathBuf};

const LAYERS: [&str; 4] = ["domain", "app", "api", "cli"];

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The source without comments, so that prose may name what code may not use.
fn code(text: &str) -> String {
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn imports_point_only_down_and_the_lower_layers_stay_pure() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut problems = vec![];
    for (rank, layer) in LAYERS.iter().enumerate() {
        let mut list = vec![];
        files(&src.join(layer), &mut list);
        assert!(!list.is_empty(), "no `src/{layer}`");
        for f in list {
            let text = code(&std::fs::read_to_string(&f).unwrap());
            let rel = f.strip_prefix(&src).unwrap().display().to_string();
            for (other_rank, other) in LAYERS.iter().enumerate() {
                if other_rank > rank && text.contains(&format!("crate::{other}")) {
                    problems
                        .push(format!("{rel} (layer `{layer}`) imports `crate::{other}`, a layer above it"));
                }
            }
            let forbidden: &[&str] = match *layer {
                "domain" => &[
                    "clap::",
                    "axum::",
                    "tokio::",
                    "std::fs",
                    "std::net",
                    "std::env",
                    "println!",
                    "eprintln!",
                    "print!(",
                ],
                "app" => &["clap::", "axum::", "println!", "eprintln!", "print!("],
                "api" => &["clap::", "println!", "eprintln!"],
                _ => &[],
            };
            for word in forbidden {
                if text.contains(word) {
                    problems.push(format!("{rel} (layer `{layer}`) uses `{word}`"));
                }
            }
        }
    }
    // Nothing but the four layers at the top.
    for e in std::fs::read_dir(&src).unwrap() {
        let name = e.unwrap().file_name().into_string().unwrap();
        let allowed = LAYERS.contains(&name.as_str()) || name == "lib.rs" || name == "main.rs";
        assert!(allowed, "`src/{name}` is outside the four layers");
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
