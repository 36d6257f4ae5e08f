//! Test vectors in `schemas/vectors/`: canonical bytes and hashes of events, and a signed
//! command with its key, PAE bytes and signature. An independent verifier can check itself
//! against these files; this test checks the Rust code against them.
//!
//! `PLEDGE_WRITE_VECTORS=1` rewrites the files (only when the format deliberately changes).

use base64::Engine;
use ledger::canonical::{self, StepClock, Timestamp};
use ledger::dsse::{pae, Envelope, COMMAND_PAYLOAD_TYPE};
use ledger::keys::{PublicKey, SecretKey};
use ledger::{Command, Digest, ExpectedHead, Ledger, NoDomain, RecordedEvent, SignedCommand, Verifier};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::schemas::schema_dir;

fn vector_path(name: &str) -> std::path::PathBuf {
    schema_dir().join("vectors").join(name)
}

/// Compares `value` with the stored vector (or writes it when asked to).
#[track_caller]
fn check_or_write(name: &str, value: &Value) {
    let path = vector_path(name);
    let text = serde_json::to_string_pretty(value).unwrap() + "\n";
    if std::env::var_os("PLEDGE_WRITE_VECTORS").is_some() {
        std::fs::write(&path, text).unwrap();
        return;
    }
    let stored = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let stored: Value = serde_json::from_str(&stored).unwrap();
    assert_eq!(&stored, value, "{name} differs from what the code produces");
}

const SEED_HEX: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";

fn vector_key() -> SecretKey {
    let d: Digest = SEED_HEX.parse().unwrap();
    SecretKey::from_seed(d.0)
}

fn t(s: &str) -> Timestamp {
    Timestamp::parse_exact(s).unwrap()
}

const LEDGER: &str = "019a4b2c-1d00-7000-8000-00000000000a";

fn vector_command() -> Command {
    Command {
        id: Uuid::parse_str("019a4b2c-1d00-7a11-8000-000000000002").unwrap(),
        ledger: Uuid::parse_str(LEDGER).unwrap(),
        issued_at: t("2026-11-02T08:30:00.250000Z"),
        kind: "role.grant".into(),
        body: json!({"principal": "colby", "role": "approver"}),
    }
}

/// A three-event ledger made with the vector key (root admin): genesis, enroll `colby`,
/// grant `colby` approver.
fn vector_ledger(dir: &std::path::Path) -> Vec<RecordedEvent> {
    let clock = std::sync::Arc::new(StepClock::new(t("2026-11-02T08:30:01.000000Z"), 1_500_000));
    let mut l = Ledger::open(dir, clock, NoDomain).unwrap();
    let k = vector_key();
    let colby = SecretKey::from_seed([0x42; 32]);
    let lid = Uuid::parse_str(LEDGER).unwrap();
    let genesis = Command {
        id: Uuid::parse_str("019a4b2c-1d00-7a11-8000-000000000000").unwrap(),
        ledger: lid,
        issued_at: t("2026-11-02T08:29:59.000000Z"),
        kind: "ledger.create".into(),
        body: json!({"admins": [{"principal": "root", "public_key": k.public().to_string()}],
                     "policy": ledger::trust::base_policy()}),
    };
    let enroll = Command {
        id: Uuid::parse_str("019a4b2c-1d00-7a11-8000-000000000001").unwrap(),
        ledger: lid,
        issued_at: t("2026-11-02T08:30:00.000000Z"),
        kind: "key.enroll".into(),
        body: json!({"principal": "colby", "public_key": colby.public().to_string()}),
    };
    let mut out = vec![];
    for (c, expected) in
        [(genesis, ExpectedHead::Empty), (enroll, ExpectedHead::Any), (vector_command(), ExpectedHead::Any)]
    {
        out.extend(l.submit(c.sign(&k).unwrap(), expected).unwrap().events);
    }
    out
}

