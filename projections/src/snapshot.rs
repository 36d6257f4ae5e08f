//! The domain section of a snapshot (`docs/FORMAT.md`, section 19): the read models in five
//! parts, each decodable on its own, so that a question that reads only some of them (`pledge
//! champion` reads the models and their versions, not the backtest windows, experiments, runs
//! or alerts) decodes only those.
//!
//! Layout: [`SNAPSHOT_TAG`], then five parts in this order, each a u64 (little-endian) byte
//! length followed by its bytes, MessagePack with structs as arrays of their members in the
//! order they are declared (member names are not written: ADR 0024):
//! 1. **core**: an array `[proposals, datasets, endorsements, policy_version, policy,
//!    releases, last_seq]`;
//! 2. **models**, 3. **experiments**, 4. **runs**, 5. **alerts**: keyed parts
//!    ([`crate::keyed`]), blocks of consecutive entries each with its digest, so that a state
//!    restored on demand ([`State::from_section_on_demand`]) reads only the blocks a command or
//!    event reads. A model is stored as `[model, details]`: the model with every version's
//!    backtest windows and history empty, and those in a compact layout of their own
//!    ([`details`], ADR 0028) as a bin beside it (ADR 0030).

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::details::{self, Details};
use crate::events::DatasetRegistered;
use crate::keyed::{self, Keyed};
use crate::state::{
    bulk_map, Alert, Endorsements, Experiment, ModelState, Proposal, Release, Run, State, VersionEvent,
    VersionInfo, WindowRef,
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
/// the bytes of their compact layout and slower to decode; `/7` held the models in the core
/// part, every version's details in a part of their own and the alerts as a plain map.)
pub const SNAPSHOT_TAG: &[u8] = b"pledge-state/8\n";

/// The parts of the read models a reader decodes from a snapshot besides the core and the
/// models (their versions and champions, proposals, datasets, endorsements, the policy in
/// force and the releases, which are always decoded). A part not decoded is left empty in the
/// [`State`] read: only a question known to read none of it may be answered from that state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Parts {
    /// Each version's backtest windows and history (each model's details bin decoded, not
    /// skipped).
    pub version_details: bool,
    /// Experiments.
    pub experiments: bool,
    /// Runs.
    pub runs: bool,
    /// Alerts.
    pub alerts: bool,
}

impl Parts {
    /// The core and the models alone, without their versions' details.
    pub const CORE: Parts = Parts { version_details: false, experiments: false, runs: false, alerts: false };
    /// Every part: the whole state.
    pub const ALL: Parts = Parts { version_details: true, experiments: true, runs: true, alerts: true };
}

/// A map decoded with [`bulk_map`].
struct Bulk<K, V>(BTreeMap<K, V>);

impl<'de, K: Deserialize<'de> + Ord, V: Deserialize<'de>> Deserialize<'de> for Bulk<K, V> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        bulk_map(d).map(Bulk)
    }
}

/// The core part as it is decoded.
type Core = (
    Bulk<String, Proposal>,
    Bulk<String, DatasetRegistered>,
    Bulk<String, Endorsements>,
    u32,
    Value,
    BTreeMap<String, Vec<Release>>,
    Option<u64>,
);

/// A version as the models part holds it: without its backtest windows and history (encoded
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

/// A model as the models part holds it: its versions as [`CoreVersion`]s.
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

/// A model's version details, in their compact layout (FORMAT.md, section 19), as the models
/// part holds them beside the model: a MessagePack bin.
pub struct DetailBytes(Vec<u8>);

impl Serialize for DetailBytes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for DetailBytes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Bin;
        impl serde::de::Visitor<'_> for Bin {
            type Value = DetailBytes;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a model's version details as bytes")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<DetailBytes, E> {
                Ok(DetailBytes(v.to_vec()))
            }
            fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<DetailBytes, E> {
                Ok(DetailBytes(v))
            }
        }
        d.deserialize_bytes(Bin)
    }
}

/// A model in the models part (FORMAT.md, section 19): an array of two, the model with its
/// versions as [`CoreVersion`]s, and the bin of its versions' details in the compact layout
/// naming this model alone (ADR 0030).
impl keyed::Entry for ModelState {
    type Stored = (ModelState, DetailBytes);

    fn write(&self, key: &str, out: &mut Vec<u8>) {
        let mut details = Vec::new();
        details::write_part(&[(key, self)], &mut details);
        rmp_serde::encode::write(out, &(CoreModel(self), DetailBytes(details))).expect("the state encodes");
    }

    fn restore(key: &str, (mut model, details): Self::Stored) -> Result<ModelState, String> {
        let details = details::read_part(&details.0).map_err(|e| format!("its version details: {e}"))?;
        merge_details(key, &mut model, details)?;
        Ok(model)
    }
}

/// A model as a question that reads no version's backtest windows or history decodes it: its
/// versions' details are skipped, not decoded, and left empty.
struct ModelCore(ModelState);

impl keyed::Entry for ModelCore {
    type Stored = (ModelState, serde::de::IgnoredAny);

    fn write(&self, key: &str, out: &mut Vec<u8>) {
        self.0.write(key, out);
    }

