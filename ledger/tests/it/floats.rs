//! Floats in payloads round-trip exactly through canonical JSON.

use proptest::prelude::*;
use serde_json::json;

proptest! {
    #[test]
    fn finite_floats_round_trip_through_jcs(x in proptest::num::f64::NORMAL | proptest::num::f64::SUBNORMAL | proptest::num::f64::ZERO) {
        let bytes = ledger::canonical::to_vec(&json!({"x": x})).unwrap();
        let back: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        let y = back["x"].as_f64().unwrap();
        // JCS writes -0 as 0; every other value comes back bit for bit.
        if x == 0.0 { prop_assert_eq!(y, 0.0) } else { prop_assert_eq!(y.to_bits(), x.to_bits()) }
        // And canonicalising again gives the same bytes.
        prop_assert_eq!(ledger::canonical::to_vec(&back).unwrap(), bytes);
    }

    #[test]
    fn integers_up_to_2_pow_53_round_trip(n in -(1i64 << 53) + 1..(1i64 << 53)) {
        let bytes = ledger::canonical::to_vec(&json!({"n": n})).unwrap();
        let back: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        prop_assert_eq!(back["n"].as_f64().unwrap(), n as f64);
    }
}

#[test]
fn non_finite_floats_are_refused() {
    for x in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        // serde_json turns NaN into null inside `json!`, so serialise the float directly.
        assert!(ledger::canonical::to_vec(&x).is_err(), "{x} must not be encoded");
    }
}