#[test]
fn signed_command_vector() {
    let k = vector_key();
    let cmd = vector_command();
    let payload = cmd.to_bytes().unwrap();
    let pae_bytes = pae(COMMAND_PAYLOAD_TYPE, &payload);
    let env = cmd.sign(&k).unwrap();
    let v = json!({
        "description": "A role.grant command signed by the RFC 8032 test key 1 seed. payload_canonical is the exact payload; pae is DSSE's pre-authentication encoding that the signature covers.",
        "seed_hex": SEED_HEX,
        "public_key_hex": k.public().to_string(),
        "key_id": k.public().key_id(),
        "payload_type": COMMAND_PAYLOAD_TYPE,
        "command": serde_json::to_value(&cmd).unwrap(),
        "payload_canonical": String::from_utf8(payload.clone()).unwrap(),
        "pae": String::from_utf8(pae_bytes.clone()).unwrap(),
        "signature_base64": env.signatures[0].sig,
        "envelope": serde_json::to_value(&env).unwrap(),
    });
    check_or_write("signed-command.json", &v);

    // Independent checks of the stored vector, as another implementation would do them.
    let stored: Value =
        serde_json::from_str(&std::fs::read_to_string(vector_path("signed-command.json")).unwrap()).unwrap();
    // RFC 8032 section 7.1, test 1: this seed's public key.
    assert_eq!(stored["public_key_hex"], "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
    let pk: PublicKey = stored["public_key_hex"].as_str().unwrap().parse().unwrap();
    assert_eq!(Digest::of(pk.as_bytes()).to_string(), stored["key_id"].as_str().unwrap());
    let sig = base64::engine::general_purpose::STANDARD
        .decode(stored["signature_base64"].as_str().unwrap())
        .unwrap();
    assert!(pk.verify_strict(stored["pae"].as_str().unwrap().as_bytes(), &sig));
    let env: Envelope = serde_json::from_value(stored["envelope"].clone()).unwrap();
    let parsed = SignedCommand::parse(env).unwrap();
    assert_eq!(parsed.payload(), stored["payload_canonical"].as_str().unwrap().as_bytes());
}

#[test]
fn event_chain_vector() {
    let dir = tempfile::tempdir().unwrap();
    let events = vector_ledger(dir.path());
    let v = json!({
        "description": "A three-event ledger (genesis, key.enrolled, role.granted). canonical is the exact stored/exported line; blake3 is the event id; each prev is the previous blake3.",
        "events": events.iter().map(|e| json!({
            "seq": e.seq(),
            "canonical": String::from_utf8(e.bytes.clone()).unwrap(),
            "blake3": e.hash,
        })).collect::<Vec<_>>(),
    });
    check_or_write("event-chain.json", &v);

    let stored: Value =
        serde_json::from_str(&std::fs::read_to_string(vector_path("event-chain.json")).unwrap()).unwrap();
    let mut verifier = Verifier::new();
    let mut prev: Option<String> = None;
    for (i, e) in stored["events"].as_array().unwrap().iter().enumerate() {
        let bytes = e["canonical"].as_str().unwrap().as_bytes();
        assert_eq!(Digest::of(bytes).to_string(), e["blake3"].as_str().unwrap());
        let parsed: Value = serde_json::from_slice(bytes).unwrap();
        assert_eq!(parsed["prev"].as_str().map(String::from), prev);
        assert_eq!(canonical::to_vec(&parsed).unwrap(), bytes, "stored line is canonical");
        verifier.push(i as u64, bytes, None).unwrap();
        prev = Some(e["blake3"].as_str().unwrap().to_string());
    }
    assert_eq!(verifier.finish().unwrap().events, 3);
}

#[test]
fn canonical_json_vector() {
    // Inputs written the way people write JSON; outputs as RFC 8785 requires.
    let cases = [
        r#"{"b": 2, "a": 1, "c": {"z": [3, 2, 1], "y": null}}"#,
        r#"{"numbers": [0.1, 1.0, -0.0, 1e21, 1e-7, 123456789012, 0.000001, 9007199254740991, 1.5e300, 5e-324]}"#,
        r#"{"\u00e9": "caf\u00e9", "z": "\ud83d\ude00", "\ud83d\ude00": "smile", "a\tb": "line\nbreak \"quoted\" \\ /"}"#,
        r#"{"mae": 12.8, "mape": 0.1845, "auc": 0.8675309, "threshold": 0.15}"#,
    ];
    let v = json!({
        "description": "RFC 8785 canonicalisation: input JSON text and the exact canonical output (numbers in ECMAScript shortest form, keys sorted by UTF-16 code units, minimal string escaping).",
        "cases": cases.iter().map(|input| {
            let value: Value = serde_json::from_str(input).unwrap();
            let out = canonical::to_vec(&value).unwrap();
            json!({"input": input, "canonical": String::from_utf8(out.clone()).unwrap(), "blake3": Digest::of(&out)})
        }).collect::<Vec<_>>(),
    });
    check_or_write("canonical-json.json", &v);
}

/// The Merkle tree and checkpoints of the three-event vector ledger: leaf hashes, the root at
/// every size, every inclusion and consistency proof, a checkpoint signed by a log key and
/// cosigned by a witness, the vkeys, and a tlog-proof.
#[test]
fn merkle_tree_and_checkpoint_vector() {
    use ledger::merkle::{self, MemoryTree};
    use ledger::note::{self, Checkpoint, NoteKey, TlogProof};
    let b64 = |h: &[u8]| base64::engine::general_purpose::STANDARD.encode(h);
    let dir = tempfile::tempdir().unwrap();
    let events = vector_ledger(dir.path());
    let mut tree = MemoryTree::default();
    for e in &events {
        tree.push(merkle::leaf_hash(&e.bytes));
    }
    let n = events.len() as u64;
    let log = SecretKey::from_seed([0x10; 32]);
    let witness = SecretKey::from_seed([0x20; 32]);
    let origin = note::origin(&Uuid::parse_str(LEDGER).unwrap());
    let cp = Checkpoint { origin: origin.clone(), size: n, root: merkle::root(&tree, n).unwrap() };
    let mut signed = cp.sign(&log);
    signed.add(note::cosign(&signed.text, "witness.example/w1", &witness, 1_793_000_000));
    let log_key = NoteKey::log(&origin, log.public());
    let witness_key = NoteKey::witness("witness.example/w1", witness.public());
    let proof = TlogProof {
        extra: Some(events[1].bytes.clone()),
        index: 1,
        proof: merkle::inclusion_proof(&tree, 1, n).unwrap(),
        checkpoint: signed.clone(),
    };
    let v = json!({
        "description": "The RFC 6962 tree (SHA-256; leaf = 0x00 || event canonical bytes, node = 0x01 || left || right) of the three events of event-chain.json: leaf hashes, roots at every size (size 0: SHA-256 of nothing), every inclusion and consistency proof (base64, from the leaf's sibling up / RFC 6962 PROOF order), a C2SP checkpoint signed by a log key (Ed25519 seed 0x10 x 32, key name = origin) and cosigned at POSIX time 1793000000 by a witness (seed 0x20 x 32, tlog-cosignature v1), both vkeys, and the tlog-proof of event 1 against that checkpoint.",
        "leaves": events.iter().map(|e| b64(&merkle::leaf_hash(&e.bytes))).collect::<Vec<_>>(),
        "roots": (0..=n).map(|s| b64(&merkle::root(&tree, s).unwrap())).collect::<Vec<_>>(),
        "inclusion": (1..=n).flat_map(|size| (0..size).map(move |i| (i, size))).map(|(i, size)| json!({
            "index": i, "size": size,
            "proof": merkle::inclusion_proof(&tree, i, size).unwrap().iter().map(|h| b64(h)).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "consistency": (1..=n).flat_map(|new| (1..=new).map(move |old| (old, new))).map(|(old, new)| json!({
            "old": old, "new": new,
            "proof": merkle::consistency_proof(&tree, old, new).unwrap().iter().map(|h| b64(h)).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "log_vkey": log_key.vkey(),
        "witness_vkey": witness_key.vkey(),
        "checkpoint": signed.to_string(),
        "tlog_proof": proof.to_string(),
    });
    check_or_write("merkle-tree.json", &v);

    // As another implementation would check the stored vector.
    let stored: Value =
        serde_json::from_str(&std::fs::read_to_string(vector_path("merkle-tree.json")).unwrap()).unwrap();
    let note = ledger::note::SignedNote::parse(stored["checkpoint"].as_str().unwrap()).unwrap();
    let log_key = NoteKey::parse_vkey(stored["log_vkey"].as_str().unwrap()).unwrap();
    let witness_key = NoteKey::parse_vkey(stored["witness_vkey"].as_str().unwrap()).unwrap();
    assert_eq!(log_key.verify(&note).unwrap(), None);
    assert_eq!(witness_key.verify(&note).unwrap(), Some(1_793_000_000));
    let cp = Checkpoint::from_note(&note).unwrap();
    assert_eq!(b64(&cp.root), stored["roots"][n as usize].as_str().unwrap());
    let proof = TlogProof::parse(stored["tlog_proof"].as_str().unwrap()).unwrap();
    let leaf = merkle::leaf_hash(proof.extra.as_ref().unwrap());
    merkle::verify_inclusion(proof.index, cp.size, &leaf, &proof.proof, &cp.root).unwrap();
    // Every changed byte of the checkpoint's text or signatures is refused.
    let text = stored["checkpoint"].as_str().unwrap().as_bytes().to_vec();
    for at in 0..text.len() {
        let mut bad = text.clone();
        bad[at] ^= 0x01;
        let Ok(s) = String::from_utf8(bad) else { continue };
        let ok = ledger::note::SignedNote::parse(&s).is_ok_and(|n| {
            log_key.verify(&n).is_ok() && witness_key.verify(&n).is_ok() && n.text == note.text
        });
        assert!(!ok, "a checkpoint with byte {at} changed still verifies");
    }
}

/// The C2SP signed-note specification's own example: its vkey verifies its note.
#[test]
fn the_c2sp_signed_note_example_verifies() {
    let key = ledger::note::NoteKey::parse_vkey(
        "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
    )
    .unwrap();
    let note = ledger::note::SignedNote::parse(
        "This is an example message.\n\n\u{2014} example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n",
    )
    .unwrap();
    assert_eq!(key.verify(&note).unwrap(), None);
    let mut wrong = note.clone();
    wrong.text = "This is an example message!\n".into();
    assert!(key.verify(&wrong).is_err());
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A snapshot file (FORMAT.md section 19) in format 2 with an index section and in format 1
/// without one: its sections (opaque bytes here; the trust and domain sections' contents are
/// specified apart), the whole file, the index digest and the checksum. Both files decode to
/// the snapshot they were made from.
#[test]
fn snapshot_file_vector() {
    use ledger::snapshot::{index_digest, Snapshot};
    let snap = Snapshot {
        seq: 41,
        event: Digest::of(b"event 41"),
        recorded_at: Timestamp::parse_exact("2026-03-01T00:00:00.000001Z").unwrap(),
        trust: b"trust section".to_vec(),
        domain: b"domain section".to_vec(),
        index: b"pledge-index/2\n\x92\x80\x80".to_vec(),
    };
    let file = snap.encode();
    let header = &file[..92];
    let format_1 = {
        let mut b = Snapshot { index: vec![], ..snap.clone() }.encode();
        b.truncate(b.len() - 32);
        b.drain(84..92);
        b[16..20].copy_from_slice(&1u32.to_le_bytes());
        let check = Digest::of(&b).0;
        b.extend_from_slice(&check);
        b
    };
    assert_eq!(Snapshot::decode(file.clone()).unwrap(), snap);
    assert_eq!(Snapshot::decode(format_1.clone()).unwrap(), Snapshot { index: vec![], ..snap.clone() });
    check_or_write(
        "snapshot-file.json",
        &json!({
            "seq": snap.seq,
            "event": snap.event.to_string(),
            "recorded_at": snap.recorded_at.to_string(),
            "trust_hex": hex(&snap.trust),
            "domain_hex": hex(&snap.domain),
            "index_hex": hex(&snap.index),
            "index_digest_hex": hex(&index_digest(header, &snap.trust, &snap.index)),
            "file_hex": hex(&file),
            "checksum_hex": hex(&file[file.len() - 32..]),
            "format_1_file_hex": hex(&format_1),
        }),
    );
}

/// An event index run (FORMAT.md section 20) of the 1,024 events `[1024, 2048)`, each given by
/// its id and the names it is listed under (its kind; its model and exact subject when it has
/// one; the key that signed its run's command) and, for an event that begins a run of commands,
/// the command's id: the key of every name, and the run file byte for byte, which opens and
/// answers every name's list and every command as the events give them.
#[test]
fn event_index_run_vector() {
    use ledger::event_index::{Builder, Name, Run};
    use ledger::keys::KeyId;
    const KINDS: [&str; 5] =
        ["run.recorded", "version.registered", "backtest.recorded", "champion.changed", "key.enrolled"];
    let signers = [KeyId(Digest::of(b"signer a")), KeyId(Digest::of(b"signer b"))];
    let (start, end) = (1024u64, 2048u64);
    let mut b = Builder::new(start);
    let mut events = vec![];
    let mut commands = serde_json::Map::new();
    let mut table: Vec<Value> = vec![];
    let mut keys = std::collections::BTreeMap::new();
    let mut lists: std::collections::BTreeMap<String, Vec<u64>> = Default::default();
    for seq in start..end {
        let i = seq as usize;
        let id = Digest::of(format!("event {seq}").as_bytes());
        let kind = KINDS[(i * 7 / 3) % KINDS.len()];
        let model = ["demand", "churn"][i % 2];
        let segment = [None, Some(""), Some("north"), Some("toys")][(i / 2) % 4];
        let mut names = vec![Name::Kind(kind)];
        if kind != "key.enrolled" {
            names.extend([Name::Model(model), Name::Subject(model, segment)]);
        }
        if i % 11 != 0 {
            names.push(Name::Signer(&signers[(i / 5) % 2]));
        }
        let described: Vec<Value> = names
            .iter()
            .map(|n| match n {
                Name::Kind(k) => json!(["kind", k]),
                Name::Model(m) => json!(["model", m]),
                Name::Subject(m, s) => json!(["subject", m, s]),
                Name::Signer(k) => json!(["signer", hex(k.0.as_bytes())]),
            })
            .collect();
        for (n, d) in names.iter().zip(&described) {
            let key = hex(&n.key().0);
            keys.entry(key.clone()).or_insert_with(Vec::new);
            if !keys[&key].contains(d) {
                keys.get_mut(&key).unwrap().push(d.clone());
            }
            let list = lists.entry(key).or_default();
            if list.last() != Some(&seq) {
                list.push(seq);
            }
        }
        b.add(seq, &id, &names.iter().map(Name::key).collect::<Vec<_>>());
        // Every third event begins a run; its command's id is the first 16 bytes of blake3 of
        // `command N`.
        if i % 3 == 0 {
            let command = uuid::Uuid::from_bytes(
                Digest::of(format!("command {seq}").as_bytes()).0[..16].try_into().unwrap(),
            );
            b.add_command(seq, &command);
            commands.insert(seq.to_string(), json!(command.to_string()));
        }
        let listed: Vec<String> = described
            .iter()
            .map(|d| {
                let at = table.iter().position(|t| t == d).unwrap_or_else(|| {
                    table.push(d.clone());
                    table.len() - 1
                });
                at.to_string()
            })
            .collect();
        events.push(json!(format!("{seq}: {}", listed.join(","))));
    }
    let bytes = b.encode();
    // Whole-model subjects written `null` and `""` are one name.
    assert!(keys.values().any(|names| names.len() == 2), "a key of two spellings");
    // The file read as FORMAT.md describes it (not with the code that wrote it).
    let be = |at: usize, n: usize| bytes[at..at + n].iter().fold(0u64, |a, b| a << 8 | u64::from(*b));
    assert_eq!(&bytes[..16], b"PLEDGEIX\0\0\0\x02\0\0\0\0");
    assert_eq!((be(16, 8), be(24, 8)), (start, end));
    let (names, postings, command_count) = (be(32, 8) as usize, be(40, 8) as usize, be(48, 8) as usize);
    assert_eq!(command_count, commands.len());
    assert_eq!(&bytes[56..88], &Digest::of(format!("event {}", end - 1).as_bytes()).0);
    let directory_end = 152 + 32 * names;
    assert_eq!(&bytes[120..152], &Digest::of(&[&bytes[..120], &bytes[152..directory_end]].concat()).0);
    let mut read = std::collections::BTreeMap::new();
    for e in 0..names {
        let at = 152 + 32 * e;
        let (first, count) = (be(at + 16, 8) as usize, be(at + 24, 8) as usize);
        let list: Vec<u64> = (first..first + count).map(|p| start + be(directory_end + 4 * p, 4)).collect();
        read.insert(hex(&bytes[at..at + 16]), list);
    }
    assert_eq!(read, lists);
    let ids_at = directory_end + 4 * postings;
    let commands_at = ids_at + 12 * (end - start) as usize;
    assert_eq!(bytes.len(), commands_at + 12 * command_count);
    assert_eq!(&bytes[88..120], &Digest::of(&bytes[commands_at..]).0, "the command table's digest");
    let listed: Vec<&[u8]> = bytes[commands_at..].chunks(12).collect();
    assert!(listed.windows(2).all(|w| w[0] < w[1]), "commands ascending");
    let mut read_commands = serde_json::Map::new();
    for c in &listed {
        let seq = start + u64::from(u32::from_be_bytes(c[8..].try_into().unwrap()));
        let id = &commands[&seq.to_string()];
        let id_bytes = *uuid::Uuid::parse_str(id.as_str().unwrap()).unwrap().as_bytes();
        assert_eq!(&Digest::of(&id_bytes).0[..8], &c[..8], "blake3 of the command id");
        read_commands.insert(seq.to_string(), id.clone());
    }
    assert_eq!(read_commands, commands);
    let ids: Vec<&[u8]> = bytes[ids_at..commands_at].chunks(12).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids ascending");
    for id in ids {
        let seq = start + u64::from(u32::from_be_bytes(id[8..].try_into().unwrap()));
        assert_eq!(&Digest::of(format!("event {seq}").as_bytes()).0[..8], &id[..8]);
    }
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join(ledger::event_index::file_name(start, end));
    std::fs::write(&path, &bytes).unwrap();
    let run = Run::open(&path).unwrap();
    assert_eq!((run.start, run.end, run.last), (start, end, Digest::of(b"event 2047")));
    for (seq, id) in &commands {
        let id = uuid::Uuid::parse_str(id.as_str().unwrap()).unwrap();
        assert_eq!(run.with_command(&id).unwrap(), vec![seq.parse::<u64>().unwrap()]);
    }
    check_or_write(
        "event-index-run.json",
        &json!({
            "description": "An event index run (FORMAT.md section 20) of the events [start, end). Event N's id is blake3 of the ASCII text `event N`. names lists every name: [\"kind\", kind], [\"model\", model], [\"subject\", model, segment or null], [\"signer\", the key id's 32 bytes in hex]; each entry of events is `N: i,j,...`, the positions in names of the names event N is listed under. commands maps each event that begins a run of commands to its command's id. keys maps each name's key (16 bytes, hex) to the names that give it; file_hex is the run file.",
            "start": start,
            "end": end,
            "names": table,
            "events": events,
            "commands": commands,
            "keys": keys,
            "file_name": ledger::event_index::file_name(start, end),
            "file_hex": hex(&bytes),
        }),
    );
}
