//! RFC 8785 (JCS) canonical JSON and the UTC timestamp format used inside events.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Canonical JSON bytes (RFC 8785) of any serialisable value.
///
/// Fails when the value holds a NaN or an infinity (JSON has no spelling for them) or a map with
/// non-string keys. Integers are written as IEEE-754 doubles, as RFC 8785 requires, so integers
/// outside ±2^53 lose precision: Pledge never writes such integers.
///
/// # Examples
///
/// ```
/// let v = serde_json::json!({"b": 1.0, "a": [true, null, "x"]});
/// assert_eq!(ledger::canonical::to_vec(&v).unwrap(), br#"{"a":[true,null,"x"],"b":1}"#);
/// ```
pub fn to_vec<T: Serialize>(value: &T) -> Result<Vec<u8>, serde_json::Error> {
    serde_json_canonicalizer::to_vec(value)
}

/// The largest integer a JSON number holds exactly once it is read as an IEEE-754 double,
/// which RFC 8785 requires: 2^53 - 1.
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// Checks that `bytes` are JSON that reads the same in every parser: no member name twice in
/// one object (parsers disagree on which one counts), and no integer beyond
/// ±[`MAX_SAFE_INTEGER`] (canonical JSON writes numbers as doubles, so it would not survive).
/// Signed command payloads must pass it (`docs/FORMAT.md`, section 5).
///
/// # Examples
///
/// ```
/// use ledger::canonical::check_unambiguous;
/// assert!(check_unambiguous(br#"{"a": {"b": 1, "c": [2, 3.5]}}"#).is_ok());
/// assert!(check_unambiguous(br#"{"a": 1, "a": 2}"#).unwrap_err().contains("`a`"));
/// assert!(check_unambiguous(b"9007199254740993").is_err());
/// ```
pub fn check_unambiguous(bytes: &[u8]) -> Result<(), String> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    serde::de::Deserializer::deserialize_any(&mut de, Unambiguous).map_err(|e| e.to_string())?;
    de.end().map_err(|e| e.to_string())
}

struct Unambiguous;

impl<'de> serde::de::DeserializeSeed<'de> for Unambiguous {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Unambiguous {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("JSON")
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<(), E> {
        if v.unsigned_abs() > MAX_SAFE_INTEGER {
            return Err(E::custom(format!(
                "the integer {v} is beyond ±(2^53 - 1), which canonical JSON cannot hold exactly"
            )));
        }
        Ok(())
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<(), E> {
        if v > MAX_SAFE_INTEGER {
            return Err(E::custom(format!(
                "the integer {v} is beyond 2^53 - 1, which canonical JSON cannot hold exactly"
            )));
        }
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Unambiguous)?.is_some() {}
        Ok(())
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut names = std::collections::BTreeSet::new();
        while let Some(name) = map.next_key::<String>()? {
            if !names.insert(name.clone()) {
                return Err(serde::de::Error::custom(format!(
                    "the member `{name}` appears twice in one object"
                )));
            }
            map.next_value_seed(Unambiguous)?;
        }
        Ok(())
    }
}

/// A UTC instant with microsecond precision, serialised as `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
///
/// One fixed width and precision means the textual order of timestamps is their time order
/// and every instant has exactly one spelling, which canonical bytes need.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(DateTime<Utc>);

impl Timestamp {
    /// Truncates `t` to whole microseconds.
    pub fn from_datetime(t: DateTime<Utc>) -> Self {
        let micros = t.timestamp_micros();
        Timestamp(DateTime::from_timestamp_micros(micros).expect("micros of a valid datetime"))
    }

    /// The instant as a chrono value.
    pub fn datetime(&self) -> DateTime<Utc> {
        self.0
    }

    /// Microseconds since the Unix epoch.
    pub fn micros(&self) -> i64 {
        self.0.timestamp_micros()
    }

    /// Parses the exact event spelling; any other spelling (offsets, other precisions) is refused.
    pub fn parse_exact(s: &str) -> Result<Self, String> {
        let t = DateTime::parse_from_rfc3339(s).map_err(|e| format!("`{s}` is not an RFC 3339 time: {e}"))?;
        let ts = Timestamp::from_datetime(t.with_timezone(&Utc));
        if ts.to_string() != s {
            return Err(format!(
                "`{s}` is not in the canonical form `YYYY-MM-DDTHH:MM:SS.ffffffZ` (expected `{ts}`)"
            ));
        }
        Ok(ts)
    }
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.to_rfc3339_opts(SecondsFormat::Micros, true))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Timestamp::parse_exact(&s).map_err(serde::de::Error::custom)
    }
}

/// Where "now" comes from. Injected so that tests and replays are deterministic.
pub trait Clock: Send + Sync {
    /// The current instant.
    fn now(&self) -> Timestamp;
}

/// The machine's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_datetime(Utc::now())
    }
}

/// A clock for tests: starts at a fixed instant and advances by a fixed step on every reading.
#[derive(Debug)]
pub struct StepClock {
    next: std::sync::atomic::AtomicI64,
    step_micros: i64,
}

impl StepClock {
    /// A clock whose first reading is `start` and which advances `step_micros` per reading.
    pub fn new(start: Timestamp, step_micros: i64) -> Self {
        StepClock { next: std::sync::atomic::AtomicI64::new(start.micros()), step_micros }
    }
}

impl Clock for StepClock {
    fn now(&self) -> Timestamp {
        let m = self.next.fetch_add(self.step_micros, std::sync::atomic::Ordering::SeqCst);
        Timestamp(DateTime::from_timestamp_micros(m).expect("test clock within chrono's range"))
    }
}
