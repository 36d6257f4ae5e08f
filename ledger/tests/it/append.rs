//! The append path: authentication, authorization, idempotency, optimistic concurrency.
//! Each test is given a ledger, when a command is submitted, then events or a rejection.

use base64::Engine;
use ledger::dsse::Envelope;
use ledger::{ExpectedHead, Ledger, StoreError, SubmitError};
use serde_json::json;

use crate::support::*;

#[track_caller]
fn then_rejected(l: &mut Ledger<Notes>, env: Envelope, rule: &str) -> String {
    let before = l.store().head();
    let len = l.store().len();
    match l.submit(env, ExpectedHead::Any) {
        Err(SubmitError::Rejected(r)) => {
            assert_eq!(r.rule, rule, "wrong rule: {r}");
            assert_eq!(l.store().head(), before, "a rejected command must append nothing");
            assert_eq!(l.store().len(), len);
            r.message
        }
        other => panic!("expected rejection by `{rule}`, got {other:?}"),
    }
}

#[track_caller]
fn then_invalid(l: &mut Ledger<Notes>, env: Envelope, needle: &str) {
    let before = l.store().head();
    match l.submit(env, ExpectedHead::Any) {
        Err(SubmitError::Invalid(m)) => {
            assert!(m.contains(needle), "message `{m}` should mention `{needle}`");
            assert_eq!(l.store().head(), before, "an invalid command must append nothing");
        }
        other => panic!("expected invalid input, got {other:?}"),
    }
}

#[test]
fn genesis_and_trust_commands_are_appended_and_verify() {
    let dir = tempfile::tempdir().unwrap();
    let l = setup(dir.path());
    assert_eq!(l.store().len(), 5);
    let s = ledger::verify_store(l.store(), verifier()).unwrap();
    assert_eq!(s.events, 5);
    assert_eq!(s.commands, 5);
    assert_eq!(s.ledger_id, Some(ledger_id()));
    let trust = l.trust();
    assert_eq!(trust.roles_of("sci"), [ledger::Role::Scientist].into());
    assert_eq!(trust.roles_of("root"), [ledger::Role::Admin].into());
}

#[test]
fn domain_command_produces_events_caused_by_command_and_by_event() {
    let dir = tempfile::tempdir().unwrap();
    let mut l = setup(dir.path());
    let r = l.submit(note(3, Some("electronics"), &key(2)), ExpectedHead::Any).unwrap();
    assert_eq!(r.events.len(), 3);
    assert!(matches!(r.events[0].event.cause, ledger::Cause::Command(_)));
    assert_eq!(r.events[1].event.cause, ledger::Cause::Event(r.events[0].hash));
    assert_eq!(l.domain().applied, vec![0, 1, 2, 3, 4, 5, 6, 7]);
    let by_subject = l.store().by_subject(&ledger::Subject::segment("m", "electronics")).unwrap();
    assert_eq!(by_subject.len(), 3);
    ledger::verify_store(l.store(), verifier()).unwrap();
}

#[test]
fn unknown_key_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let mut l = setup(dir.path());
    let m = then_rejected(&mut l, note(1, None, &key(9)), "key.unknown");
    assert!(m.contains("is not enrolled"), "{m}");
}

#[test]
fn signature_by_another_key_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let mut l = setup(dir.path());
    // Claims to be sci's key but is signed by key 9.
    let mut env = note(1, None, &key(9));
    env.signatures[0].keyid = key(2).public().key_id();
    then_rejected(&mut l, env, "signature.invalid");
}

