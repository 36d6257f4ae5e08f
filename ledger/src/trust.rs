//! Who may do what: keys, principals, roles and the policy's permission table, folded from the
//! trust events. The same fold serves the append path and verification, so a key's validity is
//! always judged as of the event that used it.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::canonical::Timestamp;
use crate::command::SignedCommand;
use crate::error::{Refusal, Rejection};
use crate::event::{EventDraft, RecordedEvent};
use crate::keys::{KeyId, PublicKey};

/// A role granted to a principal.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Enrolls and revokes keys, grants roles, sets policy.
    Admin,
    /// Approves or rejects experiments, promotions, releases and rollbacks.
    Approver,
    /// Proposes hypotheses, records runs, proposes promotions.
    Scientist,
    /// Automation: scheduled retrains, backtests, drift checks.
    Service,
    /// The ledger's log key: signs checkpoints of the Merkle tree (`docs/FORMAT.md`, section
    /// 16). Issues no command unless the policy lists it.
    Log,
}

impl Role {
    /// Every role, in a fixed order.
    pub const ALL: [Role; 5] = [Role::Admin, Role::Approver, Role::Scientist, Role::Service, Role::Log];

    /// The role's name as written in events and policies.
    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Approver => "approver",
            Role::Scientist => "scientist",
            Role::Service => "service",
            Role::Log => "log",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("`{s}` is not a role (admin, approver, scientist, service, log)"))
    }
}

/// Command kinds the ledger itself decides.
pub mod kinds {
    /// Creates the ledger (genesis).
    pub const LEDGER_CREATE: &str = "ledger.create";
    /// Enrolls a public key for a principal.
    pub const KEY_ENROLL: &str = "key.enroll";
    /// Revokes a key, permanently.
    pub const KEY_REVOKE: &str = "key.revoke";
    /// Grants a role to a principal.
    pub const ROLE_GRANT: &str = "role.grant";
    /// Revokes a role from a principal.
    pub const ROLE_REVOKE: &str = "role.revoke";
    /// Replaces the policy document.
    pub const POLICY_SET: &str = "policy.set";
    /// The event kinds the trust fold reads.
    pub const EVENTS: [&str; 6] =
        ["ledger.created", "key.enrolled", "key.revoked", "role.granted", "role.revoked", "policy.changed"];
    /// The trust commands (all but genesis need the `admin` role in every policy).
    pub const ADMIN_COMMANDS: [&str; 5] = [KEY_ENROLL, KEY_REVOKE, ROLE_GRANT, ROLE_REVOKE, POLICY_SET];
    /// Every trust command kind.
    pub const COMMANDS: [&str; 6] =
        [LEDGER_CREATE, KEY_ENROLL, KEY_REVOKE, ROLE_GRANT, ROLE_REVOKE, POLICY_SET];

    /// The policy document a `ledger.create` or `policy.set` command would put in force.
    pub fn policy_of(cmd: &crate::SignedCommand) -> Option<&serde_json::Value> {
        let c = cmd.command();
        match c.kind.as_str() {
            LEDGER_CREATE | POLICY_SET => c.body.get("policy"),
            _ => None,
        }
    }
}

/// The smallest valid policy document: the permission table for the trust commands.
/// Domain crates extend it with their own kinds and sections.
pub fn base_policy() -> Value {
    let admin_only: serde_json::Map<String, Value> =
        kinds::ADMIN_COMMANDS.iter().map(|k| (k.to_string(), json!(["admin"]))).collect();
    json!({ "permissions": admin_only })
}

/// A principal's enrolled key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KeyRecord {
    /// The key id.
    pub key_id: KeyId,
    /// The public key.
    pub public_key: PublicKey,
    /// Who holds it.
    pub principal: String,
    /// The event that enrolled it (0 for genesis admins).
    pub enrolled_seq: u64,
    /// The event that revoked it, if any.
    pub revoked_seq: Option<u64>,
}

/// The authenticated signer of a command.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Actor {
    /// The principal (person or service) name.
    pub principal: String,
    /// The key that signed.
    pub key_id: KeyId,
    /// The principal's roles when it signed.
    pub roles: BTreeSet<Role>,
}

