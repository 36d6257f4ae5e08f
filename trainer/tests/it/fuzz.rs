//! Schema-led fuzzing: valid but extreme tables never panic; they train or fail clearly.

use proptest::prelude::*;
use serde_json::json;
use trainer::progress::Progress;
use trainer::spec::{Strategy as Strat, TrainParams};

use crate::support::{csv, spec_json};

fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        (-1000i64..1000).prop_map(|i| i.to_string()),
        Just("1e300".to_string()),
        Just("-1e300".to_string()),
        Just("1e-300".to_string()),
        Just("0".to_string()),
        (-1.0e6f64..1.0e6).prop_map(|x| format!("{x}")),
        Just("1.7976931348623157e308".to_string()),
    ]
}

fn row() -> impl Strategy<Value = (bool, String, String, u8, u8)> {
    (any::<bool>(), number(), number(), 0u8..6, 0u8..3)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn extreme_tables_train_or_fail_clearly(
        rows in prop::collection::vec(row(), 2..80),
        constant in any::<bool>(),
        one_segment in any::<bool>(),
        segmented in any::<bool>(),
        timed in any::<bool>(),
    ) {
        let mut spec = json!({
            "name": "fuzz",
            "target": {"column": "y", "positive": "1", "negative": "0"},
            "features": [
                {"column": "a", "type": "numeric"},
                {"column": "b", "type": "numeric"},
                {"column": "k", "type": "categorical"}
            ],
            "segment": "s"
        });
        if timed {
            spec["time"] = json!({"column": "t"});
        }
        let spec = spec_json(spec);
        let mut text = "y,a,b,k,s,t\n".to_string();
        for (i, (y, a, b, k, s)) in rows.iter().enumerate() {
            let b = if constant { "7" } else { b.as_str() };
            // rare categories: `k` is mostly "common", sometimes one of five rare values
            let k = if *k == 0 { format!("rare{}", i % 5) } else { "common".to_string() };
            let s = if one_segment { 0 } else { *s };
            text.push_str(&format!("{},{a},{b},{k},seg{s},{}\n", u8::from(*y), i % 4));
        }
        let params = TrainParams {
            strategy: if segmented { Strat::SegmentedRouter } else { Strat::Global },
            min_segment_rows: 5,
            max_iterations: 30,
            ..Default::default()
        };
        match csv(&text, &spec) {
            Err(e) => prop_assert!(!e.to_string().is_empty()),
            Ok(table) => match trainer::train(&spec, &params, &table, "blake3:00", &Progress::hidden()) {
                Err(e) => prop_assert!(!e.to_string().is_empty()),
                Ok(out) => {
                    prop_assert!(out.metrics.classification().unwrap().log_loss.is_finite());
                    prop_assert!(out.metrics.classification().unwrap().brier.is_finite());
                    for a in out.candidate.artifacts() {
                        prop_assert!(a.model.coefficients().1.iter().all(|c| c.is_finite()));
                    }
                }
            },
        }
    }
}
