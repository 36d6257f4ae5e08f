//! The domain section of a snapshot (`docs/FORMAT.md`, section 19): the read models in five
//! parts, each decodable on its own, so that a question that reads only some of them (`pledge
//! champion` reads the models and their versions, not the backtest windows, experiments, runs
//! or alerts) decodes only those. At a million events the core part is 11.5 MB of the
//! section's 45.6 MB.
//!
//! Layout: [`SNAPSHOT_TAG`], then five parts in this order, each a u64 (little-endian) byte
//! length followed by its bytes: one MessagePack value for all but part 2, structs as arrays
//! of their members in the order they are declared (member names are not written: ADR 0024):
//! 1. **core**: an array `[models, proposals, datasets, endorsements, policy_version, policy,
//!    releases, last_seq]`, every version in `models` with empty `backtests` and `history`;
//! 2. **version details**: not MessagePack but a compact layout of its own ([`details`]):
//!    every version's backtest windows and history, with exactly the versions of the core;
//! 3. **experiments**, 4. **runs**: keyed parts ([`crate::keyed`]), blocks of consecutive
//!    entries each with its digest, so that a state restored on demand
//!    ([`State::from_section_on_demand`]) reads only the blocks a command or event reads;
//! 5. **alerts**: the map of [`State`].

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::details::{self, Details};
use crate::events::DatasetRegistered;
use crate::keyed::{self, Keyed};
use crate::state::{
    bulk_map, bulk_map_within, Alert, Endorsements, Experiment, ModelState, Proposal, Release, Run, State,
    VersionEvent, VersionInfo, WindowRef,
};
use ledger::snapshot::SharedSection;

/// The size up to which a part is read whole before it is decoded; a larger one is decoded as
/// it is read, so that its bytes are never all held beside the state they decode to, for
/// about a third more decoding time. At a million events every part is under it (the largest,
/// the runs, is 14 MB); at ten million events most parts are larger.
pub const SNAPSHOT_IN_MEMORY: u64 = 32 << 20;

/// The first bytes of a state snapshot section: the layout of [`State`] it holds. Any change
/// to the state's types changes it, so that a snapshot of an older layout is refused and the
/// state folded from the events instead. (`/4` held the same parts with every struct as a map
/// of its member names, nearly twice the bytes; `/5` held the experiments and runs as plain
/// maps, not keyed parts; `/6` held the version details as MessagePack, two and a half times
/// the bytes of their compact layout and slower to decode.)
pub const SNAPSHOT_TAG: &[u8] = b"pledge-state/7\n";

/// The parts of the read models a reader decodes from a snapshot besides the core (the
/// models, their versions and champions, proposals, datasets, endorsements, the policy in
/// force and the releases, which are always decoded). A part not decoded is left empty in the
/// [`State`] read: only a question known to read none of it may be answered from that state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Parts {
    /// Each version's backtest windows and history.
    pub version_details: bool,
    /// Experiments.
    pub experiments: bool,
    /// Runs.
    pub runs: bool,
    /// Alerts.
    pub alerts: bool,
}

impl Parts {
    /// The core alone.
    pub const CORE: Parts = Parts { version_details: false, experiments: false, runs: false, alerts: false };
    /// Every part: the whole state.
    pub const ALL: Parts = Parts { version_details: true, experiments: true, runs: true, alerts: true };
}

/// A map decoded with [`bulk_map`].
struct Bulk<K, V>(BTreeMap<K, V>);

/// A part that is one map, decoded with [`bulk_map_within`] bounded by the part's length.
struct BulkPart<K, V>(u64, std::marker::PhantomData<(K, V)>);

impl<'de, K: Deserialize<'de> + Ord, V: Deserialize<'de>> serde::de::DeserializeSeed<'de> for BulkPart<K, V> {
    type Value = BTreeMap<K, V>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        // Every entry takes at least two bytes of the part (a key and a value).
        bulk_map_within(d, usize::try_from(self.0 / 2).unwrap_or(usize::MAX))
    }
}

impl<'de, K: Deserialize<'de> + Ord, V: Deserialize<'de>> Deserialize<'de> for Bulk<K, V> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        bulk_map(d).map(Bulk)
    }
}

/// The core part as it is decoded.
type Core = (
    Bulk<String, ModelState>,
    Bulk<String, Proposal>,
    Bulk<String, DatasetRegistered>,
    Bulk<String, Endorsements>,
    u32,
    Value,
    BTreeMap<String, Vec<Release>>,
    Option<u64>,
);