/// The body of `ledger.create`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisBody {
    /// The first admins, with their keys.
    pub admins: Vec<PrincipalKey>,
    /// The policy document.
    pub policy: Value,
}

/// A principal and a public key: the body of `key.enroll`, an admin of `ledger.create`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrincipalKey {
    /// The principal.
    pub principal: String,
    /// Its public key.
    pub public_key: PublicKey,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct EnrolledKey {
    principal: String,
    public_key: PublicKey,
    key_id: KeyId,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LedgerCreated {
    ledger_id: Uuid,
    admins: Vec<EnrolledKey>,
    policy_version: u32,
    policy: Value,
}

/// The body of `key.revoke`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRevokeBody {
    /// The key.
    pub key_id: KeyId,
    /// Why.
    pub reason: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyRevoked {
    key_id: KeyId,
    principal: String,
    reason: String,
}

/// The body of `role.grant` and `role.revoke` (and their events' payload).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleChange {
    /// The principal.
    pub principal: String,
    /// The role.
    pub role: Role,
}

/// The body of `policy.set`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySetBody {
    /// The new policy document.
    pub policy: Value,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyChanged {
    version: u32,
    policy: Value,
}

fn body<T: serde::de::DeserializeOwned>(cmd: &SignedCommand) -> Result<T, Refusal> {
    // From a reference: the body is not copied to be decoded.
    T::deserialize(&cmd.command().body)
        .map_err(|e| Refusal::Invalid(format!("`{}` body: {e}", cmd.command().kind)))
}

/// Checks a principal name: 1-64 characters of `a-z 0-9 . _ -`, starting with a letter or digit.
pub fn validate_principal(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'-'))
        && name.as_bytes()[0].is_ascii_alphanumeric();
    if ok {
        Ok(())
    } else {
        Err(format!(
            "principal name `{name}` must be 1-64 characters of a-z, 0-9, `.`, `_`, `-`, starting with a letter or digit"
        ))
    }
}

/// Parses and checks a policy's permission table.
pub fn parse_permissions(policy: &Value) -> Result<BTreeMap<String, BTreeSet<Role>>, String> {
    let table = policy
        .get("permissions")
        .and_then(Value::as_object)
        .ok_or("policy has no `permissions` object (command kind -> list of roles)")?;
    let mut out = BTreeMap::new();
    for (kind, roles) in table {
        let list = roles.as_array().ok_or_else(|| format!("permissions.`{kind}` must be a list of roles"))?;
        let mut set = BTreeSet::new();
        for r in list {
            let name = r.as_str().ok_or_else(|| format!("permissions.`{kind}` holds a non-string"))?;
            set.insert(name.parse::<Role>().map_err(|e| format!("permissions.`{kind}`: {e}"))?);
        }
        out.insert(kind.clone(), set);
    }
    for kind in kinds::ADMIN_COMMANDS {
        if !out.get(kind).is_some_and(|s| s.contains(&Role::Admin)) {
            return Err(format!(
                "permissions.`{kind}` must include `admin`, or no one could ever change keys, roles or policy again"
            ));
        }
    }
    Ok(out)
}

/// How far a command's `issued_at` may lie from the time the ledger records it: the policy's
/// optional `freshness` section (`docs/FORMAT.md`, sections 6.5 and 8). A command signed for later
/// (`command.from_future`) or signed long ago and sent only now (`command.stale`) is refused,
/// so that a signature cannot be kept and played back years later, and clocks that disagree
/// show up at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Freshness {
    /// Largest lead of `issued_at` over the recording time, in seconds (clock skew).
    pub max_future_seconds: u64,
    /// Largest age of `issued_at` at the recording time, in seconds (signing offline).
    pub max_age_seconds: u64,
}

impl Freshness {
    /// Five minutes of clock skew; a week for an approver who signs offline.
    pub const DEFAULT: Freshness = Freshness { max_future_seconds: 300, max_age_seconds: 7 * 24 * 3600 };
    /// The largest `max_future_seconds` a policy may set (one day).
    pub const MAX_FUTURE_LIMIT: u64 = 24 * 3600;
    /// The largest `max_age_seconds` a policy may set (366 days).
    pub const MAX_AGE_LIMIT: u64 = 366 * 24 * 3600;

