//! Storage that says no: a disk that fills up under a real `pledge serve` (a small tmpfs, filled
//! during writes), `pledge init` on a full disk, and a ledger its reader may not write.
//!
//! Mounting a tmpfs needs root (CI runs as root); elsewhere those tests print why they are
//! skipped. The read-only tests run everywhere.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::remote::Server;
use crate::workflow::{fixed_team, fixed_team_at, run_body, Team};

/// A tmpfs mounted on a temporary directory, unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// A tmpfs of `mib` MiB, or `None` (with the reason printed) where none can be mounted.
    fn mount(mib: u32) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m,mode=0755"), "tmpfs"])
            .arg(dir.path())
            .output();
        match out {
            Ok(o) if o.status.success() => Some(Tmpfs { dir }),
            Ok(o) => {
                eprintln!(
                    "skipped: cannot mount a tmpfs to fill ({}); run the tests as root, as CI does",
                    String::from_utf8_lossy(&o.stderr).trim()
                );
                None
            }
            Err(e) => {
                eprintln!("skipped: cannot run `mount` ({e}) to mount a tmpfs to fill");
                None
            }
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Fills the file system until exactly about `leave` bytes are free.
    fn fill(&self, leave: usize) {
        let headroom = self.path().join("headroom");
        std::fs::write(&headroom, vec![1u8; leave]).unwrap();
        let mut filler = std::fs::File::create(self.path().join("filler")).unwrap();
        for chunk in [1 << 20, 4096] {
            let block = vec![1u8; chunk];
            while filler.write_all(&block).is_ok() {}
        }
        drop(filler);
        std::fs::remove_file(headroom).unwrap();
    }

    /// Frees what [`Tmpfs::fill`] took.
    fn free(&self) {
        std::fs::remove_file(self.path().join("filler")).unwrap();
    }

    /// The names in the file system's root.
    fn entries(&self) -> BTreeSet<String> {
        std::fs::read_dir(self.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.dir.path()).status();
    }
}

/// POSTs `body` to the server; the status and the JSON answer.
fn post(url: &str, path: &str, body: &str) -> (u16, Value) {
    use std::io::Read;
    let addr = url.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(30))).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let code = head.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (code, serde_json::from_str(rest).unwrap_or(Value::Null))
}