/// Given a command whose signature a server checked ahead of the append path,
/// when it is submitted, then it is appended as its envelope would be: the events embed the
/// envelope, the chain verifies, and the envelope sent afterwards is the same command.
#[test]
fn prechecked_signature_is_accepted_like_the_envelope() {
    let dir = tempfile::tempdir().unwrap();
    let mut l = setup(dir.path());
    let env = note(2, Some("toys"), &key(2));
    let mut cmd = ledger::SignedCommand::parse(env.clone()).unwrap();
    assert!(cmd.check_signature(&key(2).public()));
    let receipt = l.submit_commands(vec![cmd]).unwrap().pop().unwrap().unwrap();
    assert!(!receipt.duplicate);
    assert_eq!(receipt.events.len(), 2);
    assert_eq!(receipt.events[0].event.cause, ledger::Cause::Command(env.clone()));
    ledger::verify_store(l.store(), verifier()).unwrap();
    let again = l.submit(env, ExpectedHead::Any).unwrap();
    assert!(again.duplicate);
    assert_eq!(again.events, receipt.events);
}

/// A note claiming sci's key but signed by key 9.
fn forged_as_sci() -> ledger::SignedCommand {
    let mut env = note(1, None, &key(9));
    env.signatures[0].keyid = key(2).public().key_id();
    ledger::SignedCommand::parse(env).unwrap()
}

#[track_caller]
fn then_command_rejected(l: &mut Ledger<Notes>, cmd: ledger::SignedCommand, rule: &str) {
    let head = l.store().head();
    match l.submit_commands(vec![cmd]).unwrap().pop().unwrap() {
        Err(SubmitError::Rejected(r)) => assert_eq!(r.rule, rule, "wrong rule: {r}"),
        other => panic!("expected rejection by `{rule}`, got {other:?}"),
    }
    assert_eq!(l.store().head(), head, "a rejected command must append nothing");
}

/// Given a forged command "checked" with key 9 (the key that did sign it), when it is
/// submitted, then the ledger verifies with sci's enrolled key and refuses it: a check with any
/// key but the enrolled one counts for nothing.
#[test]
fn signature_checked_with_another_key_is_verified_again_and_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let mut l = setup(dir.path());
    let mut cmd = forged_as_sci();
    assert!(cmd.check_signature(&key(9).public()), "key 9 did sign it");
    assert!(!cmd.signature_valid(&key(2).public()));
    then_command_rejected(&mut l, cmd, "signature.invalid");
}

/// A failed check leaves nothing behind: the ledger verifies (and refuses) as usual.
#[test]
fn failed_signature_check_is_not_remembered() {
    let dir = tempfile::tempdir().unwrap();
    let mut l = setup(dir.path());
    let mut cmd = forged_as_sci();
    assert!(!cmd.check_signature(&key(2).public()));
    then_command_rejected(&mut l, cmd, "signature.invalid");
}

#[test]
fn revoked_key_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let mut l = setup(dir.path());
    let revoke =
        signed("key.revoke", json!({"key_id": key(2).public().key_id(), "reason": "laptop lost"}), &key(1));
    l.submit(revoke, ExpectedHead::Any).unwrap();
    let m = then_rejected(&mut l, note(1, None, &key(2)), "key.revoked");
    assert!(m.contains("revoked at event 5"), "{m}");
    // Revocation is final: the same key cannot be enrolled again.
    then_rejected(&mut l, enroll("sci", &key(2), &key(1)), "key.already_enrolled");
}

#[test]
fn tampered_payload_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let mut l = setup(dir.path());
    let mut env = note(1, None, &key(2));
    let mut cmd: serde_json::Value = serde_json::from_slice(&env.payload_bytes().unwrap()).unwrap();
    cmd["body"]["count"] = json!(2);
    env.payload = base64::engine::general_purpose::STANDARD.encode(serde_json::to_vec(&cmd).unwrap());
    then_rejected(&mut l, env, "signature.invalid");
}

#[test]
fn tampered_payload_type_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut l = setup(dir.path());
    let mut env = note(1, None, &key(2));
    env.payload_type = "application/vnd.pledge.command.v2+json".into();
    then_invalid(&mut l, env, "payloadType");
}