/// A version as the core part holds it: without its backtest windows and history (encoded
/// as empty). Every member is named, so a member added to [`VersionInfo`] does not compile
/// here until it is written too; they are written in [`VersionInfo`]'s order, as the part
/// holds a struct's members by position.
struct CoreVersion<'a>(&'a VersionInfo);

impl Serialize for CoreVersion<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let VersionInfo {
            version,
            segment,
            run_id,
            trigger,
            artifact_digest,
            status,
            metrics,
            baseline,
            registered_seq,
            served,
            backtests: _,
            history: _,
        } = self.0;
        let mut st = s.serialize_struct("VersionInfo", 12)?;
        st.serialize_field("version", version)?;
        st.serialize_field("segment", segment)?;
        st.serialize_field("run_id", run_id)?;
        st.serialize_field("trigger", trigger)?;
        st.serialize_field("artifact_digest", artifact_digest)?;
        st.serialize_field("status", status)?;
        st.serialize_field("metrics", metrics)?;
        st.serialize_field("baseline", baseline)?;
        st.serialize_field("registered_seq", registered_seq)?;
        st.serialize_field("served", served)?;
        st.serialize_field("backtests", &[] as &[WindowRef])?;
        st.serialize_field("history", &[] as &[VersionEvent])?;
        st.end()
    }
}

/// A model as the core part holds it: its versions as [`CoreVersion`]s.
struct CoreModel<'a>(&'a ModelState);

impl Serialize for CoreModel<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let ModelState { task, registered_seq, versions, champions, champion_history, shadows } = self.0;
        let versions: BTreeMap<u64, CoreVersion<'_>> =
            versions.iter().map(|(n, v)| (*n, CoreVersion(v))).collect();
        let mut st = s.serialize_struct("ModelState", 6)?;
        st.serialize_field("task", task)?;
        st.serialize_field("registered_seq", registered_seq)?;
        st.serialize_field("versions", &versions)?;
        st.serialize_field("champions", champions)?;
        st.serialize_field("champion_history", champion_history)?;
        st.serialize_field("shadows", shadows)?;
        st.end()
    }
}

/// Appends a part: its length, then what `write` appends.
fn put_part_with(out: &mut Vec<u8>, write: impl FnOnce(&mut Vec<u8>)) {
    let at = out.len();
    out.extend_from_slice(&[0; 8]);
    write(out);
    let len = (out.len() - at - 8) as u64;
    out[at..at + 8].copy_from_slice(&len.to_le_bytes());
}

/// Appends a part: its length, then `value` with structs as arrays of their members.
fn put_part(out: &mut Vec<u8>, value: &impl Serialize) {
    put_part_with(out, |out| rmp_serde::encode::write(out, value).expect("the state encodes"));
}

/// Appends a keyed part: its length, then the blocks of `map` ([`crate::keyed`]).
fn put_keyed_part<V: serde::de::DeserializeOwned + Serialize>(out: &mut Vec<u8>, map: &Keyed<V>) {
    put_part_with(out, |out| keyed::write_part(map, out));
}

/// Decodes the next part, a keyed one, whole (every block read and checked).
fn read_keyed_part<V: serde::de::DeserializeOwned>(
    section: &mut impl Read,
    part: usize,
) -> Result<Keyed<V>, String> {
    let len = part_len(section, part)?;
    keyed::read_part(&mut section.take(len), len).map_err(in_part(part))
}

const PART_NAMES: [&str; 5] = ["core", "version details", "experiments", "runs", "alerts"];

/// An error met in part `part`, as the domain section's errors name it.
fn in_part<E: std::fmt::Display>(part: usize) -> impl Fn(E) -> String {
    move |e| format!("the domain section: part `{}`: {e}", PART_NAMES[part])
}

/// The length of the next part.
fn part_len(section: &mut impl Read, part: usize) -> Result<u64, String> {
    let mut len = [0u8; 8];
    section.read_exact(&mut len).map_err(in_part(part))?;
    Ok(u64::from_le_bytes(len))
}

/// Decodes the next part: read whole when it is shorter than `in_memory`, else as a stream.
/// A streamed part whose value ends before its length does is refused; a part read whole is
/// not checked for bytes after its value (the slice decoder does not say where it stopped),
/// which `pledge verify`'s byte-for-byte comparison of the section finds.
fn read_part<T: serde::de::DeserializeOwned>(
    section: &mut impl Read,
    part: usize,
    in_memory: u64,
) -> Result<T, String> {
    read_part_with(section, part, in_memory, |_| std::marker::PhantomData::<T>)
}