    /// Checks `issued_at` against `now`, the time the command's events are recorded at.
    pub fn check(&self, cmd: &SignedCommand, now: Timestamp, policy_version: u32) -> Result<(), Rejection> {
        let issued = cmd.command().issued_at;
        let lead = issued.micros() - now.micros();
        let allowed_lead = self.max_future_seconds as i64 * 1_000_000;
        if lead > allowed_lead {
            return Err(Rejection::new(
                "command.from_future",
                format!(
                    "command `{}` was issued at {issued}, {} after the ledger's time {now}; policy v{policy_version} allows {} of clock skew",
                    cmd.command().id,
                    duration(lead),
                    duration(allowed_lead)
                ),
            ));
        }
        let age = -lead;
        let allowed_age = self.max_age_seconds as i64 * 1_000_000;
        if age > allowed_age {
            return Err(Rejection::new(
                "command.stale",
                format!(
                    "command `{}` was issued at {issued}, {} before the ledger's time {now}; policy v{policy_version} accepts commands up to {} old: sign it again",
                    cmd.command().id,
                    duration(age),
                    duration(allowed_age)
                ),
            ));
        }
        Ok(())
    }
}

impl Default for Freshness {
    fn default() -> Self {
        Freshness::DEFAULT
    }
}

/// A duration in microseconds as people read it: `90 s`, `3.5 h`, `12.0 days`.
fn duration(micros: i64) -> String {
    let s = micros as f64 / 1e6;
    if s < 120.0 {
        format!("{s:.0} s")
    } else if s < 2.0 * 86400.0 {
        format!("{:.1} h", s / 3600.0)
    } else {
        format!("{:.1} days", s / 86400.0)
    }
}

/// Parses the policy's optional `freshness` section: `{"max_future_seconds": integer,
/// "max_age_seconds": integer}`, each optional (defaults: [`Freshness::DEFAULT`]), no other keys.
pub fn parse_freshness(policy: &Value) -> Result<Freshness, String> {
    let Some(section) = policy.get("freshness") else { return Ok(Freshness::DEFAULT) };
    let table = section
        .as_object()
        .ok_or("`freshness` must be an object {max_future_seconds, max_age_seconds}".to_string())?;
    if let Some(k) = table.keys().find(|k| !matches!(k.as_str(), "max_future_seconds" | "max_age_seconds")) {
        return Err(format!("`freshness` has an unknown key `{k}` (max_future_seconds, max_age_seconds)"));
    }
    let mut out = Freshness::DEFAULT;
    for (name, limit, lowest, slot) in [
        ("max_future_seconds", Freshness::MAX_FUTURE_LIMIT, 0, &mut out.max_future_seconds),
        ("max_age_seconds", Freshness::MAX_AGE_LIMIT, 60, &mut out.max_age_seconds),
    ] {
        if let Some(v) = table.get(name) {
            let n = v.as_u64().filter(|n| (lowest..=limit).contains(n)).ok_or_else(|| {
                format!("`freshness.{name}` must be a whole number of seconds from {lowest} to {limit}")
            })?;
            *slot = n;
        }
    }
    Ok(out)
}

/// The witnesses whose cosignatures make a checkpoint count as published: the policy's
/// optional `witnesses` section, `{"keys": [vkey, ...], "quorum": k}` (`docs/FORMAT.md`,
/// section 16). Without it no cosignature is required.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WitnessPolicy {
    /// The witnesses' verifier keys (cosignature type).
    pub keys: Vec<crate::note::NoteKey>,
    /// How many of them must cosign.
    pub quorum: usize,
}

