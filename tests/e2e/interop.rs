//! Interop with the real binary: an export imports into a new ledger (and every tampered export
//! is refused, writing nothing); the OpenLineage export validates against OpenLineage's
//! published JSON Schema and says what the ledger says; the in-toto attestations verify with
//! the log key, and with the in-toto project's own Python libraries where they are installed.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine;
use jsonschema::{Retrieve, Uri};
use serde_json::{json, Value};

/// A demo ledger with its keys, and a log key `plog` enrolled by root.
struct Demo {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    ledger: PathBuf,
    home: PathBuf,
}

impl Demo {
    fn new() -> Demo {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        let d = Demo { ledger: root.join("l"), home: root.join("k"), root, _tmp: tmp };
        let out = Command::new(assert_cmd::cargo::cargo_bin("pledge"))
            .args(["demo", "--json", "--ledger"])
            .arg(&d.ledger)
            .arg("--home")
            .arg(&d.home)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        d.ok(&["keys", "new", "plog"]);
        d.ok(&["keys", "enroll", "plog", "--role", "log", "--as", "root"]);
        d
    }

    fn path(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// `pledge ARGS` on the demo's ledger and keys: (exit code, stdout, stderr).
    fn run(&self, args: &[&str]) -> (i32, String, String) {
        let out = Command::new(assert_cmd::cargo::cargo_bin("pledge"))
            .args(args)
            .env("PLEDGE_LEDGER", &self.ledger)
            .env("PLEDGE_HOME", &self.home)
            .env_remove("PLEDGE_IDENTITY")
            .env_remove("PLEDGE_SERVER")
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    }

    fn ok(&self, args: &[&str]) -> Value {
        let mut a = args.to_vec();
        a.push("--json");
        let (code, out, err) = self.run(&a);
        assert_eq!(code, 0, "pledge {args:?}: {err}");
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("pledge {args:?}: {e}: {out}"))
    }

    /// The ledger's events, read through an export of it.
    fn events(&self) -> Vec<Value> {
        let f = self.path(&format!("events-{}.jsonl", rand_suffix()));
        self.ok(&["export", s(&f)]);
        std::fs::read_to_string(&f).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }

    /// The log key's raw public key (hex), from its `key.enrolled` event.
    fn log_public_key(&self) -> String {
        self.events()
            .iter()
            .filter(|e| e["kind"] == "key.enrolled" && e["payload"]["principal"] == "plog")
            .map(|e| e["payload"]["public_key"].as_str().unwrap().to_string())
            .next_back()
            .unwrap()
    }
}

/// The executable `name` on the `PATH`.
pub(crate) fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn schemas() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas")
}

// ---------------------------------------------------------------------------------------------
// pledge import FILE