/// The next part, one map: [`read_part`] reserving room for the entries the map states, as
/// many as the part's bytes can hold.
fn read_map_part<K, V>(section: &mut impl Read, part: usize, in_memory: u64) -> Result<BTreeMap<K, V>, String>
where
    K: serde::de::DeserializeOwned + Ord,
    V: serde::de::DeserializeOwned,
{
    read_part_with(section, part, in_memory, |len| BulkPart(len, std::marker::PhantomData))
}

/// [`read_part`], decoding with the seed `seed` gives for the part's length.
fn read_part_with<S, T>(
    section: &mut impl Read,
    part: usize,
    in_memory: u64,
    seed: impl FnOnce(u64) -> S,
) -> Result<T, String>
where
    S: for<'de> serde::de::DeserializeSeed<'de, Value = T>,
{
    let len = part_len(section, part)?;
    let bad = in_part::<rmp_serde::decode::Error>(part);
    let seed = seed(len);
    let mut bytes = section.take(len);
    if len < in_memory {
        let buf = part_bytes(&mut bytes, part, len)?;
        let mut de = rmp_serde::Deserializer::from_read_ref(&buf[..]);
        let value = seed.deserialize(&mut de).map_err(bad)?;
        return Ok(value);
    }
    let mut de = rmp_serde::Deserializer::new(&mut bytes);
    let value = seed.deserialize(&mut de).map_err(bad)?;
    if bytes.limit() > 0 {
        return Err(format!(
            "the domain section: part `{}` holds {} bytes after its value",
            PART_NAMES[part],
            bytes.limit()
        ));
    }
    Ok(value)
}

/// The `len` bytes of part `part`, read whole. Read straight into a buffer of that length when
/// it is under [`SNAPSHOT_IN_MEMORY`] (`read_to_end` would first zero its spare capacity for a
/// reader that does not implement `read_buf`: a few percent of opening a large ledger); a
/// longer part is read as it comes, so that a damaged length cannot make the buffer any size.
fn part_bytes(section: &mut impl Read, part: usize, len: u64) -> Result<Vec<u8>, String> {
    let cut_short = || format!("the domain section: part `{}` is cut short", PART_NAMES[part]);
    if len < SNAPSHOT_IN_MEMORY {
        let mut buf = vec![0u8; len as usize];
        section.read_exact(&mut buf).map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => cut_short(),
            _ => in_part(part)(e),
        })?;
        return Ok(buf);
    }
    let mut buf = Vec::with_capacity(SNAPSHOT_IN_MEMORY as usize);
    section.take(len).read_to_end(&mut buf).map_err(in_part(part))?;
    if (buf.len() as u64) < len {
        return Err(cut_short());
    }
    Ok(buf)
}

/// Skips the next part; returns its length.
fn skip_part(section: &mut (impl Read + Seek), part: usize) -> Result<u64, String> {
    let len = part_len(section, part)?;
    let skip = i64::try_from(len)
        .map_err(|_| format!("the domain section: part `{}` is too long", PART_NAMES[part]))?;
    section.seek(SeekFrom::Current(skip)).map_err(in_part(part))?;
    Ok(len)
}

impl State {
    /// The domain section of a snapshot: [`SNAPSHOT_TAG`] and the five parts (module doc).
    pub fn to_snapshot(&self) -> Vec<u8> {
        let mut out = SNAPSHOT_TAG.to_vec();
        let models: BTreeMap<&String, CoreModel<'_>> =
            self.models.iter().map(|(n, m)| (n, CoreModel(m))).collect();
        put_part(
            &mut out,
            &(
                &models,
                &self.proposals,
                &self.datasets,
                &self.endorsements,
                self.policy_version,
                &self.policy,
                &self.releases,
                self.last_seq,
            ),
        );
        put_part_with(&mut out, |out| details::write_part(&self.models, out));
        put_keyed_part(&mut out, &self.experiments);
        put_keyed_part(&mut out, &self.runs);
        put_part(&mut out, &self.alerts);
        out
    }

    /// The state from a section [`State::to_snapshot`] wrote, read from `section` (a slice, or
    /// the snapshot file itself); refuses another tag (an older layout of the state) and bytes
    /// that do not decode. A part of up to [`SNAPSHOT_IN_MEMORY`] bytes is read whole and
    /// decoded in place (the faster way); a larger one is decoded as it is read.
    pub fn from_snapshot(section: impl Read) -> Result<State, String> {
        State::read_snapshot(section, SNAPSHOT_IN_MEMORY)
    }