/// Parses the policy's optional `witnesses` section.
pub fn parse_witnesses(policy: &Value) -> Result<WitnessPolicy, String> {
    let Some(section) = policy.get("witnesses") else { return Ok(WitnessPolicy::default()) };
    let table = section.as_object().ok_or("`witnesses` must be an object {keys, quorum}")?;
    if let Some(k) = table.keys().find(|k| !matches!(k.as_str(), "keys" | "quorum")) {
        return Err(format!("`witnesses` has an unknown key `{k}` (keys, quorum)"));
    }
    let mut keys = Vec::new();
    for v in table.get("keys").and_then(Value::as_array).ok_or("`witnesses.keys` must be a list of vkeys")? {
        let text = v.as_str().ok_or("`witnesses.keys` holds a non-string")?;
        let key = crate::note::NoteKey::parse_vkey(text).map_err(|e| format!("`witnesses.keys`: {e}"))?;
        if key.kind != crate::note::TYPE_COSIGNATURE {
            return Err(format!("`witnesses.keys`: `{}` is not a cosignature (type 0x04) key", key.name));
        }
        if keys.iter().any(|k: &crate::note::NoteKey| k.name == key.name) {
            return Err(format!("`witnesses.keys` names `{}` twice", key.name));
        }
        keys.push(key);
    }
    let quorum = table
        .get("quorum")
        .and_then(Value::as_u64)
        .filter(|q| *q as usize <= keys.len())
        .ok_or_else(|| format!("`witnesses.quorum` must be a whole number from 0 to {}", keys.len()))?;
    Ok(WitnessPolicy { keys, quorum: quorum as usize })
}

/// Checks the ledger's sections of a policy document: the permission table, freshness and
/// witnesses.
pub fn check_policy(policy: &Value) -> Result<(BTreeMap<String, BTreeSet<Role>>, Freshness), String> {
    if !policy.is_object() {
        return Err("a policy must be a JSON object".into());
    }
    parse_witnesses(policy)?;
    Ok((parse_permissions(policy)?, parse_freshness(policy)?))
}

/// Keys, roles and policy, as of some point in the ledger.
#[derive(Clone, Debug, Default)]
pub struct TrustState {
    ledger_id: Option<Uuid>,
    keys: BTreeMap<KeyId, KeyRecord>,
    roles: BTreeMap<String, BTreeSet<Role>>,
    policy_version: u32,
    policy: Value,
    permissions: BTreeMap<String, BTreeSet<Role>>,
    freshness: Freshness,
}

/// What a snapshot keeps of the trust state; the permission table and the freshness windows
/// are read from the policy again.
#[derive(Serialize, Deserialize)]
struct TrustSnapshot {
    ledger_id: Option<Uuid>,
    keys: Vec<KeyRecord>,
    roles: BTreeMap<String, BTreeSet<Role>>,
    policy_version: u32,
    policy: Value,
}

impl TrustState {
    /// The state as a snapshot section (MessagePack, `docs/FORMAT.md` section 19): the same
    /// state always gives the same bytes.
    pub fn to_snapshot(&self) -> Vec<u8> {
        let snap = TrustSnapshot {
            ledger_id: self.ledger_id,
            keys: self.keys.values().cloned().collect(),
            roles: self.roles.clone(),
            policy_version: self.policy_version,
            policy: self.policy.clone(),
        };
        rmp_serde::to_vec_named(&snap).expect("the trust state encodes")
    }

    /// The state from a snapshot section [`TrustState::to_snapshot`] wrote.
    pub fn from_snapshot(bytes: &[u8]) -> Result<TrustState, String> {
        let snap: TrustSnapshot =
            rmp_serde::from_slice(bytes).map_err(|e| format!("the trust section: {e}"))?;
        let (permissions, freshness) = if snap.policy_version == 0 {
            (BTreeMap::new(), Freshness::default())
        } else {
            check_policy(&snap.policy)?
        };
        Ok(TrustState {
            ledger_id: snap.ledger_id,
            keys: snap.keys.into_iter().map(|k| (k.key_id, k)).collect(),
            roles: snap.roles,
            policy_version: snap.policy_version,
            policy: snap.policy,
            permissions,
            freshness,
        })
    }

    /// The ledger's id, once genesis is applied.
    pub fn ledger_id(&self) -> Option<Uuid> {
        self.ledger_id
    }

    /// Every key ever enrolled, revoked ones included.
    pub fn keys(&self) -> impl Iterator<Item = &KeyRecord> {
        self.keys.values()
    }

    /// One key.
    pub fn key(&self, id: &KeyId) -> Option<&KeyRecord> {
        self.keys.get(id)
    }