/// The run ids recorded in the team's ledger (read where its environment says).
fn runs(t: &Team) -> BTreeSet<String> {
    let log = t.ok(&["log", "--kind", "run.recorded", "--limit", "1000"]);
    log["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["payload"]["run_id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_full_disk_refuses_commands_before_writing_and_the_server_takes_them_once_space_returns() {
    let Some(fs) = Tmpfs::mount(48) else { return };
    let t = fixed_team_at(fs.path().join("ledger"));
    let server = Server::start(&t);
    t.env.borrow_mut().push(("PLEDGE_SERVER", server.url.clone()));
    t.ok(&["submit", "run.record", &run_body("r1", "manual", 12.0), "--as", "maya"]);
    let envelope = t.home.join("r3.dsse.json");
    let env_path = envelope.to_str().unwrap();
    t.ok(&["sign", "run.record", &run_body("r3", "manual", 10.0), "--as", "maya", "--out", env_path]);

    // 8 MiB left, below the 32 MiB a commit requires by default.
    fs.fill(8 << 20);
    let err =
        t.fails(&["submit", "run.record", &run_body("r2", "manual", 11.0), "--as", "maya"], 6, "is full");
    assert!(err.contains("nothing was committed") && err.contains("MiB available"), "{err}");
    let (status, answer) =
        post(&server.url, "/api/v1/commands", &std::fs::read_to_string(&envelope).unwrap());
    assert_eq!(status, 507, "{answer}");
    assert_eq!(answer["error"]["code"], "storage_full", "{answer}");
    // Reads go on while writes are refused.
    assert_eq!(runs(&t), BTreeSet::from(["r1".to_string()]));

    // Space returns: the same envelope commits, without a restart, and sending it again
    // answers the same events (idempotent).
    fs.free();
    let first = t.ok(&["submit", "--envelope", env_path]);
    let again = t.ok(&["submit", "--envelope", env_path]);
    assert_eq!(first["events"], again["events"]);
    t.ok(&["submit", "run.record", &run_body("r2", "manual", 11.0), "--as", "maya"]);
    assert!(server.stop().success());
    t.env.borrow_mut().retain(|(k, _)| *k != "PLEDGE_SERVER");
    assert_eq!(runs(&t), BTreeSet::from(["r1", "r2", "r3"].map(String::from)));
    assert_eq!(t.ok(&["verify"])["ok"], true);
}

#[test]
fn when_the_disk_fills_under_the_writer_every_answer_matches_the_ledger() {
    let Some(fs) = Tmpfs::mount(48) else { return };
    let t = fixed_team_at(fs.path().join("ledger"));
    // No free-space margin: the events' reservation, the journal and sled meet the full disk
    // themselves.
    let server = Server::start_with(&t, &["--min-free-space", "0"]);
    t.env.borrow_mut().push(("PLEDGE_SERVER", server.url.clone()));
    fs.fill(256 << 10);
    let mut committed = BTreeSet::new();
    let mut refused = 0;
    for i in 0..600 {
        let id = format!("r{i}");
        let out = t
            .pledge()
            .args(["submit", "run.record", &run_body(&id, "manual", 12.0), "--as", "maya"])
            .output()
            .unwrap();
        match out.status.code() {
            Some(0) => {
                committed.insert(id);
            }
            Some(6) => {
                let err = String::from_utf8_lossy(&out.stderr);
                assert!(err.contains("is full") || err.contains("send it again"), "{err}");
                refused += 1;
                if refused == 5 {
                    break;
                }
            }
            other => panic!("{id}: exit {other:?}: {}", String::from_utf8_lossy(&out.stderr)),
        }
    }
    assert!(refused > 0, "the disk never filled: {} commits", committed.len());
    eprintln!("{} commands committed before the disk was full", committed.len());
    // Space returns: the server reopens its store by itself (reads work before any command
    // comes), and takes commands again, without a restart.
    fs.free();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let out =
            t.pledge().args(["log", "--kind", "run.recorded", "--limit", "1000", "--json"]).output().unwrap();
        if out.status.success() {
            let log: Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(log["events"].as_array().unwrap().len(), committed.len());
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "reads never recovered: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    for i in 1000..1005 {
        let id = format!("r{i}");
        t.ok(&["submit", "run.record", &run_body(&id, "manual", 12.0), "--as", "maya"]);
        committed.insert(id);
    }
    assert_eq!(runs(&t), committed, "every command answered as committed is in the ledger, and only those");
    assert!(server.stop().success());
    t.env.borrow_mut().retain(|(k, _)| *k != "PLEDGE_SERVER");
    assert_eq!(runs(&t), committed);
    assert_eq!(t.ok(&["verify"])["ok"], true);
}

#[test]
fn init_on_a_full_disk_leaves_nothing_behind() {
    let Some(fs) = Tmpfs::mount(16) else { return };
    fs.fill(0);
    let home = tempfile::tempdir().unwrap();
    let ledger = fs.path().join("new");
    for margin in ["32", "0"] {
        let out = assert_cmd::Command::cargo_bin("pledge")
            .unwrap()
            .env("PLEDGE_HOME", home.path())
            .args(["init", "--as", "root", "--min-free-space", margin, "--ledger"])
            .arg(&ledger)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(6), "--min-free-space {margin}: {err}");
        assert!(
            err.contains(&format!("`{}`", ledger.display())) && !err.contains(".new.init"),
            "the error names the ledger, not its staging directory: {err}"
        );
        assert_eq!(fs.entries(), BTreeSet::from(["filler".to_string()]), "--min-free-space {margin}");
    }
    fs.free();
    let out = assert_cmd::Command::cargo_bin("pledge")
        .unwrap()
        .env("PLEDGE_HOME", home.path())
        .args(["init", "--as", "root", "--min-free-space", "1", "--ledger"])
        .arg(&ledger)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(fs.entries(), BTreeSet::from(["new".to_string()]));
}

/// Every file under `dir` with its blake3, to show that nothing was written.
fn digests(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut out = vec![];
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((p.clone(), blake3::hash(&std::fs::read(&p).unwrap()).to_hex().to_string()));
            }
        }
    }
    out.sort();
    out
}