    fn restore(_key: &str, (model, _): Self::Stored) -> Result<ModelCore, String> {
        if model.versions.values().any(|v| !v.backtests.is_empty() || !v.history.is_empty()) {
            return Err("a version holds its details outside the bin".into());
        }
        Ok(ModelCore(model))
    }
}

/// Appends a keyed part: its length, then the blocks of `map` ([`crate::keyed`]).
fn put_keyed_part<V: keyed::Entry>(out: &mut Vec<u8>, map: &Keyed<V>) {
    put_part_with(out, |out| keyed::write_part(map, out));
}

/// Decodes the next part, a keyed one, whole (every block read and checked).
fn read_keyed_part<V: keyed::Entry>(section: &mut impl Read, part: usize) -> Result<Keyed<V>, String> {
    let len = part_len(section, part)?;
    keyed::read_part(&mut section.take(len), len).map_err(in_part(part))
}

const PART_NAMES: [&str; 5] = ["core", "models", "experiments", "runs", "alerts"];

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
        put_part(
            &mut out,
            &(
                &self.proposals,
                &self.datasets,
                &self.endorsements,
                self.policy_version,
                &self.policy,
                &self.releases,
                self.last_seq,
            ),
        );
        put_keyed_part(&mut out, &self.models);
        put_keyed_part(&mut out, &self.experiments);
        put_keyed_part(&mut out, &self.runs);
        put_keyed_part(&mut out, &self.alerts);
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
        state.models = read_keyed_part::<ModelState>(&mut section, 1)?;
        state.experiments = read_keyed_part::<Experiment>(&mut section, 2)?;
        state.runs = read_keyed_part::<Run>(&mut section, 3)?;
        state.alerts = read_keyed_part::<Alert>(&mut section, 4)?;
        let mut rest = [0u8; 1];
        match section.read(&mut rest) {
            Ok(0) => Ok(state),
            Ok(_) => Err("the domain section: bytes after its last part".into()),
            Err(e) => Err(format!("the domain section: {e}")),
        }
    }

    /// [`State::from_snapshot`] from a section several readers may read at once, its parts
    /// decoded in parallel: the core on this thread, the models, the experiments, and the runs
    /// with the alerts on three others. Refuses exactly what [`State::from_snapshot`] refuses,
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
        let models = || read_keyed_part::<ModelState>(&mut reader_at(&starts[0], 1)?, 1);
        let experiments = || read_keyed_part::<Experiment>(&mut reader_at(&starts[1], 2)?, 2);
        let runs_and_alerts = || -> Result<_, String> {
            let mut r = reader_at(&starts[2], 3)?;
            let runs = read_keyed_part::<Run>(&mut r, 3)?;
            let alerts = read_keyed_part::<Alert>(&mut r, 4)?;
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
            let models = scope.spawn(models);
            let experiments = scope.spawn(experiments);
            let runs_and_alerts = scope.spawn(runs_and_alerts);
            let mut r = section.reader();
            read_tag(&mut r)?;
            let mut state = read_core(&mut r, in_memory)?;
            state.models = joined(models)?;
            state.experiments = joined(experiments)?;
            (state.runs, state.alerts) = joined(runs_and_alerts)?;
            Ok(state)
        })
    }

    /// [`State::from_section`] for a state that reads its models, experiments, runs and alerts
    /// on demand: the core is decoded now, the keyed parts' tables are read, and each of their
    /// blocks is read from `section` only when a key in it is first read or changed
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
        state.models = keyed_part(&shared, parts[0], 1)?;
        state.experiments = keyed_part(&shared, parts[1], 2)?;
        state.runs = keyed_part(&shared, parts[2], 3)?;
        state.alerts = keyed_part(&shared, parts[3], 4)?;
        Ok(state)
    }

    /// The core of the state and the `parts` asked for, from a section [`State::to_snapshot`]
    /// wrote; the parts not asked for are skipped unread and left empty. Refuses what
    /// [`State::from_snapshot`] refuses in the parts it reads.
    pub fn from_snapshot_parts(mut section: impl Read + Seek, parts: Parts) -> Result<State, String> {
        read_tag(&mut section)?;
        let mut state = read_core(&mut section, SNAPSHOT_IN_MEMORY)?;
        state.models = if parts.version_details {
            read_keyed_part::<ModelState>(&mut section, 1)?
        } else {
            let models = read_keyed_part::<ModelCore>(&mut section, 1)?;
            models.into_map().into_iter().map(|(name, m)| (name, m.0)).collect()
        };
        let wanted = [parts.experiments, parts.runs, parts.alerts];
        let Some(last) = wanted.iter().rposition(|w| *w) else { return Ok(state) };
        for (i, want) in wanted.iter().enumerate().take(last + 1) {
            let part = i + 2;
            if !want {
                skip_part(&mut section, part)?;
                continue;
            }
            match part {
                2 => state.experiments = read_keyed_part(&mut section, part)?,
                3 => state.runs = read_keyed_part(&mut section, part)?,
                _ => state.alerts = read_keyed_part(&mut section, part)?,
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
    let (proposals, datasets, endorsements, policy_version, policy, releases, last_seq): Core =
        read_part(section, 0, in_memory)?;
    Ok(State {
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

/// Puts each version's windows and history back from `details`, the details the models part
/// holds beside model `name`: they must name exactly that model and its versions (both in
/// ascending order), and its versions must hold none of their own.
fn merge_details(name: &str, model: &mut ModelState, details: Details) -> Result<(), String> {
    let inconsistent = |what: String| format!("its version details {what}");
    let mut named = details.into_iter();
    let (Some((held, versions)), None) = (named.next(), named.next()) else {
        return Err(inconsistent("do not name exactly one model".into()));
    };
    if held != name {
        return Err(inconsistent(format!("name model `{held}`")));
    }
    if versions.len() != model.versions.len() {
        return Err(inconsistent(format!(
            "name {} versions, the model holds {}",
            versions.len(),
            model.versions.len()
        )));
    }
    for ((n, backtests, history), (held, v)) in versions.into_iter().zip(model.versions.iter_mut()) {
        if n != *held {
            return Err(inconsistent(format!("name v{n} where the model holds v{held}")));
        }
        if !v.backtests.is_empty() || !v.history.is_empty() {
            return Err(inconsistent(format!("meet v{n} holding its own")));
        }
        v.backtests = backtests;
        v.history = history;
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
            // The models part claims to run to the end of the section and beyond.
            let mut long_models = bytes.clone();
            let at = SNAPSHOT_TAG.len() + 8 + u64::from_le_bytes(bytes[15..23].try_into().unwrap()) as usize;
            long_models[at..at + 8].copy_from_slice(&(bytes.len() as u64).to_le_bytes());
            let err = State::read_section(DomainSection::in_memory(&long_models), in_memory).unwrap_err();
            assert!(err.starts_with("the domain section: part `models`"), "{err}");
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
        let len_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap()) as usize;
        let core_end = SNAPSHOT_TAG.len() + 8 + len_at(SNAPSHOT_TAG.len());
        let models_end = core_end + 8 + len_at(core_end);
        let again =
            State::from_snapshot_parts(std::io::Cursor::new(&bytes[..models_end]), Parts::CORE).unwrap();
        assert!(again == core);
        let err = State::from_snapshot_parts(std::io::Cursor::new(&bytes[..models_end - 1]), Parts::CORE)
            .unwrap_err();
        assert!(err.starts_with("the domain section: part `models`"), "{err}");
    }

    /// A model whose details bin is another model's is refused, naming the first mismatch.
    #[test]
    fn details_that_do_not_match_their_model_are_refused() {
        use crate::keyed::Entry;
        let state = sample();
        // The error restoring the model `demand` of `core` with the details `rest` holds.
        let mixed = |core: &State, rest: &BTreeMap<String, ModelState>| {
            let pairs: Vec<(&str, &ModelState)> = rest.iter().map(|(n, m)| (n.as_str(), m)).collect();
            let mut bin = Vec::new();
            details::write_part(&pairs, &mut bin);
            let bytes = rmp_serde::to_vec(&(CoreModel(&core.models["demand"]), DetailBytes(bin))).unwrap();
            let stored: (ModelState, DetailBytes) = rmp_serde::from_slice(&bytes).unwrap();
            ModelState::restore("demand", stored).unwrap_err()
        };
        let models =
            |s: &State| s.models.iter().map(|(n, m)| (n.clone(), m.clone())).collect::<BTreeMap<_, _>>();
        let mut fewer = state.clone();
        fewer.models.get_mut("demand").unwrap().versions.remove(&40);
        let mut other = fewer.clone();
        let v40 = state.models["demand"].versions[&40].clone();
        other.models.get_mut("demand").unwrap().versions.insert(41, VersionInfo { version: 41, ..v40 });
        let mut renamed = models(&state);
        let demand = renamed.remove("demand").unwrap();
        renamed.insert("demand2".into(), demand);
        let mut more = models(&state);
        more.insert("zz".into(), ModelState::default());
        let cases = [
            (&fewer, models(&state), "name 40 versions, the model holds 39"),
            (&state, models(&fewer), "name 39 versions, the model holds 40"),
            // As many versions, one of them another number.
            (&state, models(&other), "name v41 where the model holds v40"),
            (&state, renamed, "its version details name model `demand2`"),
            (&state, more, "do not name exactly one model"),
            (&state, BTreeMap::new(), "do not name exactly one model"),
        ];
        for (core, rest, why) in cases {
            let err = mixed(core, &rest);
            assert!(err.contains(why), "{err} (expected: {why})");
        }
        // A model whose versions hold details of their own outside the bin.
        let whole = &state.models["demand"];
        let mut bin = Vec::new();
        details::write_part(&[("demand", whole)], &mut bin);
        let bytes = rmp_serde::to_vec(&(whole, DetailBytes(bin))).unwrap();
        let stored: (ModelState, DetailBytes) = rmp_serde::from_slice(&bytes).unwrap();
        let err = ModelState::restore("demand", stored).unwrap_err();
        assert!(err.contains("holding its own"), "{err}");
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