    /// Every principal's roles.
    pub fn roles(&self) -> &BTreeMap<String, BTreeSet<Role>> {
        &self.roles
    }

    /// One principal's roles (empty if unknown).
    pub fn roles_of(&self, principal: &str) -> BTreeSet<Role> {
        self.roles.get(principal).cloned().unwrap_or_default()
    }

    /// The policy version in force (1 after genesis).
    pub fn policy_version(&self) -> u32 {
        self.policy_version
    }

    /// The policy document in force.
    pub fn policy(&self) -> &Value {
        &self.policy
    }

    /// How old or early a command's `issued_at` may be under the policy in force.
    pub fn freshness(&self) -> Freshness {
        self.freshness
    }

    /// Refuses a command issued too far from `now`, the time its events are recorded at
    /// (rules `command.from_future` and `command.stale`). Genesis is judged by the policy it
    /// creates.
    pub fn check_fresh(&self, cmd: &SignedCommand, now: Timestamp) -> Result<(), Rejection> {
        if cmd.command().kind == kinds::LEDGER_CREATE && self.ledger_id.is_none() {
            let f = cmd
                .command()
                .body
                .get("policy")
                .and_then(|p| parse_freshness(p).ok())
                .unwrap_or(Freshness::DEFAULT);
            return f.check(cmd, now, 1);
        }
        self.freshness.check(cmd, now, self.policy_version)
    }

    /// The witnesses the policy in force requires, if any.
    pub fn witnesses(&self) -> WitnessPolicy {
        parse_witnesses(&self.policy).unwrap_or_default()
    }

    /// The active (enrolled, not revoked) keys of principals holding the `log` role: the keys
    /// that may sign this ledger's checkpoints.
    pub fn log_keys(&self) -> Vec<&KeyRecord> {
        self.keys
            .values()
            .filter(|k| k.revoked_seq.is_none() && self.roles_of(&k.principal).contains(&Role::Log))
            .collect()
    }

    /// True if `principal` has at least one enrolled key (active or not).
    pub fn knows_principal(&self, principal: &str) -> bool {
        self.keys.values().any(|k| k.principal == principal)
    }

    /// Checks the envelope's signature against the ledger's keys as they are now.
    pub fn authenticate(&self, cmd: &SignedCommand) -> Result<Actor, Rejection> {
        let rec = self.signing_key(cmd)?;
        if !cmd.signature_valid(&rec.public_key) {
            return Err(signature_invalid(cmd, &rec.principal));
        }
        self.check_signer(cmd, rec)
    }

    /// The key a command claims to be signed with, if it is enrolled (revoked or not).
    pub fn signing_key(&self, cmd: &SignedCommand) -> Result<&KeyRecord, Rejection> {
        if self.ledger_id.is_none() {
            return Err(Rejection::new("ledger.not_created", "the ledger has no genesis event yet"));
        }
        self.keys.get(&cmd.key_id()).ok_or_else(|| {
            Rejection::new("key.unknown", format!("key `{}` is not enrolled in this ledger", cmd.key_id()))
        })
    }

    /// Every check of [`TrustState::authenticate`] but the signature itself (which the
    /// verifier checks later, in parallel): the key is not revoked and the command is for
    /// this ledger.
    pub fn check_signer(&self, cmd: &SignedCommand, rec: &KeyRecord) -> Result<Actor, Rejection> {
        if let Some(at) = rec.revoked_seq {
            return Err(Rejection::new(
                "key.revoked",
                format!("key `{}` of `{}` was revoked at event {at}", cmd.key_id(), rec.principal),
            ));
        }
        let ledger_id = self.ledger_id.unwrap_or_default();
        if cmd.command().ledger != ledger_id {
            return Err(Rejection::new(
                "command.wrong_ledger",
                format!("command is for ledger `{}`, this is ledger `{ledger_id}`", cmd.command().ledger),
            ));
        }
        Ok(Actor {
            principal: rec.principal.clone(),
            key_id: cmd.key_id(),
            roles: self.roles_of(&rec.principal),
        })
    }

