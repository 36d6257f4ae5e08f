//! Checkpoints through the library and the API: what the server accepts and refuses, and every
//! changed byte of a consistency proof refused by its offline check.

use axum::http::{Method, StatusCode};
use commands::app::transparency::{self, ConsistencyProof};
use ledger::note::{self, Checkpoint, NoteKey};
use serde_json::json;

use crate::harness::*;

#[test]
fn a_consistency_proof_checks_with_the_log_key_alone_and_every_changed_byte_fails() {
    let mut w = with_champion();
    let old = w.with_log_key();
    w.ok("scheduler", "run.record", run("r2", "scheduled", 11.5, 0.18, 0.91));
    let new = transparency::sign_checkpoint(w.ledger.store(), w.ledger.trust(), &key("plog")).unwrap();
    let proof = ConsistencyProof::make(w.ledger.store(), &old, &new).unwrap();
    let log = NoteKey::log(&old.checkpoint.origin, key("plog").public());
    let (o, n) = proof.check(&log).unwrap();
    assert_eq!((o.size, n.size), (old.checkpoint.size, new.checkpoint.size));
    let text = serde_json::to_vec(&proof).unwrap();
    for at in 0..text.len() {
        for mask in [0x01u8, 0x20] {
            let mut bad = text.clone();
            bad[at] ^= mask;
            let Ok(p) = serde_json::from_slice::<ConsistencyProof>(&bad) else { continue };
            assert!(p.check(&log).is_err() || p == proof, "byte {at} ^ {mask:#x} changed, still consistent");
        }
    }
    // Another log's key proves nothing; swapped checkpoints are refused.
    assert!(proof.check(&NoteKey::log(&old.checkpoint.origin, key("maya").public())).is_err());
    let swapped = ConsistencyProof { old: proof.new.clone(), new: proof.old.clone(), ..proof.clone() };
    assert!(swapped.check(&log).is_err());
}

#[test]
fn a_checkpoint_is_kept_only_if_a_log_key_signed_this_ledgers_tree() {
    let mut w = with_champion();
    let p = w.with_log_key();
    let store = w.ledger.store();
    let trust = w.ledger.trust();
    // A root that is not the tree's, signed by the log key: refused (integrity).
    let wrong = Checkpoint { root: [7; 32], ..p.checkpoint.clone() }.sign(&key("plog"));
    let f = transparency::accept_checkpoint(store, trust, &wrong).unwrap_err();
    assert_eq!(f.code, commands::app::failure::INTEGRITY, "{}", f.message);
    // The tree, signed by a key without the log role: refused.
    let by_maya = p.checkpoint.sign(&key("maya"));
    assert_eq!(
        transparency::accept_checkpoint(store, trust, &by_maya).unwrap_err().code,
        commands::app::failure::INTEGRITY
    );
    // A size past the ledger: refused as truncation.
    let ahead = Checkpoint { size: p.checkpoint.size + 5, ..p.checkpoint.clone() }.sign(&key("plog"));
    assert!(transparency::accept_checkpoint(store, trust, &ahead).unwrap_err().message.contains("truncated"));
    // A cosignature by a witness the policy does not name: refused; the checkpoint unchanged.
    let mut cosigned = p.note.clone();
    cosigned.add(note::cosign(&cosigned.text, "w1", &key("ana"), 1_800_000_000));
    assert_eq!(
        transparency::add_cosignatures(store, trust, &cosigned).unwrap_err().code,
        commands::app::failure::REJECTED
    );
    let kept = ledger::checkpoints::Checkpoints::of(store.dir()).get(p.checkpoint.size).unwrap().unwrap();
    assert_eq!(kept.note.signatures.len(), 1);
}