#[test]
fn command_id_reused_for_other_content_is_rejected_and_resend_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let mut l = setup(dir.path());
    let mut cmd = command("note.record", json!({"count": 2, "segment": null}));
    let first = l.submit(cmd.sign(&key(2)).unwrap(), ExpectedHead::Any).unwrap();
    assert!(!first.duplicate);
    let head = l.store().head();
    let again = l.submit(cmd.sign(&key(2)).unwrap(), ExpectedHead::Any).unwrap();
    assert!(again.duplicate);
    assert_eq!(again.events, first.events);
    assert_eq!(l.store().head(), head);
    cmd.body = json!({"count": 3, "segment": null});
    let m = then_rejected(&mut l, cmd.sign(&key(2)).unwrap(), "command.id_reused");
    assert!(m.contains("event 5"), "{m}");
}

#[test]
fn role_not_allowed_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let mut l = setup(dir.path());
    let m = then_rejected(&mut l, enroll("eve", &key(8), &key(2)), "role.not_allowed");
    assert!(m.contains("`sci` (roles: scientist) may not issue `key.enroll`"), "{m}");
    // ana is an approver: not allowed to record notes either.
    then_rejected(&mut l, note(1, None, &key(3)), "role.not_allowed");
}

#[test]
fn kind_without_permission_rule_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let mut l = setup(dir.path());
    then_rejected(&mut l, signed("model.delete", json!({}), &key(1)), "command.not_permitted");
}

#[test]
fn command_for_another_ledger_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let mut l = setup(dir.path());
    let mut cmd = command("note.record", json!({"count": 1, "segment": null}));
    cmd.ledger = uuid::Uuid::now_v7();
    then_rejected(&mut l, cmd.sign(&key(2)).unwrap(), "command.wrong_ledger");
}

#[test]
fn non_v7_command_id_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut l = setup(dir.path());
    let mut cmd = command("note.record", json!({"count": 1, "segment": null}));
    cmd.id = uuid::Uuid::from_u128(0x6ba7b810_9dad_41d1_80b4_00c04fd430c8); // a v4 id
    then_invalid(&mut l, cmd.sign(&key(2)).unwrap(), "UUID v7");
}

#[test]
fn malformed_bodies_and_envelopes_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut l = setup(dir.path());
    then_invalid(&mut l, signed("key.enroll", json!({"principal": "x"}), &key(1)), "public_key");
    then_invalid(&mut l, signed("role.grant", json!({"principal": "sci", "role": "root"}), &key(1)), "role");
    then_invalid(
        &mut l,
        signed("role.grant", json!({"principal": "sci", "role": "approver", "extra": 1}), &key(1)),
        "unknown field",
    );
    let mut env = note(1, None, &key(2));
    env.signatures.push(env.signatures[0].clone());
    then_invalid(&mut l, env, "exactly one");
    let mut env = note(1, None, &key(2));
    env.payload.push('!');
    then_invalid(&mut l, env, "base64");
}

#[test]
fn last_admin_cannot_be_removed() {
    let dir = tempfile::tempdir().unwrap();
    let mut l = setup(dir.path());
    let revoke = signed("key.revoke", json!({"key_id": key(1).public().key_id(), "reason": "x"}), &key(1));
    then_rejected(&mut l, revoke, "admin.last");
    then_rejected(
        &mut l,
        signed("role.revoke", json!({"principal": "root", "role": "admin"}), &key(1)),
        "admin.last",
    );
}

#[test]
fn stale_head_is_a_conflict_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut l = setup(dir.path());
    let stale = l.store().head().unwrap();
    l.submit(note(1, None, &key(2)), ExpectedHead::At(stale.hash)).unwrap();
    let head = l.store().head();
    let err = l.submit(note(1, None, &key(2)), ExpectedHead::At(stale.hash)).unwrap_err();
    assert!(matches!(err, SubmitError::Store(StoreError::Conflict { .. })), "{err:?}");
    assert_eq!(l.store().head(), head);
    let err = l.submit(note(1, None, &key(2)), ExpectedHead::Empty).unwrap_err();
    assert!(matches!(err, SubmitError::Store(StoreError::Conflict { .. })), "{err:?}");
}

