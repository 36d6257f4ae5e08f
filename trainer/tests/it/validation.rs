//! Validation: one test per error kind; each names the column and the rows. Given a bad file,
//! when it is loaded, then the error says what and where.

use serde_json::json;
use trainer::TrainError;

use crate::support::{csv, spec_json};

fn spec() -> trainer::DatasetSpec {
    spec_json(json!({
        "name": "t",
        "target": {"column": "y", "positive": "yes"},
        "features": [{"column": "x", "type": "numeric"}, {"column": "c", "type": "categorical"}]
    }))
}

fn err(text: &str) -> String {
    csv(text, &spec()).unwrap_err().to_string()
}

#[test]
fn missing_columns_are_all_named() {
    let e = err("y,z\nyes,1\nno,2\n");
    assert_eq!(e, "missing columns: `x`, `c`");
}

#[test]
fn a_numeric_column_of_text_is_the_wrong_type() {
    let e = err("y,x,c\nyes,a,k\nno,b,k\n");
    assert!(e.contains("column `x` is declared numeric but holds text (e.g. row 1: \"a\")"), "{e}");
}

#[test]
fn unparseable_numbers_name_their_rows() {
    let e = err("y,x,c\nyes,1,k\nno,2x,k\nyes,3,k\nno,4..1,k\n");
    assert!(e.contains("column `x`: rows 2, 4 cannot be read as numbers (e.g. \"2x\")"), "{e}");
}

#[test]
fn nan_and_infinity_are_refused() {
    let e = err("y,x,c\nyes,1,k\nno,NaN,k\nyes,inf,k\n");
    assert!(e.contains("column `x`: rows 2, 3 are not finite"), "{e}");
}

#[test]
fn an_empty_target_cell_names_its_row() {
    let e = err("y,x,c\nyes,1,k\n,2,k\nno,3,k\n");
    assert!(e.contains("target `y` is empty in row 2"), "{e}");
}

#[test]
fn a_single_class_target_is_refused() {
    let e = err("y,x,c\nyes,1,k\nyes,2,k\n");
    assert!(e.contains("target `y` has a single class (\"yes\") in the file"), "{e}");
}

#[test]
fn a_third_label_names_its_rows() {
    let e = err("y,x,c\nyes,1,k\nno,2,k\nmaybe,3,k\n");
    assert!(e.contains("holds \"maybe\" in row 3"), "{e}");
}

#[test]
fn an_all_empty_feature_is_refused() {
    let e = err("y,x,c\nyes,1,\nno,2,\n");
    assert_eq!(e, "feature `c` is empty in every row; drop it from the spec");
}

#[test]
fn empty_cells_under_refuse_name_the_rows_and_the_way_out() {
    let e = err("y,x,c\nyes,1,k\nno,,k\nyes,3,k\nno,,m\n");
    assert!(e.contains("column `x` is empty in rows 2, 4"), "{e}");
    assert!(e.contains("\"drop_rows\""), "{e}");
}

#[test]
fn many_offending_rows_are_summarised() {
    let mut text = "y,x,c\n".to_string();
    for i in 0..20 {
        text.push_str(&format!(
            "{},{},k\n",
            if i % 2 == 0 { "yes" } else { "no" },
            if i >= 3 { "?" } else { "1" }
        ));
    }
    let e = err(&text);
    assert!(e.contains("rows 4, 5, 6, 7, 8 and 12 more"), "{e}");
}

#[test]
fn unknown_spec_keys_and_bad_settings_are_refused() {
    let e = trainer::DatasetSpec::from_json(r#"{"name":"t","target":{"column":"y","positive":"1"},"features":[{"column":"x","type":"numeric"}],"segmnet":"s"}"#)
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown field `segmnet`"), "{e}");
    let e = trainer::DatasetSpec::from_json(
        r#"{"name":"t","target":{"column":"y","positive":"1"},"features":[{"column":"x","type":"text"}]}"#,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("unknown variant `text`"), "{e}");
}

#[test]
fn a_time_value_outside_the_declared_order_is_named() {
    let s = spec_json(json!({
        "name": "t", "target": {"column": "y", "positive": "yes"},
        "features": [{"column": "x", "type": "numeric"}],
        "time": {"column": "m", "order": ["Jan", "Feb"]}
    }));
    let e = csv("y,x,m\nyes,1,Jan\nno,2,Feb\nyes,3,Mar\n", &s).unwrap_err().to_string();
    assert!(e.contains("time column `m` holds \"Mar\" in row 3"), "{e}");
}

#[test]
fn the_leakage_guard_refuses_a_copy_of_the_target() {
    let s = spec_json(json!({
        "name": "t", "target": {"column": "y", "positive": "yes"},
        "features": [{"column": "x", "type": "numeric"}, {"column": "y_copy", "type": "categorical"}]
    }));
    let mut text = "y,x,y_copy\n".to_string();
    for i in 0..40 {
        let y = if i % 3 == 0 { "yes" } else { "no" };
        text.push_str(&format!("{y},{},{y}\n", i % 7));
    }
    let table = csv(&text, &s).unwrap();
    let e =
        trainer::train(&s, &Default::default(), &table, "blake3:00", &trainer::progress::Progress::hidden())
            .unwrap_err();
    assert!(matches!(e, TrainError::Leakage { .. }));
    let e = e.to_string();
    assert!(e.contains("leakage guard: `y_copy` alone separates the classes perfectly"), "{e}");
    // The target itself as a feature is refused by the spec check.
    let e = trainer::DatasetSpec::from_json(
        &json!({"name": "t", "target": {"column": "y", "positive": "yes"}, "features": [{"column": "y", "type": "numeric"}]})
            .to_string(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("`y` is the target itself"), "{e}");
}

#[test]
fn the_leakage_guard_refuses_routing_on_a_target_derived_column() {
    let s = spec_json(json!({
        "name": "t", "target": {"column": "y", "positive": "yes"},
        "features": [{"column": "x", "type": "numeric"}],
        "segment": "price_tier", "target_derived": ["price_tier"]
    }));
    let table = csv("y,x,price_tier\nyes,1,a\nno,2,b\nyes,3,b\nno,1,a\n", &s).unwrap();
    let e =
        trainer::train(&s, &Default::default(), &table, "blake3:00", &trainer::progress::Progress::hidden())
            .unwrap_err()
            .to_string();
    assert!(e.contains("`price_tier` is declared target-derived") && e.contains("segment column"), "{e}");
}

#[test]
fn a_numeric_feature_that_separates_the_classes_is_refused() {
    let s = spec_json(json!({
        "name": "t", "target": {"column": "y", "positive": "yes"},
        "features": [{"column": "x", "type": "numeric"}, {"column": "c", "type": "categorical"}]
    }));
    let mut text = "y,x,c\n".to_string();
    for i in 0..40 {
        text.push_str(&format!("{},{i},{}\n", if i >= 20 { "yes" } else { "no" }, i % 3));
    }
    let table = csv(&text, &s).unwrap();
    let e =
        trainer::train(&s, &Default::default(), &table, "blake3:00", &trainer::progress::Progress::hidden())
            .unwrap_err()
            .to_string();
    assert!(e.contains("`x` alone separates the classes perfectly"), "{e}");
}