    /// [`State::from_snapshot`], reading parts of fewer than `in_memory` bytes whole.
    pub(crate) fn read_snapshot(mut section: impl Read, in_memory: u64) -> Result<State, String> {
        read_tag(&mut section)?;
        let mut state = read_core(&mut section, in_memory)?;
        let details = read_details(&mut section)?;
        merge_details(&mut state, details)?;
        state.experiments = read_keyed_part::<Experiment>(&mut section, 2)?;
        state.runs = read_keyed_part::<Run>(&mut section, 3)?;
        state.alerts = read_map_part::<String, Alert>(&mut section, 4, in_memory)?;
        let mut rest = [0u8; 1];
        match section.read(&mut rest) {
            Ok(0) => Ok(state),
            Ok(_) => Err("the domain section: bytes after its last part".into()),
            Err(e) => Err(format!("the domain section: {e}")),
        }
    }

    /// [`State::from_snapshot`] from a section several readers may read at once, its parts
    /// decoded in parallel: the core on this thread, the version details, the experiments, and
    /// the runs with the alerts on three others (at a million events 11.5, 25.0, 10.5 and
    /// 17.5 MB of the section's 64.7). Refuses exactly what [`State::from_snapshot`] refuses,
    /// reporting the first part in the section's order that fails.
    pub fn from_section(section: ledger::snapshot::DomainSection<'_>) -> Result<State, String> {
        State::read_section(section, SNAPSHOT_IN_MEMORY)
    }

    /// [`State::from_section`], reading parts of fewer than `in_memory` bytes whole.
    pub(crate) fn read_section(
        section: ledger::snapshot::DomainSection<'_>,
        in_memory: u64,
    ) -> Result<State, String> {
        // Where the version details, the experiments and the runs start: after the tag, the
        // lengths of the parts before each are read (and those parts skipped) first. A length
        // past the section's end is found by the reader of that part, which reports it first.
        let mut ahead = section.reader();
        read_tag(&mut ahead)?;
        let mut starts: Vec<Result<u64, String>> = Vec::with_capacity(3);
        for part in 0..3 {
            let at = match starts.last() {
                Some(Err(e)) => Err(e.clone()),
                _ => skip_part(&mut ahead, part)
                    .and_then(|_| Seek::stream_position(&mut ahead).map_err(in_part(part))),
            };
            starts.push(at);
        }
        let reader_at = |at: &Result<u64, String>, part: usize| -> Result<_, String> {
            let mut r = section.reader();
            r.seek(SeekFrom::Start(at.clone()?)).map_err(in_part(part))?;
            Ok(r)
        };
        let details = || read_details(&mut reader_at(&starts[0], 1)?);
        let experiments = || read_keyed_part::<Experiment>(&mut reader_at(&starts[1], 2)?, 2);
        let runs_and_alerts = || -> Result<_, String> {
            let mut r = reader_at(&starts[2], 3)?;
            let runs = read_keyed_part::<Run>(&mut r, 3)?;
            let alerts = read_map_part::<String, Alert>(&mut r, 4, in_memory)?;
            let mut after = [0u8; 1];
            match r.read(&mut after) {
                Ok(0) => Ok((runs, alerts)),
                Ok(_) => Err("the domain section: bytes after its last part".to_string()),
                Err(e) => Err(format!("the domain section: {e}")),
            }
        };
        fn joined<T>(h: std::thread::ScopedJoinHandle<'_, Result<T, String>>) -> Result<T, String> {
            h.join().unwrap_or_else(|_| Err("the domain section: a decoder panicked".into()))
        }
        std::thread::scope(|scope| {
            let details = scope.spawn(details);
            let experiments = scope.spawn(experiments);
            let runs_and_alerts = scope.spawn(runs_and_alerts);
            let mut r = section.reader();
            read_tag(&mut r)?;
            let mut state = read_core(&mut r, in_memory)?;
            merge_details(&mut state, joined(details)?)?;
            state.experiments = joined(experiments)?;
            (state.runs, state.alerts) = joined(runs_and_alerts)?;
            Ok(state)
        })
    }