    /// Checks the policy's permission table allows `actor` to issue `kind`.
    pub fn authorize(&self, actor: &Actor, kind: &str) -> Result<(), Rejection> {
        let Some(allowed) = self.permissions.get(kind) else {
            return Err(Rejection::new(
                "command.not_permitted",
                format!("policy v{} has no permission rule for command kind `{kind}`", self.policy_version),
            ));
        };
        if actor.roles.is_disjoint(allowed) {
            let names = |s: &BTreeSet<Role>| {
                let v: Vec<_> = s.iter().map(Role::as_str).collect();
                if v.is_empty() {
                    "none".to_string()
                } else {
                    v.join(", ")
                }
            };
            return Err(Rejection::new(
                "role.not_allowed",
                format!(
                    "`{}` (roles: {}) may not issue `{kind}`; policy v{} allows: {}",
                    actor.principal,
                    names(&actor.roles),
                    self.policy_version,
                    names(allowed)
                ),
            ));
        }
        Ok(())
    }

    /// Authenticates a genesis command: it must be signed by one of the admin keys it names.
    pub fn authenticate_genesis(&self, cmd: &SignedCommand) -> Result<Actor, Refusal> {
        if self.ledger_id.is_some() {
            return Err(Rejection::new("ledger.exists", "this ledger already has a genesis event").into());
        }
        let body: GenesisBody = body(cmd)?;
        let admin = body.admins.iter().find(|a| a.public_key.key_id() == cmd.key_id()).ok_or_else(|| {
            Rejection::new("genesis.signer", "genesis must be signed by one of the admin keys it names")
        })?;
        if !cmd.signature_valid(&admin.public_key) {
            return Err(Rejection::new("signature.invalid", "the genesis signature does not verify").into());
        }
        Ok(Actor { principal: admin.principal.clone(), key_id: cmd.key_id(), roles: [Role::Admin].into() })
    }

    /// Decides a trust command (`ledger.create`, `key.*`, `role.*`, `policy.set`). Returns
    /// `None` for any other kind. The caller has authenticated and authorized the signer.
    pub fn decide(&self, cmd: &SignedCommand) -> Option<Result<Vec<EventDraft>, Refusal>> {
        let out = match cmd.command().kind.as_str() {
            kinds::LEDGER_CREATE => self.decide_genesis(cmd),
            kinds::KEY_ENROLL => self.decide_enroll(cmd),
            kinds::KEY_REVOKE => self.decide_revoke(cmd),
            kinds::ROLE_GRANT | kinds::ROLE_REVOKE => self.decide_role(cmd),
            kinds::POLICY_SET => self.decide_policy(cmd),
            _ => return None,
        };
        Some(out)
    }

    fn decide_genesis(&self, cmd: &SignedCommand) -> Result<Vec<EventDraft>, Refusal> {
        let body: GenesisBody = body(cmd)?;
        if body.admins.is_empty() {
            return Err(Refusal::Invalid("genesis needs at least one admin key".into()));
        }
        let mut seen = BTreeSet::new();
        for a in &body.admins {
            validate_principal(&a.principal).map_err(Refusal::Invalid)?;
            if !seen.insert(a.public_key.key_id()) {
                return Err(Refusal::Invalid(format!(
                    "admin key `{}` is listed twice",
                    a.public_key.key_id()
                )));
            }
        }
        check_policy(&body.policy).map_err(policy_invalid)?;
        let payload = LedgerCreated {
            ledger_id: cmd.command().ledger,
            admins: body
                .admins
                .iter()
                .map(|a| EnrolledKey {
                    principal: a.principal.clone(),
                    public_key: a.public_key,
                    key_id: a.public_key.key_id(),
                })
                .collect(),
            policy_version: 1,
            policy: body.policy,
        };
        Ok(vec![EventDraft::new("ledger.created", None, to_value(&payload)?)])
    }