#[test]
fn second_genesis_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let mut l = setup(dir.path());
    then_rejected(&mut l, genesis(&key(1)), "ledger.exists");
}

#[test]
fn genesis_must_be_signed_by_a_named_admin() {
    let dir = tempfile::tempdir().unwrap();
    let mut l = Ledger::open(dir.path(), clock(), Notes::default()).unwrap();
    let env = signed(
        "ledger.create",
        json!({"admins": [{"principal": "root", "public_key": key(1).public().to_string()}], "policy": policy()}),
        &key(2),
    );
    match l.submit(env, ExpectedHead::Empty) {
        Err(SubmitError::Rejected(r)) => assert_eq!(r.rule, "genesis.signer"),
        other => panic!("{other:?}"),
    }
    assert!(l.store().is_empty());
    // Commands before genesis are refused.
    match l.submit(note(1, None, &key(2)), ExpectedHead::Any) {
        Err(SubmitError::Rejected(r)) => assert_eq!(r.rule, "ledger.not_created"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn policy_that_locks_admins_out_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut l = setup(dir.path());
    let mut p = policy();
    p["permissions"]["policy.set"] = json!(["approver"]);
    let before = l.store().head();
    match l.submit(signed("policy.set", json!({"policy": p}), &key(1)), ExpectedHead::Any) {
        Err(SubmitError::Rejected(r)) => {
            assert_eq!(r.rule, "policy.invalid");
            assert!(r.message.contains("must include `admin`"), "{}", r.message);
        }
        other => panic!("expected `policy.invalid`, got {other:?}"),
    }
    assert_eq!(l.store().head(), before, "a refused policy appends nothing");
    let mut p = policy();
    p["permissions"]["note.record"] = json!(["scientist", "service"]);
    let r = l.submit(signed("policy.set", json!({"policy": p}), &key(1)), ExpectedHead::Any).unwrap();
    assert_eq!(r.events[0].event.payload["version"], json!(2));
    assert_eq!(l.trust().policy_version(), 2);
}

#[test]
fn batch_commits_accepted_commands_once_and_reports_each() {
    let dir = tempfile::tempdir().unwrap();
    let mut l = setup(dir.path());
    let dup = note(2, None, &key(2));
    let results = l
        .submit_batch(vec![note(1, None, &key(2)), note(1, None, &key(9)), dup.clone(), dup.clone()])
        .unwrap();
    assert!(results[0].is_ok());
    assert!(matches!(&results[1], Err(SubmitError::Rejected(r)) if r.rule == "key.unknown"));
    let third = results[2].as_ref().unwrap();
    let fourth = results[3].as_ref().unwrap();
    assert!(!third.duplicate && fourth.duplicate);
    assert_eq!(third.events, fourth.events);
    assert_eq!(l.store().len(), 5 + 1 + 2);
    // Each new command's receipt is its own run of the committed events, in order.
    let stored: Vec<_> = l.store().range(5..8).collect::<Result<_, _>>().unwrap();
    assert_eq!(results[0].as_ref().unwrap().events, stored[..1]);
    assert_eq!(third.events, stored[1..]);
    ledger::verify_store(l.store(), verifier()).unwrap();
}

#[test]
fn reopen_restores_trust_and_domain_state() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut l = setup(dir.path());
        l.submit(note(2, Some("toys"), &key(2)), ExpectedHead::Any).unwrap();
    }
    let l = Ledger::open(dir.path(), clock(), Notes::default()).unwrap();
    assert_eq!(l.store().len(), 7);
    assert_eq!(l.domain().applied.len(), 7);
    assert_eq!(l.trust().roles_of("ana"), [ledger::Role::Approver].into());
    let h = l.store().head().unwrap();
    assert_eq!(l.store().get_by_hash(&h.hash).unwrap().unwrap().seq(), 6);
}