#[test]
fn an_export_imports_into_a_new_ledger_and_every_tampered_export_writes_nothing() {
    let d = Demo::new();
    let export = d.path("ledger.jsonl");
    d.ok(&["export", s(&export), "--as", "plog"]);
    let q = d.path("q.checkpoint");
    d.ok(&["checkpoint", "--as", "plog", "--out", s(&q)]);
    let head = d.ok(&["verify"])["summary"]["head"]["hash"].as_str().unwrap().to_string();

    // The whole export, its checkpoint proved, its artifacts brought along.
    let new = d.path("new");
    let artifacts = d.ledger.join("artifacts");
    let r = d.ok(&[
        "import",
        s(&export),
        "--ledger",
        s(&new),
        "--extends",
        s(&q),
        "--expect-head",
        &head,
        "--artifacts",
        s(&artifacts),
    ]);
    assert_eq!(r["import"]["summary"]["head"]["hash"], head.as_str());
    assert_eq!(r["import"]["anchors"][0]["relation"], "extends");
    assert_eq!(r["import"]["artifacts_missing"], json!([]));
    assert!(r["import"]["artifacts_copied"].as_u64().unwrap() > 0);
    let v = d.ok(&["verify", "--require-artifacts", "--ledger", s(&new)]);
    assert_eq!(v["summary"]["head"]["hash"], head.as_str());
    // Same ledger, same answers.
    assert_eq!(d.ok(&["champion", "--ledger", s(&new)]), d.ok(&["champion"]));
    assert_eq!(d.ok(&["alerts", "list", "--ledger", s(&new)]), d.ok(&["alerts", "list"]));

    // Into a ledger that has events: refused, nothing changes.
    let before = std::fs::read(d.path("ledger.jsonl")).unwrap();
    let (code, _, err) = d.run(&["import", s(&export), "--ledger", s(&new), "--json"]);
    assert_eq!(code, 2, "{err}");
    let e: Value = serde_json::from_str(&err).unwrap();
    assert!(e["error"]["message"].as_str().unwrap().contains("already holds a ledger"), "{err}");
    assert_eq!(d.ok(&["verify", "--ledger", s(&new)])["summary"]["events"], v["summary"]["events"]);

    // Every tampered export is refused with exit 3 and leaves no ledger behind.
    let lines: Vec<&[u8]> = before.split(|b| *b == b'\n').filter(|l| !l.is_empty()).collect();
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(d.path("ledger.jsonl.manifest.json")).unwrap()).unwrap();
    let join = |ls: &[Vec<u8>]| -> Vec<u8> {
        let mut out = vec![];
        for l in ls {
            out.extend_from_slice(l);
            out.push(b'\n');
        }
        out
    };
    let owned: Vec<Vec<u8>> = lines.iter().map(|l| l.to_vec()).collect();
    let mut tampers: Vec<(String, Vec<u8>, Value, Vec<&str>)> = vec![];
    // A flipped byte in lines across the whole ledger (genesis, commands, derived events, the last).
    for k in [0, 1, 7, 9, 23, 39, 40, owned.len() / 2, owned.len() - 1] {
        let mut ls = owned.clone();
        let at = ls[k].len() / 2;
        ls[k][at] ^= 0x01;
        tampers.push((format!("byte flipped in line {k}"), join(&ls), manifest.clone(), vec![]));
    }
    // A derived event's value changed (the text stays valid JSON).
    {
        let mut ls = owned.clone();
        let k =
            ls.iter().position(|l| String::from_utf8_lossy(l).contains("\"promotion.evaluated\"")).unwrap();
        let text =
            String::from_utf8(ls[k].clone()).unwrap().replacen("\"passed\":true", "\"passed\":false", 1);
        ls[k] = text.into_bytes();
        tampers.push(("a gate outcome changed".into(), join(&ls), manifest.clone(), vec![]));
    }
    // A line removed, two lines swapped, a line duplicated.
    {
        let mut ls = owned.clone();
        ls.remove(20);
        tampers.push(("line 20 removed".into(), join(&ls), manifest.clone(), vec![]));
        let mut ls = owned.clone();
        ls.swap(10, 11);
        tampers.push(("lines 10 and 11 swapped".into(), join(&ls), manifest.clone(), vec![]));
        let mut ls = owned.clone();
        ls.insert(12, owned[12].clone());
        tampers.push(("line 12 duplicated".into(), join(&ls), manifest.clone(), vec![]));
    }
    // The manifest: another count, another head, another digest, the checkpoint removed and
    // the tail cut (a valid shorter export, which --expect-head refuses).
    for (what, key, value) in [
        ("manifest count", "count", json!(manifest["count"].as_u64().unwrap() - 1)),
        ("manifest head", "head", json!("00".repeat(32))),
        ("manifest digest", "events_blake3", json!("11".repeat(32))),
    ] {
        let mut m = manifest.clone();
        m[key] = value;
        tampers.push((what.into(), before.clone(), m, vec![]));
    }
    {
        let cut = &owned[..owned.len() - 3];
        let data = join(cut);
        let last: Value = serde_json::from_slice(cut.last().unwrap()).unwrap();
        let mut m = manifest.clone();
        m["count"] = json!(cut.len());
        m["head"] = json!(blake3::hash(cut.last().unwrap()).to_hex().to_string());
        m["events_blake3"] = json!(blake3::hash(&data).to_hex().to_string());
        m.as_object_mut().unwrap().remove("checkpoint");
        assert_eq!(last["seq"], cut.len() - 1);
        tampers.push(("the tail cut, the manifest recomputed".into(), data, m, vec!["--expect-head", &head]));
    }
    for (i, (what, data, m, extra)) in tampers.iter().enumerate() {
        let f = d.path(&format!("t{i}.jsonl"));
        std::fs::write(&f, data).unwrap();
        std::fs::write(d.path(&format!("t{i}.jsonl.manifest.json")), serde_json::to_vec(m).unwrap()).unwrap();
        let target = d.path(&format!("t{i}-ledger"));
        let mut args = vec!["import", s(&f), "--ledger", s(&target), "--json"];
        args.extend(extra.iter().copied());
        let (code, out, err) = d.run(&args);
        assert_eq!(code, 3, "{what}: not refused as an integrity failure: {out} {err}");
        assert!(!target.exists(), "{what}: the refused import left `{}` behind", target.display());
    }

    // An altered artifact: refused before anything is written.
    let bad = d.path("bad-artifacts");
    std::fs::create_dir_all(&bad).unwrap();
    for e in std::fs::read_dir(&artifacts).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), bad.join(e.file_name())).unwrap();
    }
    let victim = std::fs::read_dir(&bad).unwrap().next().unwrap().unwrap().path();
    let mut bytes = std::fs::read(&victim).unwrap();
    bytes.push(b' ');
    std::fs::write(&victim, bytes).unwrap();
    let target = d.path("artifact-ledger");
    let (code, _, err) = d.run(&["import", s(&export), "--ledger", s(&target), "--artifacts", s(&bad)]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("does not hash"), "{err}");
    assert!(!target.exists());
}