    fn decide_enroll(&self, cmd: &SignedCommand) -> Result<Vec<EventDraft>, Refusal> {
        let b: PrincipalKey = body(cmd)?;
        validate_principal(&b.principal).map_err(Refusal::Invalid)?;
        let id = b.public_key.key_id();
        if let Some(rec) = self.keys.get(&id) {
            let state = match rec.revoked_seq {
                Some(at) => format!("was revoked at event {at} and cannot be enrolled again"),
                None => format!("is already enrolled for `{}`", rec.principal),
            };
            return Err(Rejection::new("key.already_enrolled", format!("key `{id}` {state}")).into());
        }
        let payload = EnrolledKey { principal: b.principal, public_key: b.public_key, key_id: id };
        Ok(vec![EventDraft::new("key.enrolled", None, to_value(&payload)?)])
    }

    fn decide_revoke(&self, cmd: &SignedCommand) -> Result<Vec<EventDraft>, Refusal> {
        let b: KeyRevokeBody = body(cmd)?;
        if b.reason.trim().is_empty() {
            return Err(Refusal::Invalid("a key revocation needs a reason".into()));
        }
        let rec = self.keys.get(&b.key_id).ok_or_else(|| {
            Rejection::new("key.unknown", format!("key `{}` is not enrolled in this ledger", b.key_id))
        })?;
        if let Some(at) = rec.revoked_seq {
            return Err(Rejection::new(
                "key.revoked",
                format!("key `{}` was already revoked at event {at}", b.key_id),
            )
            .into());
        }
        let remaining_admin_keys = self
            .keys
            .values()
            .filter(|k| k.revoked_seq.is_none() && k.key_id != b.key_id)
            .filter(|k| self.roles_of(&k.principal).contains(&Role::Admin))
            .count();
        if remaining_admin_keys == 0 {
            return Err(Rejection::new(
                "admin.last",
                format!("revoking key `{}` would leave the ledger without an active admin key", b.key_id),
            )
            .into());
        }
        let payload = KeyRevoked { key_id: b.key_id, principal: rec.principal.clone(), reason: b.reason };
        Ok(vec![EventDraft::new("key.revoked", None, to_value(&payload)?)])
    }

    fn decide_role(&self, cmd: &SignedCommand) -> Result<Vec<EventDraft>, Refusal> {
        let b: RoleChange = body(cmd)?;
        if !self.knows_principal(&b.principal) {
            return Err(Rejection::new(
                "principal.unknown",
                format!("`{}` has no enrolled key; enroll a key for them first", b.principal),
            )
            .into());
        }
        let has = self.roles_of(&b.principal).contains(&b.role);
        let granting = cmd.command().kind == kinds::ROLE_GRANT;
        if granting && has {
            return Err(Rejection::new(
                "role.already_granted",
                format!("`{}` already has role `{}`", b.principal, b.role.as_str()),
            )
            .into());
        }
        if !granting && !has {
            return Err(Rejection::new(
                "role.not_granted",
                format!("`{}` does not have role `{}`", b.principal, b.role.as_str()),
            )
            .into());
        }
        if !granting && b.role == Role::Admin {
            let other_admin_keys = self
                .keys
                .values()
                .filter(|k| k.revoked_seq.is_none() && k.principal != b.principal)
                .any(|k| self.roles_of(&k.principal).contains(&Role::Admin));
            if !other_admin_keys {
                return Err(Rejection::new(
                    "admin.last",
                    format!(
                        "revoking `admin` from `{}` would leave the ledger without an active admin key",
                        b.principal
                    ),
                )
                .into());
            }
        }
        let kind = if granting { "role.granted" } else { "role.revoked" };
        Ok(vec![EventDraft::new(kind, None, to_value(&b)?)])
    }

    fn decide_policy(&self, cmd: &SignedCommand) -> Result<Vec<EventDraft>, Refusal> {
        let b: PolicySetBody = body(cmd)?;
        check_policy(&b.policy).map_err(policy_invalid)?;
        if b.policy == self.policy {
            return Err(Rejection::new(
                "policy.unchanged",
                format!("the policy is identical to v{}", self.policy_version),
            )
            .into());
        }
        let payload = PolicyChanged { version: self.policy_version + 1, policy: b.policy };
        Ok(vec![EventDraft::new("policy.changed", None, to_value(&payload)?)])
    }

