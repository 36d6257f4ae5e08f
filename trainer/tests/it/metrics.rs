//! Metrics against hand-computed values (and scikit-learn's, quoted where they were checked).

use trainer::metrics::{average_precision, ece, roc_auc, ClassMetrics};

fn close(a: f64, b: f64) {
    assert!((a - b).abs() < 1e-12, "{a} != {b}");
}

#[test]
fn roc_auc_without_ties_counts_ordered_pairs() {
    // Pairs (pos, neg): 0.8>0.1, 0.8>0.4, 0.35<0.4, 0.35>0.1: 3 of 4 ordered.
    let y = [false, false, true, true];
    let p = [0.1, 0.4, 0.35, 0.8];
    close(roc_auc(&y, &p), 0.75); // sklearn.metrics.classification().unwrap().roc_auc_score: 0.75
}

#[test]
fn roc_auc_counts_a_tie_as_one_half() {
    // pos 0.5 ties neg 0.5 (1/2), pos 0.5 > neg 0.2 (1), pos 0.9 beats both (2): 3.5 / 4.
    let y = [false, false, true, true];
    let p = [0.2, 0.5, 0.5, 0.9];
    close(roc_auc(&y, &p), 0.875); // sklearn: 0.875
                                   // All scores equal: chance.
    close(roc_auc(&[true, false, true], &[0.3, 0.3, 0.3]), 0.5);
}

#[test]
fn average_precision_is_stepwise_over_distinct_thresholds() {
    // sklearn's docstring example: average_precision_score([0,0,1,1], [0.1,0.4,0.35,0.8]) = 0.8333...
    let y = [false, false, true, true];
    let p = [0.1, 0.4, 0.35, 0.8];
    close(average_precision(&y, &p), 0.5 * 1.0 + 0.5 * (2.0 / 3.0));
    // A tie at the top: one threshold with precision 1/2 at recall 1.
    close(average_precision(&[true, false], &[0.7, 0.7]), 0.5);
}

#[test]
fn log_loss_brier_accuracy_by_hand() {
    let y = [true, false, true, false];
    let p = [0.9, 0.2, 0.4, 0.5];
    let m = ClassMetrics::compute(&y, &p).unwrap();
    let ll = -((0.9f64).ln() + (0.8f64).ln() + (0.4f64).ln() + (0.5f64).ln()) / 4.0;
    close(m.log_loss, ll);
    close(m.brier, (0.01 + 0.04 + 0.36 + 0.25) / 4.0);
    // p > 0.5 is positive: 0.9 right, 0.2 right, 0.4 wrong, 0.5 (not > 0.5) right.
    close(m.accuracy, 0.75);
    close(m.positive_rate, 0.5);
    close(m.predicted_positive_rate, 0.25);
    assert_eq!((m.rows, m.positives), (4, 2));
}

#[test]
fn log_loss_clips_certain_mistakes() {
    let m = ClassMetrics::compute(&[true, false], &[0.0, 1.0]).unwrap();
    close(m.log_loss, -(f64::EPSILON.ln()));
    assert!(m.log_loss.is_finite());
}

#[test]
fn ece_bins_are_closed_on_the_right() {
    // 0.1 falls in bin 0 with 0.05 (right-closed), 0.15 in bin 1.
    let y = [false, true, true];
    let p = [0.05, 0.1, 0.15];
    // bin 0: mean p 0.075, mean y 0.5 -> |0.425| * 2/3; bin 1: |1 - 0.15| * 1/3.
    close(ece(&y, &p), 0.425 * 2.0 / 3.0 + 0.85 / 3.0);
    // Perfectly calibrated in each bin.
    close(ece(&[true, false], &[0.5, 0.5]), 0.0);
}

#[test]
fn single_class_windows_leave_the_aucs_out() {
    let m = ClassMetrics::compute(&[true, true, true], &[0.2, 0.6, 0.9]).unwrap();
    assert_eq!((m.roc_auc, m.pr_auc), (None, None));
    let map = m.to_map();
    assert!(!map.contains_key("roc_auc") && !map.contains_key("pr_auc"));
    assert!(map.values().all(|v| v.is_finite()));
    close(m.accuracy, 2.0 / 3.0);
    assert!(ClassMetrics::compute(&[], &[]).is_none());
}