// ---------------------------------------------------------------------------------------------
// OpenLineage

/// Resolves OpenLineage's and Pledge's schema URLs to the vendored files in `schemas/`.
struct Vendored;

impl Retrieve for Vendored {
    fn retrieve(&self, uri: &Uri<String>) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        let u = uri.as_str();
        let path = if let Some(rel) = u.strip_prefix("https://openlineage.io/spec/") {
            schemas().join("openlineage/spec").join(rel)
        } else if let Some(rel) = u.strip_prefix("https://pledge.invalid/schemas/") {
            schemas().join(rel)
        } else {
            return Err(format!("no vendored schema for {u}").into());
        };
        Ok(serde_json::from_str(
            &std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?,
        )?)
    }
}

fn validator(url: &str) -> jsonschema::Validator {
    jsonschema::options()
        .with_retriever(Vendored)
        .should_validate_formats(true)
        .build(&json!({"$ref": url}))
        .unwrap_or_else(|e| panic!("{url}: {e}"))
}

#[test]
fn the_openlineage_export_validates_against_the_published_schema_and_says_what_the_ledger_says() {
    let d = Demo::new();
    // A run signed by a genesis admin (root, enrolled by `ledger.created`, not `key.enrolled`).
    d.ok(&["keys", "grant", "root", "scientist", "--as", "root"]);
    let metrics = d.path("m.json");
    std::fs::write(&metrics, r#"{"mae": 90.0, "mape": 3.0, "coverage": 0.5}"#).unwrap();
    let artifact = d.path("root-model.bin");
    std::fs::write(&artifact, b"a model root trained").unwrap();
    d.ok(&[
        "record",
        "run",
        "demand",
        "--run-id",
        "root-run",
        "--trigger",
        "manual",
        "--metrics",
        s(&metrics),
        "--artifact",
        s(&artifact),
        "--dataset",
        s(&metrics),
        "--trainer",
        "external",
        "--as",
        "root",
    ]);
    let f = d.path("lineage.ndjson");
    let r = d.ok(&["export", "--format", "openlineage", s(&f)]);
    let text = std::fs::read_to_string(&f).unwrap();
    let events: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(r["events"], events.len());

    // Every event validates against OpenLineage's RunEvent, and every facet against the schema
    // its `_schemaURL` names (OpenLineage's own, or Pledge's in schemas/openlineage/).
    let run_event = validator("https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent");
    let mut facet_validators: HashMap<String, jsonschema::Validator> = HashMap::new();
    let mut facets_seen: BTreeMap<String, usize> = BTreeMap::new();
    for (i, e) in events.iter().enumerate() {
        let errors: Vec<String> =
            run_event.iter_errors(e).map(|x| format!("{} at {}", x, x.instance_path())).collect();
        assert!(errors.is_empty(), "event {i} is not an OpenLineage RunEvent: {errors:?}\n{e}");
        let mut facets: Vec<(&String, &Value)> = vec![];
        for holder in [&e["run"], &e["job"]] {
            facets.extend(holder["facets"].as_object().into_iter().flatten());
        }
        for ds in e["inputs"].as_array().into_iter().chain(e["outputs"].as_array()).flatten() {
            facets.extend(ds["facets"].as_object().into_iter().flatten());
        }
        for (name, facet) in facets {
            let url =
                facet["_schemaURL"].as_str().unwrap_or_else(|| panic!("facet {name} has no _schemaURL"));
            assert!(
                url.starts_with("https://openlineage.io/spec/") || name.starts_with("pledge_"),
                "custom facet `{name}` is not prefixed"
            );
            let v = facet_validators.entry(url.to_string()).or_insert_with(|| validator(url));
            let errors: Vec<String> =
                v.iter_errors(facet).map(|x| format!("{} at {}", x, x.instance_path())).collect();
            assert!(errors.is_empty(), "event {i}: facet {name} does not validate against {url}: {errors:?}");
            *facets_seen.entry(name.clone()).or_default() += 1;
        }
    }
    for name in [
        "jobType",
        "processing_engine",
        "version",
        "schema",
        "parent",
        "pledge_run",
        "pledge_backtest",
        "pledge_promotion",
        "pledge_model",
    ] {
        assert!(facets_seen.contains_key(name), "no `{name}` facet in the whole export: {facets_seen:?}");
    }

    // What the ledger says: a START and a COMPLETE per training run and per backtest window,
    // with one run id each; an OTHER event per decision, on a training run.
    let ledger = d.events();
    let count = |kind: &str| ledger.iter().filter(|e| e["kind"] == kind).count();
    let of = |job_suffix: &str, ty: &str| -> Vec<&Value> {
        events
            .iter()
            .filter(|e| e["job"]["name"].as_str().unwrap().ends_with(job_suffix) && e["eventType"] == ty)
            .collect()
    };
    assert_eq!(of("/train", "START").len(), count("run.recorded"));
    assert_eq!(of("/train", "COMPLETE").len(), count("run.recorded"));
    assert_eq!(of("/backtest", "START").len(), count("backtest.recorded"));
    assert_eq!(of("/backtest", "COMPLETE").len(), count("backtest.recorded"));
    let decisions: Vec<&Value> = of("/train", "OTHER");
    let decided = |d: &str| {
        decisions.iter().filter(|e| e["run"]["facets"]["pledge_promotion"]["decision"] == d).count()
    };
    assert_eq!(decided("promoted"), count("champion.changed"));
    assert_eq!(decided("rejected"), count("promotion.rejected"));
    assert_eq!(decided("evaluated"), count("promotion.evaluated"));
    assert_eq!(decided("proposed"), count("promotion.proposed"));

    let starts: HashMap<&str, &Value> =
        of("/train", "START").into_iter().map(|e| (e["run"]["runId"].as_str().unwrap(), e)).collect();
    assert_eq!(starts.len(), count("run.recorded"), "training runs share a run id");
    for c in of("/train", "COMPLETE") {
        let id = c["run"]["runId"].as_str().unwrap();
        let start = starts.get(id).unwrap_or_else(|| panic!("COMPLETE {id} without a START"));
        assert!(start["eventTime"].as_str() <= c["eventTime"].as_str());
        // The input is the dataset the ledger recorded, versioned by its digest; the outputs are
        // the versions it registered, versioned by their artifact's digest.
        let f = &c["run"]["facets"]["pledge_run"];
        let recorded = &ledger[f["event"]["seq"].as_u64().unwrap() as usize];
        assert_eq!(recorded["kind"], "run.recorded");
        assert_eq!(f["event"]["hash"].as_str().unwrap().len(), 64);
        assert_eq!(
            c["inputs"][0]["facets"]["version"]["datasetVersion"],
            recorded["payload"]["dataset_digest"]
        );
        assert_eq!(f["run_id"], recorded["payload"]["run_id"]);
        let registered: HashSet<String> = ledger
            .iter()
            .filter(|e| {
                e["kind"] == "version.registered" && e["payload"]["run_id"] == recorded["payload"]["run_id"]
            })
            .map(|e| e["payload"]["artifact_digest"].as_str().unwrap().to_string())
            .collect();
        let outputs: HashSet<String> = c["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["facets"]["version"]["datasetVersion"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(outputs, registered, "run {}", f["run_id"]);
    }
    // Every signer is named, the genesis admin too.
    for c in of("/train", "COMPLETE") {
        let f = &c["run"]["facets"]["pledge_run"];
        let principal = f["command"]["signer"]["principal"].as_str().unwrap();
        assert!(!principal.is_empty(), "{f}");
        if f["run_id"] == "root-run" {
            assert_eq!(principal, "root");
        }
    }
    for e in &decisions {
        assert!(starts.contains_key(e["run"]["runId"].as_str().unwrap()), "a decision on an unknown run");
        let p = &e["run"]["facets"]["pledge_promotion"];
        assert_eq!(ledger[p["event"]["seq"].as_u64().unwrap() as usize]["recorded_at"], e["eventTime"]);
    }
    for b in of("/backtest", "COMPLETE") {
        let parent = b["run"]["facets"]["parent"]["run"]["runId"].as_str().unwrap();
        assert!(starts.contains_key(parent), "a backtest's parent is not a training run");
    }
    // The export is deterministic.
    let again = d.path("again.ndjson");
    d.ok(&["export", "--format", "openlineage", s(&again)]);
    assert_eq!(std::fs::read(&again).unwrap(), text.as_bytes());
}

// ---------------------------------------------------------------------------------------------
// in-toto

/// A Python that imports `modules`: from `PLEDGE_PYTHON` (CI sets it, and then it must have
/// them), else `python3` if it has them; `None` with the reason printed otherwise.
pub(crate) fn python_with(modules: &[&str]) -> Option<PathBuf> {
    let check = |py: &Path| {
        let code = format!("import {}", modules.join(", "));
        Command::new(py).args(["-c", &code]).output().is_ok_and(|o| o.status.success())
    };
    if let Ok(p) = std::env::var("PLEDGE_PYTHON") {
        let p = PathBuf::from(p);
        assert!(check(&p), "PLEDGE_PYTHON (`{}`) cannot import {modules:?}", p.display());
        return Some(p);
    }
    let p = PathBuf::from("python3");
    if check(&p) {
        return Some(p);
    }
    eprintln!(
        "skipped: this test needs Python with {modules:?} (pip install in-toto-attestation 'securesystemslib[crypto]' jsonschema ./commands/python; or set PLEDGE_PYTHON; .ci/run installs them)"
    );
    None
}

#[test]
fn in_toto_attestations_verify_with_the_log_key_and_with_the_in_toto_libraries() {
    let d = Demo::new();
    let dir = d.path("att");
    // Signed by the log key only.
    let (code, _, err) = d.run(&["export", "--format", "in-toto", s(&dir), "--json"]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = d.run(&["export", "--format", "in-toto", s(&dir), "--as", "maya", "--json"]);
    assert_eq!(code, 1, "{err}");
    assert!(!dir.exists());
    let r = d.ok(&["export", "--format", "in-toto", s(&dir), "--as", "plog"]);
    // Never into a directory with something in it.
    let (code, _, _) = d.run(&["export", "--format", "in-toto", s(&dir), "--as", "plog"]);
    assert_eq!(code, 2);

    let ledger = d.events();
    let public = d.log_public_key();
    let index: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("index.json")).unwrap()).unwrap();
    assert_eq!(index["signer"]["public_key"], public.as_str());
    assert_eq!(index["signer"]["principal"], "plog");
    let key = ledger::keys::PublicKey::from_bytes(
        &<[u8; 32]>::try_from(
            (0..32).map(|i| u8::from_str_radix(&public[2 * i..2 * i + 2], 16).unwrap()).collect::<Vec<_>>(),
        )
        .unwrap(),
    )
    .unwrap();
    let with_versions: HashSet<&str> = ledger
        .iter()
        .filter(|e| e["kind"] == "version.registered")
        .filter_map(|e| e["payload"]["run_id"].as_str())
        .collect();
    let runs = ledger
        .iter()
        .filter(|e| {
            e["kind"] == "run.recorded" && with_versions.contains(e["payload"]["run_id"].as_str().unwrap())
        })
        .count();
    let promotions = ledger
        .iter()
        .filter(|e| e["kind"] == "champion.changed" || e["kind"] == "promotion.rejected")
        .count();
    assert_eq!(r["report"]["runs"], runs);
    assert_eq!(r["report"]["promotions"], promotions);
    let artifacts: HashMap<String, Value> = ledger
        .iter()
        .filter(|e| e["kind"] == "version.registered")
        .map(|e| (e["payload"]["artifact_digest"].as_str().unwrap().to_string(), e.clone()))
        .collect();
    let predicate = validator("https://pledge.invalid/schemas/in-toto/promotion.v1.schema.json");
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.to_str().unwrap().ends_with(".intoto.jsonl") && !p.ends_with("attestations.intoto.jsonl")
        })
        .collect();
    files.sort();
    assert_eq!(files.len(), runs + promotions);
    for f in &files {
        let env: Value = serde_json::from_str(std::fs::read_to_string(f).unwrap().trim_end()).unwrap();
        assert_eq!(env["payloadType"], "application/vnd.in-toto+json");
        let payload = b64.decode(env["payload"].as_str().unwrap()).unwrap();
        let sig = b64.decode(env["signatures"][0]["sig"].as_str().unwrap()).unwrap();
        assert!(
            key.verify_strict(&ledger::dsse::pae("application/vnd.in-toto+json", &payload), &sig),
            "{f:?}"
        );
        let st: Value = serde_json::from_slice(&payload).unwrap();
        assert_eq!(st["_type"], "https://in-toto.io/Statement/v1");
        for subject in st["subject"].as_array().unwrap() {
            let b3 = subject["digest"]["blake3"].as_str().unwrap();
            assert!(artifacts.contains_key(b3), "{f:?}: subject {b3} is no version's artifact");
            assert_eq!(subject["digest"]["sha256"].as_str().map(str::len), Some(64), "{f:?}");
        }
        match st["predicateType"].as_str().unwrap() {
            "https://slsa.dev/provenance/v1" => {
                let p = &st["predicate"];
                let uri = p["runDetails"]["byproducts"][0]["uri"].as_str().unwrap();
                let ev = &ledger[uri.rsplit('/').next().unwrap().parse::<usize>().unwrap()];
                assert_eq!(ev["kind"], "run.recorded");
                assert_eq!(
                    p["buildDefinition"]["resolvedDependencies"][0]["digest"]["blake3"],
                    ev["payload"]["dataset_digest"]
                );
                assert_eq!(p["runDetails"]["metadata"]["invocationId"], ev["payload"]["run_id"]);
                assert_eq!(p["runDetails"]["builder"]["version"]["trainer"], ev["payload"]["trainer"]);
            }
            "https://pledge.invalid/attestation/promotion/v1" => {
                let p = &st["predicate"];
                let errors: Vec<String> = predicate.iter_errors(p).map(|x| x.to_string()).collect();
                assert!(errors.is_empty(), "{f:?}: {errors:?}");
                let ev = &ledger[p["event"]["seq"].as_u64().unwrap() as usize];
                assert_eq!(p["event"]["kind"], ev["kind"]);
                let subject = st["subject"][0]["digest"]["blake3"].as_str().unwrap();
                assert_eq!(artifacts[subject]["subject"]["model"], p["model"]);
                assert_eq!(artifacts[subject]["payload"]["version"], p["version"]);
                if ev["kind"] == "champion.changed" {
                    assert_eq!(p["decision"], "promoted");
                    assert_eq!(p["by"], ev["payload"]["by"]);
                    assert_eq!(p["policy_version"], ev["payload"]["policy_version"]);
                }
            }
            other => panic!("{f:?}: predicate type {other}"),
        }
    }

    // The in-toto project's libraries agree, and catch a changed statement and a wrong key.
    let Some(py) = python_with(&["securesystemslib", "in_toto_attestation", "jsonschema"]) else { return };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("interop/verify_intoto.py");
    let verify = |dir: &Path, key: &str| -> (bool, Value) {
        let out = Command::new(&py)
            .arg(&script)
            .arg(dir)
            .args(["--public-key", key, "--artifacts"])
            .arg(d.ledger.join("artifacts"))
            .arg("--promotion-schema")
            .arg(schemas().join("in-toto/promotion.v1.schema.json"))
            .output()
            .unwrap();
        let doc = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!("{e}: {} {}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
        });
        (out.status.success(), doc)
    };
    let (ok, doc) = verify(&dir, &public);
    assert!(ok, "{doc}");
    assert_eq!(doc["verified"], files.len());
    assert_eq!(doc["provenance"], runs);
    assert_eq!(doc["promotion"], promotions);
    // Another key: every envelope fails.
    let other = "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c";
    let (ok, doc) = verify(&dir, other);
    assert!(!ok && doc["problem"].as_str().unwrap().contains("does not verify"), "{doc}");
    // A statement changed after signing (the approver's name), re-encoded: caught.
    let promo =
        files.iter().find(|f| f.file_name().unwrap().to_str().unwrap().starts_with("promotion-")).unwrap();
    let mut env: Value = serde_json::from_str(std::fs::read_to_string(promo).unwrap().trim_end()).unwrap();
    let mut st: Value =
        serde_json::from_slice(&b64.decode(env["payload"].as_str().unwrap()).unwrap()).unwrap();
    st["predicate"]["by"] = json!("mallory");
    env["payload"] = json!(b64.encode(serde_json::to_vec(&st).unwrap()));
    std::fs::write(promo, serde_json::to_string(&env).unwrap() + "\n").unwrap();
    let (ok, doc) = verify(&dir, &public);
    assert!(!ok && doc["problem"].as_str().unwrap().contains("does not verify"), "{doc}");
}