    /// Folds one event into the state. Non-trust kinds are ignored. Fails when a trust event is
    /// inconsistent with the state (which only a forged or corrupted ledger can produce).
    pub fn apply(&mut self, ev: &RecordedEvent) -> Result<(), String> {
        if !kinds::EVENTS.contains(&ev.event.kind.as_str()) {
            return Ok(());
        }
        let seq = ev.seq();
        let payload = ev.event.payload.clone();
        let parse_err = |e: serde_json::Error| format!("`{}` payload: {e}", ev.event.kind);
        match ev.event.kind.as_str() {
            "ledger.created" => {
                if seq != 0 || self.ledger_id.is_some() {
                    return Err("`ledger.created` may only be the first event".into());
                }
                let p: LedgerCreated = serde_json::from_value(payload).map_err(parse_err)?;
                if p.policy_version != 1 {
                    return Err("genesis policy_version must be 1".into());
                }
                (self.permissions, self.freshness) = check_policy(&p.policy)?;
                for a in p.admins {
                    let principal = a.principal.clone();
                    self.insert_key(a, seq)?;
                    self.roles.entry(principal).or_default().insert(Role::Admin);
                }
                self.ledger_id = Some(p.ledger_id);
                self.policy_version = 1;
                self.policy = p.policy;
            }
            "key.enrolled" => {
                let p: EnrolledKey = serde_json::from_value(payload).map_err(parse_err)?;
                self.insert_key(p, seq)?;
            }
            "key.revoked" => {
                let p: KeyRevoked = serde_json::from_value(payload).map_err(parse_err)?;
                let rec =
                    self.keys.get_mut(&p.key_id).ok_or(format!("revokes unknown key `{}`", p.key_id))?;
                if rec.revoked_seq.is_some() || rec.principal != p.principal {
                    return Err(format!("revocation of key `{}` does not match its record", p.key_id));
                }
                rec.revoked_seq = Some(seq);
            }
            "role.granted" => {
                let p: RoleChange = serde_json::from_value(payload).map_err(parse_err)?;
                if !self.roles.entry(p.principal).or_default().insert(p.role) {
                    return Err("grants a role the principal already has".into());
                }
            }
            "role.revoked" => {
                let p: RoleChange = serde_json::from_value(payload).map_err(parse_err)?;
                if !self.roles.entry(p.principal).or_default().remove(&p.role) {
                    return Err("revokes a role the principal does not have".into());
                }
            }
            "policy.changed" => {
                let p: PolicyChanged = serde_json::from_value(payload).map_err(parse_err)?;
                if p.version != self.policy_version + 1 {
                    return Err(format!(
                        "policy version {} does not follow {}",
                        p.version, self.policy_version
                    ));
                }
                (self.permissions, self.freshness) = check_policy(&p.policy)?;
                self.policy_version = p.version;
                self.policy = p.policy;
            }
            _ => {}
        }
        Ok(())
    }

    fn insert_key(&mut self, k: EnrolledKey, seq: u64) -> Result<(), String> {
        if k.public_key.key_id() != k.key_id {
            return Err(format!("key id `{}` is not the digest of its public key", k.key_id));
        }
        validate_principal(&k.principal)?;
        if self.keys.contains_key(&k.key_id) {
            return Err(format!("key `{}` is enrolled twice", k.key_id));
        }
        self.keys.insert(
            k.key_id,
            KeyRecord {
                key_id: k.key_id,
                public_key: k.public_key,
                principal: k.principal,
                enrolled_seq: seq,
                revoked_seq: None,
            },
        );
        Ok(())
    }
}

/// The refusal of a policy document the ledger's sections reject.
fn policy_invalid(e: String) -> Refusal {
    Rejection::new("policy.invalid", format!("the policy is not valid: {e}")).into()
}

/// The rejection for a signature that does not verify.
pub fn signature_invalid(cmd: &SignedCommand, principal: &str) -> Rejection {
    Rejection::new(
        "signature.invalid",
        format!("the signature does not verify with key `{}` of `{principal}`", cmd.key_id()),
    )
}

fn to_value<T: Serialize>(v: &T) -> Result<Value, Refusal> {
    serde_json::to_value(v).map_err(|e| Refusal::Invalid(format!("payload cannot be encoded: {e}")))
}