#[tokio::test]
async fn the_api_serves_checkpoints_cosignatures_and_proofs() {
    let mut w = with_champion();
    let p = w.with_log_key();
    // ana's key is a witness the policy names.
    let witness = NoteKey::witness("w1", key("ana").public());
    let mut policy = commands::domain::default_policy();
    policy["witnesses"] = json!({"keys": [witness.vkey()], "quorum": 1});
    w.ok("root", "policy.set", json!({"policy": policy}));
    let (ledger, dir, _ids) = w.into_parts();
    let (state, writer) = commands::api::AppState::new(ledger, commands::api::Options::default()).unwrap();
    let app = commands::api::app(state.clone());
    let call = |method: Method, path: String, body: Option<serde_json::Value>| {
        let app = app.clone();
        async move {
            use http_body_util::BodyExt;
            use tower::ServiceExt;
            let req = axum::http::Request::builder()
                .method(method)
                .uri(path)
                .header("content-type", "application/json")
                .body(axum::body::Body::from(body.map_or(String::new(), |b| b.to_string())))
                .unwrap();
            let resp = app.oneshot(req).await.unwrap();
            let status = resp.status();
            let bytes = resp.into_body().collect().await.unwrap().to_bytes();
            (status, serde_json::from_slice::<serde_json::Value>(&bytes).unwrap())
        }
    };
    let size = p.checkpoint.size;
    let (s, doc) = call(Method::GET, "/api/v1/checkpoints/latest".into(), None).await;
    assert_eq!(
        (s, doc["size"].as_u64(), doc["published"].clone()),
        (StatusCode::OK, Some(size), json!(false))
    );
    // Cosigned by the named witness: kept, quorum met.
    let mut cosigned = p.note.clone();
    cosigned.add(note::cosign(&cosigned.text, "w1", &key("ana"), 1_800_000_000));
    let (s, doc) = call(
        Method::POST,
        format!("/api/v1/checkpoints/{size}/cosignatures"),
        Some(json!({"note": cosigned.to_string()})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{doc}");
    assert_eq!((doc["published"].clone(), doc["cosigned_by"].clone()), (json!(true), json!(["w1"])));
    // The same note posted for another size, or a note cosigned by nobody the policy names.
    let (s, _) = call(
        Method::POST,
        format!("/api/v1/checkpoints/{}/cosignatures", size + 1),
        Some(json!({"note": cosigned.to_string()})),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "a checkpoint of another size than the path's");
    let (s, doc) = call(
        Method::POST,
        format!("/api/v1/checkpoints/{size}/cosignatures"),
        Some(json!({"note": p.note.to_string()})),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{doc}");
    // Proofs: an inclusion proof names the witnessed checkpoint and checks offline.
    let (s, doc) = call(Method::GET, "/api/v1/proofs/inclusion?event=3".into(), None).await;
    assert_eq!(s, StatusCode::OK, "{doc}");
    let proof = note::TlogProof::parse(doc["tlog_proof"].as_str().unwrap()).unwrap();
    let log = NoteKey::log(&p.checkpoint.origin, key("plog").public());
    let proven = transparency::check_tlog_proof(&proof, &log, &[witness], 1).unwrap();
    assert_eq!(proven.seq, 3);
    let (s, _) = call(Method::GET, format!("/api/v1/proofs/inclusion?event={}", size + 10), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "no such event");
    let (s, _) =
        call(Method::GET, format!("/api/v1/proofs/consistency?from={size}&to={}", size + 1), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "no checkpoint of that size");
    // A checkpoint signed by a non-log key: 409 integrity, nothing kept.
    let (s, doc) = call(
        Method::POST,
        "/api/v1/checkpoints".into(),
        Some(json!({"note": p.checkpoint.sign(&key("maya")).to_string()})),
    )
    .await;
    assert_eq!((s, doc["error"]["code"].clone()), (StatusCode::CONFLICT, json!("integrity")), "{doc}");
    drop(app);
    drop(state);
    tokio::task::spawn_blocking(move || writer.join()).await.unwrap();
    drop(dir);
}