// ---------------------------------------------------------------------------------------------
// The Python client

#[test]
fn the_python_client_signs_as_the_format_says_and_a_notebook_session_verifies() {
    let Some(py) = python_with(&["pledge_client"]) else { return };
    let t = crate::workflow::team();
    let server = crate::checkpoints::Server::start(&t, &[]);
    let work = t.ledger.parent().unwrap().join("notebook");
    std::fs::create_dir_all(&work).unwrap();
    let out = Command::new(&py)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("interop/client_session.py"))
        .args(["--server", &server.url, "--home", s(&t.home), "--workdir", s(&work), "--vectors"])
        .arg(schemas().join("vectors/signed-command.json"))
        .env_remove("PLEDGE_SERVER")
        .env_remove("PLEDGE_IDENTITY")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the session failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let session: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(session["canonical_cases"], 4);
    server.stop();

    // Everything the client sent is in the ledger, which verifies (every event re-derived);
    // each command is signed by the identity the session used, its payload canonical.
    let v = t.ok(&["verify"]);
    assert_eq!(v["ok"], true);
    let f = t.ledger.parent().unwrap().join("after.jsonl");
    t.ok(&["export", s(&f)]);
    let events: HashMap<String, Value> = std::fs::read_to_string(&f)
        .unwrap()
        .lines()
        .map(|l| (blake3::hash(l.as_bytes()).to_hex().to_string(), serde_json::from_str(l).unwrap()))
        .collect();
    let keys: HashSet<&str> =
        session["key_ids"].as_object().unwrap().values().map(|v| v.as_str().unwrap()).collect();
    let sent = session["sent"].as_array().unwrap();
    assert_eq!(sent.len(), 6);
    let b64 = base64::engine::general_purpose::STANDARD;
    for h in sent {
        let e = events.get(h.as_str().unwrap()).unwrap_or_else(|| panic!("{h} is not in the ledger"));
        let env = &e["cause"]["command"];
        assert!(keys.contains(env["signatures"][0]["keyid"].as_str().unwrap()), "{e}");
        let payload = b64.decode(env["payload"].as_str().unwrap()).unwrap();
        let parsed: Value = serde_json::from_slice(&payload).unwrap();
        assert_eq!(ledger::canonical::to_vec(&parsed).unwrap(), payload, "not canonical: {e}");
    }
    assert_eq!(t.ok(&["champion", "demand"])["champions"][0]["version"], session["champion"]);
}

