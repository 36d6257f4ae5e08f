//! RFC 8785 (JCS) canonical JSON and the UTC timestamp format used inside events.

use std::borrow::Cow;
use std::collections::HashSet;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Canonical JSON bytes (RFC 8785) of any serialisable value.
///
/// Fails when the value is itself a NaN or an infinity (JSON has no spelling for them), or holds
/// a map with the same member name twice or with keys that are neither strings nor numbers.
/// Numbers, integers included, are written as IEEE-754 doubles in ECMAScript's shortest form, as
/// RFC 8785 requires, so integers outside ±2^53 lose precision: Pledge never writes such
/// integers. A `serde_json::Value` cannot hold a NaN or an infinity; a float field of a struct
/// that holds one is written `null`, as `serde_json` writes it.
///
/// The bytes are those of the `serde_json_canonicalizer` crate, which Pledge used before (a
/// property test compares the two on arbitrary values and on every kind of event): this
/// encoder writes into one buffer and reorders an object's members in place, where that crate
/// allocates for every write and parses every member name again. Events are encoded on every
/// append and re-encoded twice by every verification: the old encoder took over a quarter of
/// `pledge verify`'s CPU, and this one cut that CPU by an eighth (`docs/PERFORMANCE.md`).
///
/// # Examples
///
/// ```
/// let v = serde_json::json!({"b": 1.0, "a": [true, null, "x"], "\u{e000}": 0, "\u{10000}": 1});
/// assert_eq!(
///     ledger::canonical::to_vec(&v).unwrap(),
///     "{\"a\":[true,null,\"x\"],\"b\":1,\"\u{10000}\":1,\"\u{e000}\":0}".as_bytes()
/// );
/// ```
pub fn to_vec<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = Vec::with_capacity(256);
    let mut ser = serde_json::Serializer::with_formatter(
        std::io::sink(),
        Jcs { out: &mut out, objects: Vec::new(), members: Vec::new(), scratch: Vec::new() },
    );
    value.serialize(&mut ser)?;
    drop(ser);
    if out == b"null" && value.serialize(NonFinite)? {
        return Err(serde::ser::Error::custom("NaN and +/-Infinity are not permitted in JSON"));
    }
    Ok(out)
}

/// Whether a value written `null` is a float that is not finite (refused at the top level, where
/// `serde_json_canonicalizer` refused it; inside a struct `serde_json` writes it `null`).
struct NonFinite;

macro_rules! not_a_float {
    ($($method:ident($($arg:ty),*);)*) => {
        $(fn $method(self, $(_: $arg),*) -> Result<bool, serde_json::Error> { Ok(false) })*
    };
}

impl Serializer for NonFinite {
    type Ok = bool;
    type Error = serde_json::Error;
    type SerializeSeq = serde::ser::Impossible<bool, serde_json::Error>;
    type SerializeTuple = serde::ser::Impossible<bool, serde_json::Error>;
    type SerializeTupleStruct = serde::ser::Impossible<bool, serde_json::Error>;
    type SerializeTupleVariant = serde::ser::Impossible<bool, serde_json::Error>;
    type SerializeMap = serde::ser::Impossible<bool, serde_json::Error>;
    type SerializeStruct = serde::ser::Impossible<bool, serde_json::Error>;
    type SerializeStructVariant = serde::ser::Impossible<bool, serde_json::Error>;