    /// [`State::from_section`] for a state that reads its experiments and runs on demand: the
    /// core, the version details and the alerts are decoded now (the details and the alerts
    /// on threads of their own), the keyed parts' tables are read, and each of their blocks
    /// is read from `section` only when a key in it is first read or changed
    /// ([`Keyed`]). Refuses what [`State::from_section`] refuses in what it reads now; what
    /// a block read later fails is [`State::damage`].
    pub fn from_section_on_demand(shared: SharedSection) -> Result<State, String> {
        let section = shared.section();
        let mut ahead = section.reader();
        read_tag(&mut ahead)?;
        skip_part(&mut ahead, 0)?;
        // Where each part after the core starts (after its length) and its length.
        let mut parts = [(0u64, 0u64); 4];
        for (i, slot) in parts.iter_mut().enumerate() {
            let part = i + 1;
            let at = Seek::stream_position(&mut ahead).map_err(in_part(part))? + 8;
            *slot = (at, skip_part(&mut ahead, part)?);
        }
        if parts[3].0 + parts[3].1 != section.len() {
            return Err("the domain section: bytes after its last part".into());
        }
        let reader_at = |part: usize| -> Result<_, String> {
            let mut r = section.reader();
            r.seek(SeekFrom::Start(parts[part - 1].0 - 8)).map_err(in_part(part))?;
            Ok(r)
        };
        let details = || read_details(&mut reader_at(1)?);
        let alerts = || read_map_part::<String, Alert>(&mut reader_at(4)?, 4, SNAPSHOT_IN_MEMORY);
        fn joined<T>(h: std::thread::ScopedJoinHandle<'_, Result<T, String>>) -> Result<T, String> {
            h.join().unwrap_or_else(|_| Err("the domain section: a decoder panicked".into()))
        }
        std::thread::scope(|scope| {
            let details = scope.spawn(details);
            let alerts = scope.spawn(alerts);
            let mut r = section.reader();
            read_tag(&mut r)?;
            let mut state = read_core(&mut r, SNAPSHOT_IN_MEMORY)?;
            fn keyed_part<V>(
                shared: &SharedSection,
                (at, len): (u64, u64),
                part: usize,
            ) -> Result<Keyed<V>, String> {
                keyed::part_on_demand(shared, at, len, PART_NAMES[part]).map_err(in_part(part))
            }
            let experiments = keyed_part(&shared, parts[1], 2);
            let runs = keyed_part(&shared, parts[2], 3);
            merge_details(&mut state, joined(details)?)?;
            state.experiments = experiments?;
            state.runs = runs?;
            state.alerts = joined(alerts)?;
            Ok(state)
        })
    }

    /// The core of the state and the `parts` asked for, from a section [`State::to_snapshot`]
    /// wrote; the parts not asked for are skipped unread and left empty. Refuses what
    /// [`State::from_snapshot`] refuses in the parts it reads.
    pub fn from_snapshot_parts(mut section: impl Read + Seek, parts: Parts) -> Result<State, String> {
        read_tag(&mut section)?;
        let mut state = read_core(&mut section, SNAPSHOT_IN_MEMORY)?;
        let wanted = [parts.version_details, parts.experiments, parts.runs, parts.alerts];
        let Some(last) = wanted.iter().rposition(|w| *w) else { return Ok(state) };
        for (i, want) in wanted.iter().enumerate().take(last + 1) {
            let part = i + 1;
            if !want {
                skip_part(&mut section, part)?;
                continue;
            }
            match part {
                1 => merge_details(&mut state, read_details(&mut section)?)?,
                2 => state.experiments = read_keyed_part(&mut section, part)?,
                3 => state.runs = read_keyed_part(&mut section, part)?,
                _ => state.alerts = read_map_part(&mut section, part, SNAPSHOT_IN_MEMORY)?,
            }
        }
        Ok(state)
    }
}

fn read_tag(section: &mut impl Read) -> Result<(), String> {
    let mut tag = [0u8; SNAPSHOT_TAG.len()];
    if section.read_exact(&mut tag).is_err() || tag != SNAPSHOT_TAG {
        return Err("the domain section is not a state snapshot of this version".into());
    }
    Ok(())
}

fn read_core(section: &mut impl Read, in_memory: u64) -> Result<State, String> {
    let (models, proposals, datasets, endorsements, policy_version, policy, releases, last_seq): Core =
        read_part(section, 0, in_memory)?;
    Ok(State {
        models: models.0,
        proposals: proposals.0,
        datasets: datasets.0,
        endorsements: endorsements.0,
        policy_version,
        policy,
        releases,
        last_seq,
        ..State::default()
    })
}

/// Decodes the next part, the version details ([`details`]), read whole.
fn read_details(section: &mut impl Read) -> Result<Details, String> {
    let len = part_len(section, 1)?;
    details::read_part(&part_bytes(section, 1, len)?).map_err(in_part(1))
}

