//! [`Metrics`]: metric name -> value, the one map every run, version, backtest window and
//! shadow window carries.
//!
//! It is written and read exactly as a JSON object of numbers (the same bytes, schema and
//! MessagePack as a `BTreeMap<String, f64>`), but held as one sorted vector of inline
//! strings: a million-event ledger's state holds over a million of these maps, and a
//! `BTreeMap` of three entries costs four allocations and about 430 bytes where this costs one
//! and 120 (`docs/PERFORMANCE.md`).

use std::fmt;

use compact_str::CompactString;
use schemars::JsonSchema;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};

/// Metric name -> value, in order of name (byte order, as a `BTreeMap<String, f64>`), each
/// name once. Finite values only: the append path refuses NaN and infinities, and JSON has
/// neither.
#[derive(Clone, Default, PartialEq)]
pub struct Metrics(Vec<(CompactString, f64)>);

impl Metrics {
    /// No metrics.
    pub const fn new() -> Metrics {
        Metrics(Vec::new())
    }

    fn find(&self, name: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(n, _)| n.as_str().cmp(name))
    }

    /// The value of `name`.
    pub fn get(&self, name: impl AsRef<str>) -> Option<&f64> {
        self.find(name.as_ref()).ok().map(|i| &self.0[i].1)
    }

    /// Whether `name` has a value.
    pub fn contains_key(&self, name: impl AsRef<str>) -> bool {
        self.find(name.as_ref()).is_ok()
    }

    /// Sets `name` to `value`, returning the value it replaced.
    pub fn insert(&mut self, name: impl AsRef<str>, value: f64) -> Option<f64> {
        let name = name.as_ref();
        match self.find(name) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i].1, value)),
            Err(i) => {
                self.0.insert(i, (CompactString::from(name), value));
                None
            }
        }
    }

    /// Removes `name`, returning its value.
    pub fn remove(&mut self, name: impl AsRef<str>) -> Option<f64> {
        self.find(name.as_ref()).ok().map(|i| self.0.remove(i).1)
    }

    /// The metrics in order of name.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&str, &f64)> + ExactSizeIterator + Clone {
        self.0.iter().map(|(n, v)| (n.as_str(), v))
    }

    /// The names, in order.
    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &str> + ExactSizeIterator + Clone {
        self.0.iter().map(|(n, _)| n.as_str())
    }

    /// The values, in order of name.
    pub fn values(&self) -> impl DoubleEndedIterator<Item = &f64> + ExactSizeIterator + Clone {
        self.0.iter().map(|(_, v)| v)
    }

    /// How many metrics.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// No metrics at all.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<'a> IntoIterator for &'a Metrics {
    type Item = (&'a str, &'a f64);
    type IntoIter =
        std::iter::Map<std::slice::Iter<'a, (CompactString, f64)>, fn(&(CompactString, f64)) -> (&str, &f64)>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(n, v)| (n.as_str(), v))
    }
}

/// Later values of a name replace earlier ones, as inserting them one by one would.
impl<K: AsRef<str>> FromIterator<(K, f64)> for Metrics {
    fn from_iter<I: IntoIterator<Item = (K, f64)>>(iter: I) -> Metrics {
        let mut out = Metrics::new();
        out.extend(iter);
        out
    }
}

impl<K: AsRef<str>> Extend<(K, f64)> for Metrics {
    fn extend<I: IntoIterator<Item = (K, f64)>>(&mut self, iter: I) {
        for (k, v) in iter {
            self.insert(k, v);
        }
    }
}

impl<K: AsRef<str>, const N: usize> From<[(K, f64); N]> for Metrics {
    fn from(pairs: [(K, f64); N]) -> Metrics {
        pairs.into_iter().collect()
    }
}

impl From<std::collections::BTreeMap<String, f64>> for Metrics {
    fn from(map: std::collections::BTreeMap<String, f64>) -> Metrics {
        // Already in order and unique.
        Metrics(map.into_iter().map(|(k, v)| (CompactString::from(k), v)).collect())
    }
}

impl From<&Metrics> for std::collections::BTreeMap<String, f64> {
    fn from(m: &Metrics) -> Self {
        m.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }
}

impl Serialize for Metrics {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k.as_str(), v)?;
        }
        map.end()
    }
}

