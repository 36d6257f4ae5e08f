//! The version details of a snapshot's models part (`docs/FORMAT.md`, section 19), written
//! beside each model for that model alone (ADR 0030): its versions' backtest windows and
//! history, in a compact binary layout of its own (ADR 0028) rather than MessagePack, because
//! they were the largest part and the one a write decoded whole: at a million events 25 MB of MessagePack, most of it the kind of each
//! history entry written out as text, took longer to decode than sled took to open.
//!
//! Every integer is an unsigned LEB128 varint in its shortest form (7 bits per byte, low
//! bits first, the high bit set on every byte but the last; at most 10 bytes, a value below
//! 2^64). The part is:
//! - the **kind table**: a count, then that many event kind names, each a length and its
//!   UTF-8 bytes, in strictly ascending byte order: exactly the kinds the histories name;
//! - the **models**: a count, then per model in strictly ascending byte order of its name:
//!   the name (a length and its UTF-8 bytes), a count of versions, then per version in
//!   strictly ascending number: its number, the count of its backtest windows, each window's
//!   event `seq` and one byte (`1` degraded, `0` not), the count of its history entries, and
//!   each entry's event `seq` and the position of its kind in the kind table.
//!
//! The part ends after its last model. So its bytes are a function of the state alone.

use crate::events::EventKind;
use crate::state::{ModelState, VersionEvent, WindowRef};

/// One version's details as decoded: its number, backtest windows and history.
pub(crate) type VersionDetails = (u64, Vec<WindowRef>, Vec<VersionEvent>);

/// Every model's version details, models and versions in ascending order.
pub(crate) type Details = Vec<(String, Vec<VersionDetails>)>;

/// Appends `n` as an unsigned LEB128 varint in its shortest form.
fn put(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn put_text(out: &mut Vec<u8>, text: &str) {
    put(out, text.len() as u64);
    out.extend_from_slice(text.as_bytes());
}

/// Appends the version details of `models`, named and in ascending order of their names
/// (module doc).
pub(crate) fn write_part(models: &[(&str, &ModelState)], out: &mut Vec<u8>) {
    // A few dozen kinds at most: a linear search beats hashing or sorting every entry.
    let mut kinds: Vec<EventKind> = Vec::new();
    for h in models.iter().flat_map(|(_, m)| m.versions.values().flat_map(|v| &v.history)) {
        if !kinds.contains(&h.kind) {
            kinds.push(h.kind);
        }
    }
    kinds.sort_by_key(|k| k.as_str());
    put(out, kinds.len() as u64);
    for k in &kinds {
        put_text(out, k.as_str());
    }
    let position = |kind: EventKind| kinds.iter().position(|k| *k == kind).expect("listed");
    put(out, models.len() as u64);
    for (name, model) in models {
        put_text(out, name);
        put(out, model.versions.len() as u64);
        for (number, v) in &model.versions {
            put(out, *number);
            put(out, v.backtests.len() as u64);
            for w in &v.backtests {
                put(out, w.seq);
                out.push(u8::from(w.degraded));
            }
            put(out, v.history.len() as u64);
            for h in &v.history {
                put(out, h.seq);
                put(out, position(h.kind) as u64);
            }
        }
    }
}

/// A reader of the part's bytes; every error names what it was reading.
struct Bytes<'a> {
    rest: &'a [u8],
}

impl<'a> Bytes<'a> {
    fn varint(&mut self, what: &str) -> Result<u64, String> {
        let mut n = 0u64;
        for (i, &b) in self.rest.iter().enumerate().take(10) {
            let bits = u64::from(b & 0x7f);
            if i == 9 && b > 1 {
                return Err(format!("{what} is above 2^64"));
            }
            n |= bits << (7 * i);
            if b & 0x80 == 0 {
                if i > 0 && b == 0 {
                    return Err(format!("{what} is not in its shortest form"));
                }
                self.rest = &self.rest[i + 1..];
                return Ok(n);
            }
        }
        Err(format!("{what} is cut short"))
    }