/// Puts each version's windows and history back; the details must name exactly the core's
/// versions (both in ascending order), and the core's versions must hold none of their own.
fn merge_details(state: &mut State, details: Details) -> Result<(), String> {
    let inconsistent = |what: String| format!("the domain section: the version details {what}");
    let mut models = state.models.iter_mut();
    for (model, versions) in details {
        let Some((name, m)) = models.next() else {
            return Err(inconsistent(format!("name model `{model}`, which the core does not hold")));
        };
        if *name != model {
            return Err(inconsistent(format!("name model `{model}` where the core holds `{name}`")));
        }
        if versions.len() != m.versions.len() {
            return Err(inconsistent(format!(
                "name {} versions of `{model}`, the core holds {}",
                versions.len(),
                m.versions.len()
            )));
        }
        for ((n, backtests, history), (held, v)) in versions.into_iter().zip(m.versions.iter_mut()) {
            if n != *held {
                return Err(inconsistent(format!("name v{n} of `{model}` where the core holds v{held}")));
            }
            if !v.backtests.is_empty() || !v.history.is_empty() {
                return Err(inconsistent(format!("meet v{n} of `{model}` holding its own in the core")));
            }
            v.backtests = backtests;
            v.history = history;
        }
    }
    if let Some((name, _)) = models.next() {
        return Err(inconsistent(format!("do not name model `{name}`, which the core holds")));
    }
    Ok(())
}

/// The first bytes of Pledge's snapshot index (`docs/FORMAT.md`, section 19): what questions
/// answered without the read models read. An index of another tag (the earlier
/// `pledge-timelines/1\n`) is neither read nor verified: the first timeline, or the next
/// snapshot, writes it again.
pub const INDEX_TAG: &[u8] = b"pledge-index/2\n";

/// The index section of Pledge's snapshots: the timelines of every model
/// ([`crate::query::ModelTimeline`]), so that `pledge timeline` is answered from them and a few
/// events, and what serves every model ([`crate::query::ModelServing`]), so that `pledge
/// champion` is answered from it alone.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SnapshotIndex {
    /// Every model's timelines, by name.
    pub timelines: crate::query::Timelines,
    /// What serves every model, by name.
    pub serving: crate::query::Serving,
}

impl SnapshotIndex {
    /// The index of `state` (the state after some event) over `events`.
    pub fn of(events: &dyn ledger::EventSource, state: &State) -> Result<SnapshotIndex, ledger::StoreError> {
        Ok(SnapshotIndex {
            timelines: crate::query::timelines(events, state)?,
            serving: crate::query::serving(state),
        })
    }