/// `pledge ARGS --json` on `ledger` as `user` (a name for `setpriv`, or `None` for this user):
/// exit code, stdout, stderr.
fn pledge_as(user: Option<&str>, ledger: &Path, args: &[&str]) -> (i32, String, String) {
    let pledge = assert_cmd::cargo::cargo_bin("pledge");
    let mut cmd = match user {
        Some(u) => {
            let mut c = Command::new("setpriv");
            c.args(["--reuid", u, "--regid", u, "--clear-groups", "--"]).arg(&pledge);
            c
        }
        None => Command::new(&pledge),
    };
    let out = cmd
        .args(args)
        .arg("--json")
        .env("PLEDGE_LEDGER", ledger)
        .env("PLEDGE_HOME", "/nonexistent")
        .env_remove("PLEDGE_SERVER")
        .env_remove("PLEDGE_FIXED_TIME")
        .output()
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

/// Makes every file and directory under `dir` read-only for everyone (readable and
/// traversable by all).
fn make_read_only(dir: &Path) {
    let status = Command::new("chmod").args(["-R", "a-w,a+rX"]).arg(dir).status().unwrap();
    assert!(status.success());
}

#[test]
fn a_ledger_the_user_may_only_read_is_verified_read_and_exported_and_nothing_is_written() {
    let t = fixed_team();
    t.bootstrap_r1(12.0);
    // A crash leaves commits in the journal the store has not written yet: the store's files as a
    // running server opened them, and the journal after one more commit through it.
    let shared = tempfile::tempdir().unwrap();
    let copy = shared.path().join("ledger");
    let server = Server::start(&t);
    let status = Command::new("cp").arg("-a").arg(&t.ledger).arg(&copy).status().unwrap();
    assert!(status.success());
    t.env.borrow_mut().push(("PLEDGE_SERVER", server.url.clone()));
    t.ok(&["submit", "run.record", &run_body("r2", "scheduled", 11.0), "--as", "maya"]);
    std::fs::copy(t.ledger.join("pledge.wal"), copy.join("pledge.wal")).unwrap();
    assert!(server.stop().success());
    t.env.borrow_mut().retain(|(k, _)| *k != "PLEDGE_SERVER");
    let events = t.ok(&["verify"])["summary"]["events"].as_u64().unwrap();
    let in_files = std::fs::metadata(copy.join("events.idx")).unwrap().len() / 8;
    assert!(in_files < events, "the journal holds events the store does not ({in_files} of {events})");

    // The reader's copy is read-only for everyone, in a directory others may enter.
    make_read_only(&copy);
    let status = Command::new("chmod").arg("a+rx").arg(shared.path()).status().unwrap();
    assert!(status.success());
    let before = digests(&copy);
    // As root, read as `nobody` (uid and gid 65534; root may write anyway); otherwise as this
    // user.
    let user = is_root().then_some("65534");
    if user.is_some() {
        let tmp = std::env::temp_dir();
        assert!(!tmp.starts_with(shared.path()), "{}", tmp.display());
    }

    let (code, out, err) = pledge_as(user, &copy, &["verify"]);
    assert_eq!(code, 0, "{err}");
    let verified: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(verified["ok"], true, "{out}");
    let expected = t.ok(&["verify"]);
    assert_eq!(verified["summary"]["head"], expected["summary"]["head"], "the journal tail was read");
    let (code, out, err) = pledge_as(user, &copy, &["champion", "demand"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap(), t.ok(&["champion", "demand"]));
    let (code, out, err) = pledge_as(user, &copy, &["log", "--kind", "run.recorded"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["events"].as_array().unwrap().len(), 2);
    let export = tempfile::tempdir().unwrap();
    let status = Command::new("chmod").arg("a+rwx").arg(export.path()).status().unwrap();
    assert!(status.success());
    let file = export.path().join("ledger.jsonl");
    let (code, _, err) = pledge_as(user, &copy, &["export", file.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(t.ok(&["verify", "--export", file.to_str().unwrap()])["ok"], true);

    // A write by this (non-root) user is refused by the store, naming the cause. (Root may
    // write anyway; the read-only mount test covers it.)
    if user.is_none() {
        let out = t
            .pledge()
            .args(["submit", "alert.read", r#"{"alert_id":"A-x"}"#, "--as", "maya", "--json"])
            .env("PLEDGE_LEDGER", &copy)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(6), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(String::from_utf8_lossy(&out.stderr).contains("read-only"));
    }
    assert_eq!(digests(&copy), before, "reading a read-only ledger writes nothing in it");
}

#[test]
fn a_ledger_on_a_read_only_mount_is_verified_even_by_root() {
    let t = fixed_team();
    t.ok(&["submit", "run.record", &run_body("r1", "manual", 12.0), "--as", "maya"]);
    let mnt = tempfile::tempdir().unwrap();
    let bind = Command::new("mount").arg("--bind").arg(&t.ledger).arg(mnt.path()).output();
    match bind {
        Ok(o) if o.status.success() => {}
        other => {
            eprintln!("skipped: cannot bind-mount the ledger read-only ({other:?}); run as root, as CI does");
            return;
        }
    }
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
    let _guard = Unmount(mnt.path().to_path_buf());
    let ro = Command::new("mount").args(["-o", "remount,ro,bind"]).arg(mnt.path()).status().unwrap();
    assert!(ro.success());
    let expected = t.ok(&["verify"])["summary"]["head"].clone();
    let before = digests(mnt.path());
    let (code, out, err) = pledge_as(None, mnt.path(), &["verify"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["summary"]["head"], expected);
    let out = Command::new(assert_cmd::cargo::cargo_bin("pledge"))
        .args(["submit", "alert.read", r#"{"alert_id":"A-x"}"#, "--as", "maya", "--json"])
        .env("PLEDGE_LEDGER", mnt.path())
        .env("PLEDGE_HOME", &t.home)
        .env("PLEDGE_FIXED_TIME", "2026-03-02T09:00:00Z")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(6), "{}", String::from_utf8_lossy(&out.stderr));
    let err: Value = serde_json::from_slice(&out.stderr).unwrap();
    assert!(err["error"]["message"].as_str().unwrap().contains("read-only"), "{err}");
    assert_eq!(digests(mnt.path()), before);
}

#[test]
fn init_where_the_user_may_not_write_is_refused_and_creates_nothing() {
    let parent = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let status = Command::new("chmod").arg("a+rwx").arg(home.path()).status().unwrap();
    assert!(status.success());
    make_read_only(parent.path());
    let ledger = parent.path().join("new");
    let pledge = assert_cmd::cargo::cargo_bin("pledge");
    // As root, as `nobody` (root may write anyway); otherwise as this user.
    let mut cmd = match is_root() {
        true => {
            let mut c = Command::new("setpriv");
            c.args(["--reuid", "65534", "--regid", "65534", "--clear-groups", "--"]).arg(&pledge);
            c
        }
        false => Command::new(&pledge),
    };
    let out = cmd
        .args(["init", "--as", "root", "--json", "--ledger"])
        .arg(&ledger)
        .env("PLEDGE_HOME", home.path())
        .env_remove("PLEDGE_FIXED_TIME")
        .output()
        .unwrap();
    let err: Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(6), "{err}");
    assert!(err["error"]["message"].as_str().unwrap().contains("Permission denied"), "{err}");
    assert_eq!(std::fs::read_dir(parent.path()).unwrap().count(), 0, "nothing was created");
}