// ---------------------------------------------------------------------------------------------
// MLflow

/// `mlflow` from `PLEDGE_MLFLOW` (CI sets it, and then it must be there), else on the `PATH`;
/// `None` with the reason printed otherwise. Its seed script runs with the Python beside it.
fn mlflow() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("PLEDGE_MLFLOW") {
        let p = PathBuf::from(p);
        assert!(p.is_file(), "PLEDGE_MLFLOW names `{}`, which does not exist", p.display());
        return Some(p);
    }
    let found = on_path("mlflow");
    if found.is_none() {
        eprintln!("skipped: MLflow is not installed (`pip install mlflow`, or set PLEDGE_MLFLOW; .ci/run installs it)");
    }
    found
}

/// A real `mlflow server` on a sqlite store in a temporary directory; its process group is
/// killed when dropped.
struct MlflowServer {
    child: std::process::Child,
    url: String,
    python: PathBuf,
    _dir: tempfile::TempDir,
}

impl MlflowServer {
    fn start(bin: &Path) -> MlflowServer {
        use std::io::BufRead;
        use std::os::unix::process::CommandExt;
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut child = Command::new(bin)
            .args(["server", "--host", "127.0.0.1", "--port", &port.to_string(), "--workers", "1"])
            .arg("--backend-store-uri")
            .arg(format!("sqlite:///{}", dir.path().join("mlflow.db").display()))
            .arg("--default-artifact-root")
            .arg(dir.path().join("artifacts"))
            .stderr(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap();
        // Ready when it says it listens; the log is drained until the server ends.
        let (tx, rx) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        let needle = format!("127.0.0.1:{port}");
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            let mut log = String::new();
            for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.is_some() {
                    log.push_str(&line);
                    log.push('\n');
                }
                if (line.contains("running on") || line.contains("Listening at")) && line.contains(&needle) {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(Ok(()));
                    }
                }
            }
            if let Some(tx) = tx {
                let _ = tx.send(Err(log));
            }
        });
        match rx.recv_timeout(std::time::Duration::from_secs(180)) {
            Ok(Ok(())) => {}
            Ok(Err(log)) => panic!("mlflow server ended before listening:\n{log}"),
            Err(_) => panic!("mlflow server did not listen within 180 s"),
        }
        let python = bin.parent().unwrap().join("python");
        MlflowServer { child, url: format!("http://127.0.0.1:{port}"), python, _dir: dir }
    }

    fn seed(&self, more: bool) -> Value {
        let mut c = Command::new(&self.python);
        c.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("interop/mlflow_seed.py")).arg(&self.url);
        if more {
            c.arg("--more");
        }
        let out = c.output().unwrap();
        assert!(out.status.success(), "seeding MLflow failed: {}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8(out.stdout).unwrap();
        serde_json::from_str(text.lines().last().unwrap()).unwrap()
    }
}