    fn serialize_f32(self, v: f32) -> Result<bool, serde_json::Error> {
        Ok(!v.is_finite())
    }
    fn serialize_f64(self, v: f64) -> Result<bool, serde_json::Error> {
        Ok(!v.is_finite())
    }
    not_a_float! {
        serialize_bool(bool); serialize_i8(i8); serialize_i16(i16); serialize_i32(i32);
        serialize_i64(i64); serialize_u8(u8); serialize_u16(u16); serialize_u32(u32);
        serialize_u64(u64); serialize_char(char); serialize_str(&str); serialize_bytes(&[u8]);
        serialize_none(); serialize_unit(); serialize_unit_struct(&'static str);
        serialize_unit_variant(&'static str, u32, &'static str);
    }
    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<bool, serde_json::Error> {
        Ok(false)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: &T,
    ) -> Result<bool, serde_json::Error> {
        Ok(false)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<bool, serde_json::Error> {
        Ok(false)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, serde_json::Error> {
        Err(serde::ser::Error::custom("not written null"))
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, serde_json::Error> {
        Err(serde::ser::Error::custom("not written null"))
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, serde_json::Error> {
        Err(serde::ser::Error::custom("not written null"))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, serde_json::Error> {
        Err(serde::ser::Error::custom("not written null"))
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, serde_json::Error> {
        Err(serde::ser::Error::custom("not written null"))
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct, serde_json::Error> {
        Err(serde::ser::Error::custom("not written null"))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, serde_json::Error> {
        Err(serde::ser::Error::custom("not written null"))
    }
}

/// A `serde_json` formatter writing RFC 8785 into `out` (the writer `serde_json` passes is a
/// sink). An object's members are written where they come, each recorded as the range of its
/// quoted name and the end of its value; when the object ends, the members are put in the order
/// of their names' UTF-16 code units and the separators written.
struct Jcs<'a> {
    out: &'a mut Vec<u8>,
    /// For each open object: where its members start in `out`, and where its entries in
    /// `members` start.
    objects: Vec<(usize, usize)>,
    /// `(name start, name end, value end)` of the members of the open objects, innermost last.
    members: Vec<(usize, usize, usize)>,
    /// The members of the object being closed, copied out to be written back in order.
    scratch: Vec<u8>,
}

impl Jcs<'_> {
    fn number(&mut self, value: f64) -> std::io::Result<()> {
        let mut buffer = ryu_js::Buffer::new();
        self.out.extend_from_slice(buffer.format_finite(value).as_bytes());
        Ok(())
    }
}

/// A member name as written (with its quotes), read back to the string it spells.
fn member_name(quoted: &[u8]) -> std::io::Result<std::borrow::Cow<'_, str>> {
    let inner = &quoted[1..quoted.len() - 1];
    if !inner.contains(&b'\\') {
        return std::str::from_utf8(inner)
            .map(std::borrow::Cow::Borrowed)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e));
    }
    serde_json::from_slice::<String>(quoted).map(std::borrow::Cow::Owned).map_err(std::io::Error::other)
}

/// RFC 8785's member order: by UTF-16 code units (which differs from UTF-8 byte order only
/// when one name has a character from U+E000 to U+FFFF where the other has one beyond U+FFFF).
fn utf16_order(a: &str, b: &str) -> std::cmp::Ordering {
    if a.is_ascii() && b.is_ascii() {
        return a.cmp(b);
    }
    a.encode_utf16().cmp(b.encode_utf16())
}

type IoResult = std::io::Result<()>;

impl serde_json::ser::Formatter for Jcs<'_> {
    fn write_null<W: ?Sized + std::io::Write>(&mut self, _: &mut W) -> IoResult {
        self.out.extend_from_slice(b"null");
        Ok(())
    }
    fn write_bool<W: ?Sized + std::io::Write>(&mut self, _: &mut W, value: bool) -> IoResult {
        self.out.extend_from_slice(if value { b"true" } else { b"false" });
        Ok(())
    }
    fn write_i8<W: ?Sized + std::io::Write>(&mut self, _: &mut W, value: i8) -> IoResult {
        self.number(f64::from(value))
    }
    fn write_i16<W: ?Sized + std::io::Write>(&mut self, _: &mut W, value: i16) -> IoResult {
        self.number(f64::from(value))
    }
    fn write_i32<W: ?Sized + std::io::Write>(&mut self, _: &mut W, value: i32) -> IoResult {
        self.number(f64::from(value))
    }
    fn write_i64<W: ?Sized + std::io::Write>(&mut self, _: &mut W, value: i64) -> IoResult {
        self.number(value as f64)
    }
    fn write_i128<W: ?Sized + std::io::Write>(&mut self, _: &mut W, value: i128) -> IoResult {
        self.number(value as f64)
    }
    fn write_u8<W: ?Sized + std::io::Write>(&mut self, _: &mut W, value: u8) -> IoResult {
        self.number(f64::from(value))
    }
    fn write_u16<W: ?Sized + std::io::Write>(&mut self, _: &mut W, value: u16) -> IoResult {
        self.number(f64::from(value))
    }
    fn write_u32<W: ?Sized + std::io::Write>(&mut self, _: &mut W, value: u32) -> IoResult {
        self.number(f64::from(value))
    }
    fn write_u64<W: ?Sized + std::io::Write>(&mut self, _: &mut W, value: u64) -> IoResult {
        self.number(value as f64)
    }
    fn write_u128<W: ?Sized + std::io::Write>(&mut self, _: &mut W, value: u128) -> IoResult {
        self.number(value as f64)
    }
    fn write_f32<W: ?Sized + std::io::Write>(&mut self, _: &mut W, value: f32) -> IoResult {
        self.number(f64::from(value))
    }
    fn write_f64<W: ?Sized + std::io::Write>(&mut self, _: &mut W, value: f64) -> IoResult {
        self.number(value)
    }
    fn write_number_str<W: ?Sized + std::io::Write>(&mut self, _: &mut W, value: &str) -> IoResult {
        let number: f64 = value
            .parse()
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "Cannot parse str to f64"))?;
        self.number(number)
    }
    fn begin_string<W: ?Sized + std::io::Write>(&mut self, _: &mut W) -> IoResult {
        self.out.push(b'"');
        Ok(())
    }
    fn end_string<W: ?Sized + std::io::Write>(&mut self, _: &mut W) -> IoResult {
        self.out.push(b'"');
        Ok(())
    }
    fn write_string_fragment<W: ?Sized + std::io::Write>(&mut self, _: &mut W, fragment: &str) -> IoResult {
        self.out.extend_from_slice(fragment.as_bytes());
        Ok(())
    }
    fn write_char_escape<W: ?Sized + std::io::Write>(
        &mut self,
        _: &mut W,
        escape: serde_json::ser::CharEscape,
    ) -> IoResult {
        use serde_json::ser::CharEscape::*;
        let s: &[u8] = match escape {
            Quote => b"\\\"",
            ReverseSolidus => b"\\\\",
            Solidus => b"/",
            Backspace => b"\\b",
            FormFeed => b"\\f",
            LineFeed => b"\\n",
            CarriageReturn => b"\\r",
            Tab => b"\\t",
            AsciiControl(byte) => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                self.out.extend_from_slice(&[
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[usize::from(byte >> 4)],
                    HEX[usize::from(byte & 0xF)],
                ]);
                return Ok(());
            }
        };
        self.out.extend_from_slice(s);
        Ok(())
    }
    fn begin_array<W: ?Sized + std::io::Write>(&mut self, _: &mut W) -> IoResult {
        self.out.push(b'[');
        Ok(())
    }
    fn end_array<W: ?Sized + std::io::Write>(&mut self, _: &mut W) -> IoResult {
        self.out.push(b']');
        Ok(())
    }
    fn begin_array_value<W: ?Sized + std::io::Write>(&mut self, _: &mut W, first: bool) -> IoResult {
        if !first {
            self.out.push(b',');
        }
        Ok(())
    }
    fn end_array_value<W: ?Sized + std::io::Write>(&mut self, _: &mut W) -> IoResult {
        Ok(())
    }
    fn begin_object<W: ?Sized + std::io::Write>(&mut self, _: &mut W) -> IoResult {
        self.objects.push((self.out.len(), self.members.len()));
        Ok(())
    }
    fn begin_object_key<W: ?Sized + std::io::Write>(&mut self, _: &mut W, _first: bool) -> IoResult {
        self.members.push((self.out.len(), 0, 0));
        Ok(())
    }
    fn end_object_key<W: ?Sized + std::io::Write>(&mut self, _: &mut W) -> IoResult {
        let len = self.out.len();
        if let Some(m) = self.members.last_mut() {
            m.1 = len;
        }
        Ok(())
    }
    fn begin_object_value<W: ?Sized + std::io::Write>(&mut self, _: &mut W) -> IoResult {
        Ok(())
    }
    fn end_object_value<W: ?Sized + std::io::Write>(&mut self, _: &mut W) -> IoResult {
        let len = self.out.len();
        if let Some(m) = self.members.last_mut() {
            m.2 = len;
        }
        Ok(())
    }
    fn end_object<W: ?Sized + std::io::Write>(&mut self, _: &mut W) -> IoResult {
        let (start, first) = self.objects.pop().ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidData, "end_object called before begin_object")
        })?;
        let members = self.members.split_off(first);
        // Copy the members out, then write them back in order, with their separators.
        self.scratch.clear();
        self.scratch.extend_from_slice(&self.out[start..]);
        self.out.truncate(start);
        let at = |p: usize| p - start;
        let mut named = Vec::with_capacity(members.len());
        for &(name, value, end) in &members {
            named.push((member_name(&self.scratch[at(name)..at(value)])?, at(name), at(value), at(end)));
        }
        let sorted = named.windows(2).all(|w| utf16_order(&w[0].0, &w[1].0).is_lt());
        if !sorted {
            named.sort_by(|a, b| utf16_order(&a.0, &b.0));
            if named.windows(2).any(|w| w[0].0 == w[1].0) {
                return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "duplicate object key"));
            }
        }
        self.out.push(b'{');
        for (i, (_, name, value, end)) in named.iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            self.out.extend_from_slice(&self.scratch[*name..*value]);
            self.out.push(b':');
            self.out.extend_from_slice(&self.scratch[*value..*end]);
        }
        self.out.push(b'}');
        Ok(())
    }
    fn write_raw_fragment<W: ?Sized + std::io::Write>(&mut self, _: &mut W, _: &str) -> IoResult {
        Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "Raw values are not supported for JCS serialization",
        ))
    }
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
        // Names borrowed from the input where they hold no escape, compared in a list while
        // the object is small (most are): a signed command is checked once per event by
        // verification, and allocating each name was a tenth of what checking cost.
        let mut few: Vec<Cow<'de, str>> = Vec::new();
        let mut many: HashSet<Cow<'de, str>> = HashSet::new();
        while let Some(MemberName(name)) = map.next_key()? {
            let small = many.is_empty() && few.len() < 16;
            if !small {
                many.extend(few.drain(..));
            }
            if (small && few.contains(&name)) || many.contains(&name) {
                return Err(serde::de::Error::custom(format!(
                    "the member `{name}` appears twice in one object"
                )));
            }
            if small {
                few.push(name);
            } else {
                many.insert(name);
            }
            map.next_value_seed(Unambiguous)?;
        }
        Ok(())
    }
}

/// A member name, borrowed from the input unless it holds an escape.
struct MemberName<'de>(Cow<'de, str>);

impl<'de> serde::Deserialize<'de> for MemberName<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(MemberNameVisitor)
    }
}

struct MemberNameVisitor;

impl<'de> serde::de::Visitor<'de> for MemberNameVisitor {
    type Value = MemberName<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a member name")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<MemberName<'de>, E> {
        Ok(MemberName(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<MemberName<'de>, E> {
        Ok(MemberName(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<MemberName<'de>, E> {
        Ok(MemberName(Cow::Owned(v)))
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