    /// The bytes: [`INDEX_TAG`], then one MessagePack array of two maps by model name, the
    /// timelines (each a map `registered_seq`, `changes`) and the serving tables (each a map
    /// `champions`, `routes`).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = INDEX_TAG.to_vec();
        rmp_serde::encode::write_named(&mut out, &(&self.timelines, &self.serving))
            .expect("the index encodes");
        out
    }

    /// Whether `index` is of the layout [`SnapshotIndex::encode`] writes (its tag); one of
    /// another is not read.
    pub fn is_current(index: &[u8]) -> bool {
        index.starts_with(INDEX_TAG)
    }

    /// The index from bytes [`SnapshotIndex::encode`] wrote; refuses another tag, bytes that do
    /// not decode, and bytes after the array.
    pub fn decode(index: &[u8]) -> Result<SnapshotIndex, String> {
        let body = index.strip_prefix(INDEX_TAG).ok_or("the snapshot's index is not of this version")?;
        let mut de = rmp_serde::Deserializer::new(std::io::Cursor::new(body));
        let (timelines, serving) = <(crate::query::Timelines, crate::query::Serving)>::deserialize(&mut de)
            .map_err(|e| format!("the snapshot's index: {e}"))?;
        if de.position() != body.len() as u64 {
            return Err("the snapshot's index: bytes after its array".into());
        }
        Ok(SnapshotIndex { timelines, serving })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::*;
    use crate::state::*;

    /// A state with a little of everything the snapshot path reads in bulk or compactly.
    fn sample() -> State {
        let mut state = State { last_seq: Some(41), policy_version: 1, ..State::default() };
        let mut model = ModelState { registered_seq: Some(3), ..ModelState::default() };
        for v in 1..=40u64 {
            let window = |i: u64| WindowRef { seq: 100 + i, degraded: i % 3 == 0 };
            model.versions.insert(
                v,
                VersionInfo {
                    version: v,
                    segment: (v % 2 == 0).then(|| "north".to_string()),
                    run_id: format!("r-{v}"),
                    trigger: Trigger::Manual,
                    artifact_digest: ledger::Digest::of(&v.to_le_bytes()).to_string(),
                    status: VersionStatus::Challenger,
                    metrics: Metrics::from([("mae", v as f64), ("mape", 0.1)]),
                    baseline: None,
                    registered_seq: v,
                    served: v == 1,
                    backtests: (0..v % 5).map(window).collect(),
                    history: vec![VersionEvent { seq: v + 1, kind: EventKind::BacktestRecorded }],
                },
            );
        }
        model.champions.insert(String::new(), 1);
        state.models.insert("demand".into(), model);
        state
    }

    #[test]
    fn a_section_decodes_to_the_same_state_whole_or_as_a_stream() {
        let state = sample();
        let bytes = state.to_snapshot();
        // Whole (every part is smaller than the limit) and as a stream (a limit of one byte,
        // and one in the middle of the largest part).
        for in_memory in [u64::MAX, 1, bytes.len() as u64 / 4] {
            let back = State::read_snapshot(&bytes[..], in_memory).unwrap();
            assert!(back == state, "in_memory {in_memory}: another state");
            assert_eq!(back.to_snapshot(), bytes, "in_memory {in_memory}: other bytes");
            for cut in [SNAPSHOT_TAG.len() + 1, SNAPSHOT_TAG.len() + 9, bytes.len() / 2, bytes.len() - 1] {
                let err = State::read_snapshot(&bytes[..cut], in_memory).unwrap_err();
                assert!(
                    err.starts_with("the domain section: part `"),
                    "in_memory {in_memory}, cut {cut}: {err}"
                );
            }
            let mut older = bytes.clone();
            older[13] = b'3';
            let err = State::read_snapshot(&older[..], in_memory).unwrap_err();
            assert!(err.contains("not a state snapshot of this version"), "{err}");
            let mut longer = bytes.clone();
            longer.push(0);
            let err = State::read_snapshot(&longer[..], in_memory).unwrap_err();
            assert!(err.contains("after its last part"), "{err}");
        }
    }

    /// The decoder on four threads gives what the one on one thread gives, and refuses what it
    /// refuses with the same part named: every cut, another tag, a byte after the last part,
    /// and a part whose length runs past the section.
    #[test]
    fn a_section_decoded_on_four_threads_is_the_state_decoded_on_one() {
        use ledger::snapshot::DomainSection;
        let state = sample();
        let bytes = state.to_snapshot();
        for in_memory in [u64::MAX, 1] {
            let back = State::read_section(DomainSection::in_memory(&bytes), in_memory).unwrap();
            assert!(back == state, "in_memory {in_memory}: another state");
            for cut in 0..bytes.len() {
                let one = State::read_snapshot(&bytes[..cut], in_memory).unwrap_err();
                let two =
                    State::read_section(DomainSection::in_memory(&bytes[..cut]), in_memory).unwrap_err();
                let part = |e: &str| e.split('`').nth(1).map(str::to_string);
                assert_eq!(part(&one), part(&two), "cut {cut}: {one} / {two}");
            }
            let mut older = bytes.clone();
            older[13] = b'3';
            let err = State::read_section(DomainSection::in_memory(&older), in_memory).unwrap_err();
            assert!(err.contains("not a state snapshot of this version"), "{err}");
            let mut longer = bytes.clone();
            longer.push(0);
            let err = State::read_section(DomainSection::in_memory(&longer), in_memory).unwrap_err();
            assert!(err.contains("after its last part"), "{err}");
            // The version details claim to run to the end of the section and beyond.
            let mut long_details = bytes.clone();
            let at = SNAPSHOT_TAG.len() + 8 + u64::from_le_bytes(bytes[15..23].try_into().unwrap()) as usize;
            long_details[at..at + 8].copy_from_slice(&(bytes.len() as u64).to_le_bytes());
            let err = State::read_section(DomainSection::in_memory(&long_details), in_memory).unwrap_err();
            assert!(err.starts_with("the domain section: part `version details`"), "{err}");
        }
    }

    #[test]
    fn parts_not_asked_for_are_skipped_and_left_empty() {
        let state = sample();
        let bytes = state.to_snapshot();
        let core = State::from_snapshot_parts(std::io::Cursor::new(&bytes), Parts::CORE).unwrap();
        let demand = &core.models["demand"];
        assert_eq!(demand.versions.len(), 40);
        assert_eq!(demand.champions, state.models["demand"].champions);
        assert!(demand.versions.values().all(|v| v.backtests.is_empty() && v.history.is_empty()));
        let mut expected = state.clone();
        for v in expected.models.get_mut("demand").unwrap().versions.values_mut() {
            v.backtests.clear();
            v.history.clear();
        }
        assert!(core == expected, "the core is the state without the versions' details");
        let details = Parts { version_details: true, ..Parts::CORE };
        for parts in [details, Parts::ALL] {
            let back = State::from_snapshot_parts(std::io::Cursor::new(&bytes), parts).unwrap();
            assert!(back == state, "{parts:?}: another state");
        }
        // A part it reads must be whole; parts after the last one asked for are never read.
        let err =
            State::from_snapshot_parts(std::io::Cursor::new(&bytes[..bytes.len() / 2]), details).unwrap_err();
        assert!(err.starts_with("the domain section: part `"), "{err}");
        let core_end =
            SNAPSHOT_TAG.len() + 8 + u64::from_le_bytes(bytes[15..23].try_into().unwrap()) as usize;
        let again =
            State::from_snapshot_parts(std::io::Cursor::new(&bytes[..core_end]), Parts::CORE).unwrap();
        assert!(again == core);
    }

    /// The core of one state with the details (and later parts) of another is refused, naming
    /// the first mismatch in order.
    #[test]
    fn details_that_do_not_match_the_core_are_refused() {
        let state = sample();
        // The error restoring the core of `core` with the parts after it of `rest`.
        let mixed = |core: &State, rest: &State| {
            let (a, b) = (core.to_snapshot(), rest.to_snapshot());
            let split = |bytes: &[u8]| {
                SNAPSHOT_TAG.len() + 8 + u64::from_le_bytes(bytes[15..23].try_into().unwrap()) as usize
            };
            let bytes = [&a[..split(&a)], &b[split(&b)..]].concat();
            State::from_snapshot(&bytes[..]).unwrap_err()
        };
        let mut fewer = state.clone();
        fewer.models.get_mut("demand").unwrap().versions.remove(&40);
        let mut other = fewer.clone();
        let v40 = state.models["demand"].versions[&40].clone();
        other.models.get_mut("demand").unwrap().versions.insert(41, VersionInfo { version: 41, ..v40 });
        let mut renamed = state.clone();
        let demand = renamed.models.remove("demand").unwrap();
        renamed.models.insert("demand2".into(), demand);
        let mut more = state.clone();
        more.models.insert("zz".into(), ModelState::default());
        let cases = [
            (&fewer, &state, "name 40 versions of `demand`, the core holds 39"),
            (&state, &fewer, "name 39 versions of `demand`, the core holds 40"),
            // As many versions, one of them another number.
            (&state, &other, "name v41 of `demand` where the core holds v40"),
            (&state, &renamed, "the version details name model `demand2` where the core holds `demand`"),
            (&state, &more, "name model `zz`, which the core does not hold"),
            (&more, &state, "do not name model `zz`, which the core holds"),
        ];
        for (core, rest, why) in cases {
            let err = mixed(core, rest);
            assert!(err.contains(why), "{err} (expected: {why})");
        }
    }

    /// The serving table follows FORMAT.md's rule on the sample (a global champion, versions
    /// of the whole model and of one segment), and an index round-trips; another tag, bytes
    /// after the array and every truncation are refused, never decoded into another index.
    #[test]
    fn the_index_round_trips_and_refuses_what_it_did_not_write() {
        use crate::query::{serving, ModelTimeline, Route};
        let state = sample();
        let serving = serving(&state);
        let demand = &serving["demand"];
        assert_eq!(demand.champions.len(), 1);
        let c = &demand.champions[0];
        assert_eq!((c.segment.as_deref(), c.version), (None, 1));
        assert_eq!(c.metrics, state.models["demand"].versions[&1].metrics);
        assert_eq!(c.challengers, (1..=40).filter(|v| v % 2 == 1).collect::<Vec<u64>>());
        assert_eq!(
            demand.routes,
            [
                Route { segment: Some("north".into()), version: Some(1), own_champion: false },
                Route { segment: None, version: Some(1), own_champion: true },
            ]
        );
        let timeline = ModelTimeline {
            registered_seq: Some(3),
            changes: [(String::new(), vec![(7, vec![3, 5])])].into(),
        };
        let index = SnapshotIndex { timelines: [("demand".to_string(), timeline)].into(), serving };
        let bytes = index.encode();
        assert!(SnapshotIndex::is_current(&bytes));
        assert_eq!(SnapshotIndex::decode(&bytes).unwrap(), index);
        let older = [&b"pledge-timelines/1\n"[..], &bytes[INDEX_TAG.len()..]].concat();
        assert!(!SnapshotIndex::is_current(&older));
        assert!(SnapshotIndex::decode(&older).unwrap_err().contains("not of this version"));
        let longer = [&bytes[..], &[0xc0]].concat();
        assert!(SnapshotIndex::decode(&longer).unwrap_err().contains("bytes after its array"));
        for cut in 0..bytes.len() {
            assert!(SnapshotIndex::decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
    }
}