impl Drop for MlflowServer {
    fn drop(&mut self) {
        // The whole group: mlflow's uvicorn worker and job runners too.
        let _ = Command::new("kill").args(["-KILL", "--", &format!("-{}", self.child.id())]).status();
        let _ = self.child.wait();
    }
}

#[test]
fn an_mlflow_history_lands_in_the_ledger_once_signed_and_verifiable() {
    let Some(bin) = mlflow() else { return };
    let server = MlflowServer::start(&bin);
    let seeded = server.seed(false);
    let t = crate::workflow::team();
    let run = |args: &[&str]| {
        let out = t.pledge().args(args).output().unwrap();
        (
            out.status.code().unwrap(),
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    };
    let head = |t: &crate::workflow::Team| t.ok(&["verify"])["summary"]["head"]["hash"].clone();
    let uri = server.url.as_str();

    // Refused before anything is written: an unknown model, a model without a task, an
    // unreachable server.
    let before = head(&t);
    for (args, needle) in
        [(vec!["--model", "nope"], "no registered model `nope`"), (vec!["--model", "churn"], "has no task")]
    {
        let mut a =
            vec!["import", "mlflow", "--tracking-uri", uri, "--as", "maya", "--approver", "colby", "--json"];
        a.extend(args);
        let (code, _, err) = run(&a);
        assert_eq!(code, 2, "{err}");
        assert!(err.contains(needle), "{err}");
        assert_eq!(head(&t), before, "a refused import wrote something");
    }
    let (code, _, err) = run(&["import", "mlflow", "--tracking-uri", "http://127.0.0.1:9", "--as", "maya"]);
    assert_eq!(code, 2, "{err}");
    assert_eq!(head(&t), before);

    // The whole history: churn needs its task; demand's comes from its `task` tag.
    let everything = [
        "import",
        "mlflow",
        "--tracking-uri",
        uri,
        "--task",
        "classification",
        "--as",
        "maya",
        "--approver",
        "colby",
    ];
    let r = t.ok(&everything);
    let r = &r["mlflow"];
    assert_eq!(r["commands"], 6, "{r}");
    let demand = r["models"].as_array().unwrap().iter().find(|m| m["model"] == "demand").unwrap();
    assert_eq!(demand["task"], "regression");
    assert_eq!(demand["recorded"], json!([["1", 1], ["2", 2], ["3", 3]]));
    assert_eq!(demand["dropped_metrics"], json!([["3", "val_loss"]]));
    assert_eq!(demand["bootstrapped"], 2);
    let churn = r["models"].as_array().unwrap().iter().find(|m| m["model"] == "churn").unwrap();
    assert_eq!(churn["bootstrapped"], 1);

    // What the ledger says: each version's run keeps MLflow's ids, parameters and metrics; the
    // alias is the champion, bootstrapped by the approver; the ledger verifies, artifacts too.
    let f = t.ledger.parent().unwrap().join("mlflow.jsonl");
    t.ok(&["export", s(&f)]);
    let events: Vec<Value> =
        std::fs::read_to_string(&f).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    for (mv, rid) in seeded["demand_versions"].as_object().unwrap() {
        let run_id = format!("mlflow:demand:v{mv}:{}", rid.as_str().unwrap());
        let e = events
            .iter()
            .find(|e| e["kind"] == "run.recorded" && e["payload"]["run_id"] == run_id.as_str())
            .unwrap_or_else(|| panic!("no run {run_id}"));
        let p = &e["payload"];
        assert_eq!(p["params"]["mlflow"]["run_id"], rid.as_str().unwrap());
        assert_eq!(p["params"]["mlflow"]["model_version"], mv.as_str());
        assert_eq!(p["params"]["mlflow"]["tags"]["team"], "forecasting");
        assert_eq!(p["trainer"], "external:mlflow (train_demand.py)");
        assert_eq!(p["recorded_by"], "maya");
        assert!(p["metrics"]["mae"].is_number() && p["metrics"].get("val_loss").is_none());
        assert!(p["dataset_version"].as_str().unwrap().starts_with("sales-"), "{p}");
        assert!(p["started_at"].as_str().unwrap().starts_with("2026-01-0"), "{p}");
    }
    let boot =
        events.iter().find(|e| e["kind"] == "champion.changed" && e["subject"]["model"] == "demand").unwrap();
    assert_eq!(boot["payload"]["cause"], "bootstrap");
    assert_eq!(boot["payload"]["by"], "colby");
    assert!(boot["payload"]["reason"].as_str().unwrap().contains("no history of alias moves"));
    let v = t.ok(&["verify", "--require-artifacts"]);
    assert_eq!(v["ok"], true);

    // Again: nothing new, nothing appended.
    let h = head(&t);
    let (code, out, err) = run(&everything);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("0 command(s) appended") && out.contains("already in the ledger"), "{out}");
    assert!(out.contains("Earlier champions are not recoverable from MLflow"), "{out}");
    assert_eq!(head(&t), h);

    // A week later: a better version, the alias moved. Only it is recorded; the ledger's
    // policy judges it against the champion and promotes it.
    server.seed(true);
    let r = t.ok(&[
        "import",
        "mlflow",
        "--tracking-uri",
        uri,
        "--model",
        "demand",
        "--as",
        "maya",
        "--approver",
        "colby",
    ]);
    let demand = &r["mlflow"]["models"][0];
    assert_eq!(r["mlflow"]["commands"], 1, "{r}");
    assert_eq!(demand["recorded"], json!([["4", 4]]));
    assert_eq!(demand["promoted_by_policy"], json!([4]));
    assert_eq!(demand["alias"]["outcome"], "already_champion");
    assert_eq!(t.ok(&["champion", "demand"])["champions"][0]["version"], 4);
    assert_eq!(t.ok(&["verify", "--require-artifacts"])["ok"], true);
}