/// Reads an object of numbers; a name given twice is an error (a `BTreeMap` would keep the
/// last one silently).
impl<'de> Deserialize<'de> for Metrics {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Metrics, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Metrics;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of metric names to numbers")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Metrics, A::Error> {
                let mut out: Vec<(CompactString, f64)> =
                    Vec::with_capacity(access.size_hint().unwrap_or(0).min(64));
                let mut sorted = true;
                while let Some((k, v)) = access.next_entry::<CompactString, f64>()? {
                    if let Some((last, _)) = out.last() {
                        sorted &= last.as_str() < k.as_str();
                    }
                    out.push((k, v));
                }
                if !sorted {
                    out.sort_by(|a, b| a.0.cmp(&b.0));
                    if let Some(w) = out.windows(2).find(|w| w[0].0 == w[1].0) {
                        return Err(serde::de::Error::custom(format_args!("duplicate metric `{}`", w[0].0)));
                    }
                }
                Ok(Metrics(out))
            }
        }
        d.deserialize_map(V)
    }
}

impl JsonSchema for Metrics {
    fn inline_schema() -> bool {
        <std::collections::BTreeMap<String, f64>>::inline_schema()
    }
    fn schema_name() -> std::borrow::Cow<'static, str> {
        <std::collections::BTreeMap<String, f64>>::schema_name()
    }
    fn schema_id() -> std::borrow::Cow<'static, str> {
        <std::collections::BTreeMap<String, f64>>::schema_id()
    }
    fn json_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
        <std::collections::BTreeMap<String, f64>>::json_schema(g)
    }
}

/// `metrics["mae"]`: the value of a name that must be there (panics otherwise, as a map's
/// index does).
impl std::ops::Index<&str> for Metrics {
    type Output = f64;
    fn index(&self, name: &str) -> &f64 {
        self.get(name).unwrap_or_else(|| panic!("no metric `{name}`"))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::Metrics;

    fn names() -> impl Strategy<Value = String> {
        // Short and long names (inline and on the heap), names that are prefixes of each
        // other, and names outside ASCII, whose byte order is the map's order.
        prop_oneof!["[a-z_]{0,6}", "[a-z]{20,40}", "(mae|mape|ma|m|é|éa|\u{10000}|\u{e000})",]
    }

    proptest! {
        /// Inserting, reading, writing and reading back behave exactly as a `BTreeMap<String,
        /// f64>` does: the same values, the same order, the same JSON and MessagePack bytes.
        #[test]
        fn behaves_as_a_btreemap(ops in proptest::collection::vec((names(), -1e6f64..1e6, any::<bool>()), 0..40)) {
            let (mut ours, mut theirs) = (Metrics::new(), BTreeMap::<String, f64>::new());
            for (k, v, remove) in &ops {
                if *remove {
                    prop_assert_eq!(ours.remove(k), theirs.remove(k));
                } else {
                    prop_assert_eq!(ours.insert(k, *v), theirs.insert(k.clone(), *v));
                }
            }
            prop_assert_eq!(ours.len(), theirs.len());
            prop_assert!(ours.iter().eq(theirs.iter().map(|(k, v)| (k.as_str(), v))));
            for (k, _, _) in &ops {
                prop_assert_eq!(ours.get(k), theirs.get(k));
            }
            prop_assert_eq!(serde_json::to_string(&ours).unwrap(), serde_json::to_string(&theirs).unwrap());
            prop_assert_eq!(rmp_serde::to_vec_named(&ours).unwrap(), rmp_serde::to_vec_named(&theirs).unwrap());
            let back: Metrics = serde_json::from_str(&serde_json::to_string(&theirs).unwrap()).unwrap();
            prop_assert_eq!(&back, &ours);
            let back: Metrics = rmp_serde::from_slice(&rmp_serde::to_vec_named(&theirs).unwrap()).unwrap();
            prop_assert_eq!(&back, &ours);
            prop_assert_eq!(Metrics::from(theirs.clone()), ours.clone());
            prop_assert_eq!(BTreeMap::from(&ours), theirs);
        }
    }

    #[test]
    fn reads_an_object_in_any_order_and_refuses_a_name_twice() {
        let m: Metrics = serde_json::from_str(r#"{"mape": 0.2, "coverage": 0.9, "mae": 12.5}"#).unwrap();
        assert_eq!(m.keys().collect::<Vec<_>>(), ["coverage", "mae", "mape"]);
        assert_eq!(m["mae"], 12.5);
        let err = serde_json::from_str::<Metrics>(r#"{"mae": 1.0, "mape": 0.2, "mae": 2.0}"#).unwrap_err();
        assert!(err.to_string().contains("duplicate metric `mae`"), "{err}");
        let err = serde_json::from_str::<Metrics>(r#"{"mae": "12"}"#).unwrap_err();
        assert!(err.to_string().contains("invalid type"), "{err}");
        let err = serde_json::from_str::<Metrics>("[1.0]").unwrap_err();
        assert!(err.to_string().contains("an object of metric names to numbers"), "{err}");
    }

    #[test]
    fn its_schema_is_the_maps() {
        assert_eq!(schemars::schema_for!(Metrics), schemars::schema_for!(BTreeMap<String, f64>));
    }
}
