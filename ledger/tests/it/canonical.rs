//! The canonical encoder writes exactly the bytes `serde_json_canonicalizer` (the encoder Pledge
//! used before, kept as the oracle) writes, on arbitrary values and on typed structs, and
//! refuses what it refused.

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde::Serialize;
use serde_json::{Map, Number, Value};

/// Member names and strings that exercise escaping and RFC 8785's UTF-16 member order: control
/// characters, quotes, backslashes, the solidus, DEL, and characters on both sides of the
/// boundary where UTF-16 and UTF-8 orders differ (U+E000..U+FFFF against beyond U+FFFF).
fn text() -> impl Strategy<Value = String> {
    "[a-cA\u{0}-\u{1f}\"\\\\/\u{7f}é\u{e000}\u{fb01}\u{ffff}\u{10000}\u{1f600}]{0,5}"
}

fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-(1i64 << 53)..(1i64 << 53)).prop_map(Value::from),
        (proptest::num::f64::NORMAL
            | proptest::num::f64::SUBNORMAL
            | proptest::num::f64::ZERO
            | proptest::num::f64::NEGATIVE)
            .prop_filter_map("finite", |x| Number::from_f64(x).map(Value::Number)),
        prop::sample::select(vec![1e21, 1e-7, 1e-6, 123456789012345680000.0, 5e-324, 0.1, -0.0])
            .prop_map(Value::from),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number(),
        text().prop_map(Value::String)
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((text(), inner), 0..6)
                .prop_map(|members| Value::Object(members.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// A struct whose fields are declared out of order, with renamed and skipped members, an
/// enum, options, narrow numbers and a map with integer keys.
#[derive(Serialize, Debug)]
struct Typed {
    zeta: Option<f32>,
    #[serde(rename = "ä")]
    umlaut: u8,
    alpha: Vec<Inner>,
    #[serde(skip_serializing_if = "Option::is_none")]
    maybe: Option<String>,
    by_number: BTreeMap<i32, bool>,
    #[serde(flatten)]
    extra: BTreeMap<String, Value>,
}

#[derive(Serialize, Debug, Clone)]
#[serde(rename_all = "snake_case")]
enum Inner {
    Unit,
    Newtype(i16),
    Tuple(u32, String),
    Struct { b: i128, a: u64 },
}

fn typed() -> impl Strategy<Value = Typed> {
    let inner = prop_oneof![
        Just(Inner::Unit),
        any::<i16>().prop_map(Inner::Newtype),
        (any::<u32>(), text()).prop_map(|(n, s)| Inner::Tuple(n, s)),
        (any::<i64>(), any::<u64>()).prop_map(|(b, a)| Inner::Struct { b: i128::from(b), a }),
    ];
    (
        proptest::option::of(proptest::num::f32::NORMAL | proptest::num::f32::ZERO),
        any::<u8>(),
        prop::collection::vec(inner, 0..4),
        proptest::option::of(text()),
        prop::collection::btree_map(any::<i32>(), any::<bool>(), 0..4),
        prop::collection::btree_map("[b-z]{1,3}", value(), 0..3),
    )
        .prop_map(|(zeta, umlaut, alpha, maybe, by_number, extra)| Typed {
            zeta,
            umlaut,
            alpha,
            maybe,
            by_number,
            extra,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn values_encode_as_the_reference_encoder_encodes_them(v in value()) {
        let want = serde_json_canonicalizer::to_vec(&v).unwrap();
        prop_assert_eq!(ledger::canonical::to_vec(&v).unwrap(), want);
    }

    #[test]
    fn typed_structs_encode_as_the_reference_encoder_encodes_them(t in typed()) {
        let want = serde_json_canonicalizer::to_vec(&t);
        let got = ledger::canonical::to_vec(&t);
        match (got, want) {
            (Ok(got), Ok(want)) => prop_assert_eq!(got, want),
            (got, want) => prop_assert_eq!(got.is_ok(), want.is_ok(), "{:?} / {:?}", got.err(), want.err()),
        }
    }
}

#[test]
fn the_same_member_twice_is_refused_as_the_reference_refuses_it() {
    #[derive(Serialize)]
    struct Twice {
        a: u8,
        #[serde(flatten)]
        rest: BTreeMap<String, u8>,
    }
    let twice = Twice { a: 1, rest: BTreeMap::from([("a".to_string(), 2)]) };
    assert!(serde_json_canonicalizer::to_vec(&twice).is_err());
    let err = ledger::canonical::to_vec(&twice).unwrap_err();
    assert!(err.to_string().contains("duplicate object key"), "{err}");
    // Nested inside an array and an object.
    let nested = BTreeMap::from([("k", vec![twice])]);
    assert!(serde_json_canonicalizer::to_vec(&nested).is_err());
    assert!(ledger::canonical::to_vec(&nested).unwrap_err().to_string().contains("duplicate object key"));
}

#[test]
fn a_top_level_non_finite_float_is_refused_and_a_nested_one_is_written_as_serde_json_writes_it() {
    #[derive(Serialize)]
    struct Holder {
        x: f64,
    }
    for x in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        assert!(ledger::canonical::to_vec(&x).is_err());
        assert!(ledger::canonical::to_vec(&(x as f32)).is_err());
        assert_eq!(
            ledger::canonical::to_vec(&Holder { x }).unwrap(),
            serde_json_canonicalizer::to_vec(&Holder { x }).unwrap()
        );
    }
    // `null` that is not a float stays `null`.
    assert_eq!(ledger::canonical::to_vec(&()).unwrap(), b"null");
    assert_eq!(ledger::canonical::to_vec(&None::<f64>).unwrap(), b"null");
}

/// Writes `name` as a JSON string, every character escaped as `\uXXXX` when `escaped` (the
/// same name in another spelling).
fn json_name(name: &str, escaped: bool) -> String {
    if !escaped {
        return serde_json::to_string(name).unwrap();
    }
    let units: String = name.encode_utf16().map(|u| format!("\\u{u:04x}")).collect();
    format!("\"{units}\"")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// An object of distinct names passes `check_unambiguous`, small or large (it keeps the
    /// names in a list up to 16, in a set beyond), nested or not; the same name twice, however
    /// spelled and wherever in the object, is refused with its name.
    #[test]
    fn a_name_twice_is_found_in_objects_of_any_size(
        names in prop::collection::btree_set(text(), 1..60),
        picks in (any::<prop::sample::Index>(), any::<prop::sample::Index>()),
        escaped in any::<bool>(),
        nested in any::<bool>(),
    ) {
        let names: Vec<String> = names.into_iter().collect();
        let wrap = |members: Vec<String>| {
            let object = format!("{{{}}}", members.join(","));
            if nested { format!("[1,{{\"x\":{object}}}]") } else { object }
        };
        let members: Vec<String> =
            names.iter().enumerate().map(|(i, n)| format!("{}:{i}", json_name(n, false))).collect();
        prop_assert!(ledger::canonical::check_unambiguous(wrap(members.clone()).as_bytes()).is_ok());
        let twice = picks.0.index(names.len());
        let mut with = members;
        let at = picks.1.index(with.len() + 1);
        with.insert(at, format!("{}:null", json_name(&names[twice], escaped)));
        let err = ledger::canonical::check_unambiguous(wrap(with).as_bytes()).unwrap_err();
        prop_assert!(err.contains("appears twice"), "{}", err);
        prop_assert!(err.contains(&format!("`{}`", names[twice])), "{}", err);
    }
}