    /// A count of items of at least `min_bytes` bytes each: no more than the bytes left hold.
    fn count(&mut self, what: &str, min_bytes: usize) -> Result<usize, String> {
        let n = self.varint(what)?;
        match usize::try_from(n) {
            Ok(n) if n <= self.rest.len() / min_bytes => Ok(n),
            _ => Err(format!("{what} ({n}) is more than the part's bytes can hold")),
        }
    }

    fn text(&mut self, what: &str) -> Result<&'a str, String> {
        let len = self.count(what, 1)?;
        let (text, rest) = self.rest.split_at(len);
        self.rest = rest;
        std::str::from_utf8(text).map_err(|_| format!("{what} is not UTF-8"))
    }

    fn byte(&mut self, what: &str) -> Result<u8, String> {
        let (&b, rest) = self.rest.split_first().ok_or_else(|| format!("{what} is cut short"))?;
        self.rest = rest;
        Ok(b)
    }
}

/// Decodes a version details part (module doc); refuses bytes it does not describe exactly.
pub(crate) fn read_part(bytes: &[u8]) -> Result<Details, String> {
    let mut r = Bytes { rest: bytes };
    let kind_count = r.count("the number of event kinds", 2)?;
    let mut kinds: Vec<EventKind> = Vec::with_capacity(kind_count);
    let mut last: Option<&str> = None;
    for _ in 0..kind_count {
        let name = r.text("an event kind's name")?;
        if last.is_some_and(|l| l >= name) {
            return Err(format!("the event kind `{name}` is not after the one before it"));
        }
        last = Some(name);
        kinds.push(EventKind::parse(name).ok_or_else(|| format!("`{name}` is not an event kind"))?);
    }
    let mut used = vec![false; kinds.len()];
    let model_count = r.count("the number of models", 2)?;
    let mut models: Details = Vec::with_capacity(model_count);
    for _ in 0..model_count {
        let name = r.text("a model's name")?;
        if models.last().is_some_and(|(l, _)| l.as_str() >= name) {
            return Err(format!("the model `{name}` is not after the one before it"));
        }
        let version_count = r.count("a model's number of versions", 3)?;
        let mut versions: Vec<VersionDetails> = Vec::with_capacity(version_count);
        for _ in 0..version_count {
            let number = r.varint("a version number")?;
            if versions.last().is_some_and(|(l, _, _)| *l >= number) {
                return Err(format!("v{number} of `{name}` is not after the version before it"));
            }
            let windows = r.count("a version's number of backtest windows", 2)?;
            let mut backtests = Vec::with_capacity(windows);
            for _ in 0..windows {
                let seq = r.varint("a backtest window's event")?;
                let degraded = match r.byte("a backtest window's judgement")? {
                    0 => false,
                    1 => true,
                    b => {
                        return Err(format!(
                            "a backtest window of v{number} of `{name}` is judged {b}, not 0 or 1"
                        ))
                    }
                };
                backtests.push(WindowRef { seq, degraded });
            }
            let entries = r.count("a version's number of history entries", 2)?;
            let mut history = Vec::with_capacity(entries);
            for _ in 0..entries {
                let seq = r.varint("a history entry's event")?;
                let at = r.varint("a history entry's kind")?;
                let i = usize::try_from(at).ok().filter(|i| *i < kinds.len()).ok_or_else(|| {
                    format!("a history entry of v{number} of `{name}` names kind {at} of {}", kinds.len())
                })?;
                used[i] = true;
                history.push(VersionEvent { seq, kind: kinds[i] });
            }
            versions.push((number, backtests, history));
        }
        models.push((name.to_string(), versions));
    }
    if !r.rest.is_empty() {
        return Err(format!("{} bytes follow its last model", r.rest.len()));
    }
    if let Some(i) = used.iter().position(|u| !u) {
        return Err(format!(
            "the event kind `{}` is listed but no history entry names it",
            kinds[i].as_str()
        ));
    }
    Ok(models)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::VersionInfo;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn version(number: u64, windows: &[(u64, bool)], history: &[(u64, EventKind)]) -> VersionInfo {
        VersionInfo {
            version: number,
            segment: None,
            run_id: format!("r-{number}"),
            trigger: crate::events::Trigger::Manual,
            artifact_digest: String::new(),
            status: crate::events::VersionStatus::Challenger,
            metrics: Default::default(),
            baseline: None,
            registered_seq: number,
            served: false,
            backtests: windows.iter().map(|&(seq, degraded)| WindowRef { seq, degraded }).collect(),
            history: history.iter().map(|&(seq, kind)| VersionEvent { seq, kind }).collect(),
        }
    }

    fn models(spec: &[(&str, Vec<VersionInfo>)]) -> BTreeMap<String, ModelState> {
        spec.iter()
            .map(|(name, versions)| {
                let versions = versions.iter().map(|v| (v.version, v.clone())).collect();
                (name.to_string(), ModelState { versions, ..ModelState::default() })
            })
            .collect()
    }

    fn details_of(models: &BTreeMap<String, ModelState>) -> Details {
        models
            .iter()
            .map(|(n, m)| {
                let versions =
                    m.versions.iter().map(|(k, v)| (*k, v.backtests.clone(), v.history.clone())).collect();
                (n.clone(), versions)
            })
            .collect()
    }

    fn encoded(models: &BTreeMap<String, ModelState>) -> Vec<u8> {
        let mut out = vec![];
        let pairs: Vec<(&str, &ModelState)> = models.iter().map(|(n, m)| (n.as_str(), m)).collect();
        write_part(&pairs, &mut out);
        out
    }

    /// The bytes of a small part, written out by hand from the module's description.
    #[test]
    fn a_part_is_the_bytes_the_layout_describes() {
        let m = models(&[(
            "m",
            vec![
                version(
                    1,
                    &[(300, true)],
                    &[(5, EventKind::PromotionEvaluated), (300, EventKind::BacktestRecorded)],
                ),
                version(2, &[], &[]),
            ],
        )]);
        let mut want = vec![2u8];
        want.push(17);
        want.extend_from_slice(b"backtest.recorded");
        want.push(19);
        want.extend_from_slice(b"promotion.evaluated");
        want.extend_from_slice(&[1, 1, b'm', 2]);
        // v1: one window at 300 (0xac 0x02), degraded; two history entries.
        want.extend_from_slice(&[1, 1, 0xac, 0x02, 1, 2, 5, 1, 0xac, 0x02, 0]);
        // v2: nothing.
        want.extend_from_slice(&[2, 0, 0]);
        assert_eq!(encoded(&m), want);
        assert_eq!(read_part(&want).unwrap(), details_of(&m));
    }

    /// Each way a part can be wrong is refused, naming what is wrong.
    #[test]
    fn bytes_the_layout_does_not_describe_are_refused() {
        let good =
            encoded(&models(&[("a", vec![version(1, &[(7, false)], &[(7, EventKind::BacktestRecorded)])])]));
        assert!(read_part(&good).is_ok());
        let kinds_end = 2 + "backtest.recorded".len();
        let cases: Vec<(Vec<u8>, &str)> = vec![
            // The last entry's event written as a varint that never ends.
            ([&good[..good.len() - 2], &[0x87, 0x81]].concat(), "a history entry's event is cut short"),
            // A count larger than its items' bytes: the last byte dropped.
            (good[..good.len() - 1].to_vec(), "number of history entries (1) is more than the part's bytes"),
            ([&good[..], &[0]].concat(), "1 bytes follow its last model"),
            // A window judged 2.
            (
                {
                    let mut b = good.clone();
                    b[kinds_end + 7] = 2;
                    b
                },
                "judged 2",
            ),
            // A history entry naming kind 1 of 1.
            (
                {
                    let mut b = good.clone();
                    *b.last_mut().unwrap() = 1;
                    b
                },
                "names kind 1 of 1",
            ),
            // A kind that is not one.
            (
                {
                    let mut b = good.clone();
                    b[2] = b'x';
                    b
                },
                "is not an event kind",
            ),
            // The version number 1 written in two bytes.
            ([&good[..kinds_end + 4], &[0x81, 0x00], &good[kinds_end + 5..]].concat(), "shortest form"),
            // A count larger than the bytes left.
            (
                {
                    let mut b = good.clone();
                    b[kinds_end] = 0x7f;
                    b
                },
                "more than the part's bytes can hold",
            ),
            // A listed kind no entry names.
            (encoded_with_unused_kind(), "no history entry names it"),
        ];
        for (bytes, why) in cases {
            let e = read_part(&bytes).expect_err(why);
            assert!(e.contains(why), "{e} (expected: {why})");
        }
        // Models and versions out of order.
        let two = encoded(&models(&[("a", vec![version(1, &[], &[])]), ("b", vec![version(1, &[], &[])])]));
        let mut swapped = two.clone();
        swapped[3] = b'b';
        assert!(read_part(&swapped).unwrap_err().contains("not after the one before it"));
        let versions = encoded(&models(&[("a", vec![version(1, &[], &[]), version(2, &[], &[])])]));
        let mut same = versions.clone();
        same[8] = 1;
        assert!(read_part(&same).unwrap_err().contains("is not after the version before it"));
    }

    fn encoded_with_unused_kind() -> Vec<u8> {
        let mut b = vec![1u8, 17];
        b.extend_from_slice(b"backtest.recorded");
        b.push(0);
        b
    }

    fn arb_models() -> impl Strategy<Value = BTreeMap<String, ModelState>> {
        let kind = proptest::sample::select(EventKind::ALL.to_vec());
        let details = (
            proptest::collection::vec((any::<u64>(), any::<bool>()), 0..5),
            proptest::collection::vec((any::<u64>(), kind), 0..5),
        );
        let model = proptest::collection::btree_map(any::<u64>(), details, 0..5);
        proptest::collection::btree_map("[a-zé-]{0,6}", model, 0..4).prop_map(|ms| {
            ms.into_iter()
                .map(|(name, versions)| {
                    let versions = versions
                        .into_iter()
                        .map(|(n, (w, h))| {
                            let v = version(n, &w, &h);
                            (n, v)
                        })
                        .collect();
                    (name, ModelState { versions, ..ModelState::default() })
                })
                .collect()
        })
    }

    proptest! {
        /// Any models' details decode to what was encoded, and any byte changed or dropped
        /// either is refused or decodes to details that encode to those very bytes.
        #[test]
        fn details_round_trip_and_decode_only_their_own_encoding(m in arb_models(), at in any::<prop::sample::Index>(), to in any::<u8>()) {
            let bytes = encoded(&m);
            prop_assert_eq!(read_part(&bytes).unwrap(), details_of(&m));
            let mut changed = bytes.clone();
            if !changed.is_empty() {
                let i = at.index(changed.len());
                changed[i] = to;
                if let Ok(d) = read_part(&changed) {
                    prop_assert_eq!(&reencoded(&d), &changed);
                }
                changed.remove(i);
                if let Ok(d) = read_part(&changed) {
                    prop_assert_eq!(&reencoded(&d), &changed);
                }
            }
        }
    }

    /// The bytes `write_part` gives for decoded details.
    fn reencoded(d: &Details) -> Vec<u8> {
        let m: BTreeMap<String, ModelState> = d
            .iter()
            .map(|(name, versions)| {
                let versions = versions
                    .iter()
                    .map(|(n, b, h)| {
                        let w: Vec<(u64, bool)> = b.iter().map(|w| (w.seq, w.degraded)).collect();
                        let e: Vec<(u64, EventKind)> = h.iter().map(|h| (h.seq, h.kind)).collect();
                        (*n, version(*n, &w, &e))
                    })
                    .collect();
                (name.clone(), ModelState { versions, ..ModelState::default() })
            })
            .collect();
        encoded(&m)
    }
}
