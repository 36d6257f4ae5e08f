//! Charts as inline SVG, drawn on the server: no script, no library, readable without
//! JavaScript, and each with a text alternative (`role="img"`, `<title>`, `<desc>`) and the
//! figures as a table beside it on the page.

use maud::{html, Markup};

const W: f64 = 640.0;
const H: f64 = 220.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 36.0;

/// The most points a series draws: longer series are thinned evenly (first and last kept), so
/// a page stays small whatever the ledger holds.
pub const MAX_POINTS: usize = 240;

/// Up to this many points, each is also a dot with its value as a tooltip; beyond, the line
/// alone (the figures are in the table beside the chart).
pub const MAX_DOTS: usize = 60;

/// One line of a line chart.
pub struct Series<'a> {
    /// Legend name.
    pub name: &'a str,
    /// CSS class (its colour and dash).
    pub class: &'a str,
    /// One value per x position (`None`: a gap).
    pub values: Vec<Option<f64>>,
}

fn fmt(v: f64) -> String {
    let a = v.abs();
    if v.fract() == 0.0 && a < 1e6 {
        format!("{v:.0}")
    } else if a != 0.0 && !(0.001..1e6).contains(&a) {
        format!("{v:.2e}")
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// Indices to draw out of `n`, at most [`MAX_POINTS`].
fn thin(n: usize) -> Vec<usize> {
    if n <= MAX_POINTS {
        return (0..n).collect();
    }
    let step = (n - 1) as f64 / (MAX_POINTS - 1) as f64;
    let mut out: Vec<usize> = (0..MAX_POINTS).map(|i| (i as f64 * step).round() as usize).collect();
    out.dedup();
    out
}

/// A line chart of `series` over the x labels `labels` (one per position).
pub fn lines(title: &str, desc: &str, labels: &[String], series: &[Series<'_>]) -> Markup {
    let keep = thin(labels.len());
    let values: Vec<f64> = series
        .iter()
        .flat_map(|s| keep.iter().filter_map(|&i| s.values.get(i).copied().flatten()))
        .filter(|v| v.is_finite())
        .collect();
    let (mut lo, mut hi) =
        values.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
    if !lo.is_finite() {
        (lo, hi) = (0.0, 1.0);
    }
    if hi - lo < 1e-12 {
        let pad = if lo == 0.0 { 1.0 } else { lo.abs() * 0.05 };
        lo -= pad;
        hi += pad;
    }
    let n = keep.len().max(2) as f64;
    let x = |k: usize| LEFT + (W - LEFT - RIGHT) * k as f64 / (n - 1.0);
    let y = |v: f64| TOP + (H - TOP - BOTTOM) * (1.0 - (v - lo) / (hi - lo));
    let ticks = [lo, (lo + hi) / 2.0, hi];
    let label_every = keep.len().div_ceil(6).max(1);
    html! {
        svg.chart viewBox=(format!("0 0 {W} {H}")) role="img" aria-label=(title) {
            title { (title) }
            desc { (desc) }
            @for t in ticks {
                line.grid x1=(LEFT) x2=(W - RIGHT) y1=(format!("{:.1}", y(t))) y2=(format!("{:.1}", y(t))) {}
                text.axis x=(LEFT - 4.0) y=(format!("{:.1}", y(t) + 4.0)) text-anchor="end" { (fmt(t)) }
            }
            @for (k, &i) in keep.iter().enumerate() {
                @if k % label_every == 0 || k + 1 == keep.len() {
                    text.axis x=(format!("{:.1}", x(k))) y=(H - BOTTOM + 16.0) text-anchor="middle" {
                        (labels[i].get(..10).unwrap_or(&labels[i]))
                    }
                }
            }
            @for s in series {
                @let pts = path(&keep, &s.values, &x, &y);
                @if !pts.is_empty() {
                    path class=(format!("line {}", s.class)) d=(pts) {}
                    @for (k, &i) in keep.iter().enumerate().filter(|_| keep.len() <= MAX_DOTS) {
                        @if let Some(v) = s.values.get(i).copied().flatten().filter(|v| v.is_finite()) {
                            circle class=(format!("dot {}", s.class)) cx=(format!("{:.1}", x(k))) cy=(format!("{:.1}", y(v))) r="2.5" {
                                title { (s.name) " " (labels[i]) ": " (fmt(v)) }
                            }
                        }
                    }
                }
            }
            @for (j, s) in series.iter().enumerate() {
                @let lx = LEFT + 150.0 * j as f64;
                line class=(format!("line {}", s.class)) x1=(lx) x2=(lx + 18.0) y1=(H - 8.0) y2=(H - 8.0) {}
                text.legend x=(lx + 22.0) y=(H - 4.0) { (s.name) }
            }
        }
    }
}

fn path(keep: &[usize], values: &[Option<f64>], x: &dyn Fn(usize) -> f64, y: &dyn Fn(f64) -> f64) -> String {
    let mut d = String::new();
    let mut pen_down = false;
    for (k, &i) in keep.iter().enumerate() {
        match values.get(i).copied().flatten().filter(|v| v.is_finite()) {
            Some(v) => {
                d.push_str(&format!("{}{:.1},{:.1} ", if pen_down { "L" } else { "M" }, x(k), y(v)));
                pen_down = true;
            }
            None => pen_down = false,
        }
    }
    d
}

/// One bar of a bar chart.
pub struct Bar {
    /// Its label.
    pub label: String,
    /// Its value (negative bars extend left of zero).
    pub value: f64,
    /// Drawn as exceeding (a PSI over the threshold, a coefficient that changed sign).
    pub flagged: bool,
}

/// A horizontal bar chart; `threshold` draws a marked line (e.g. the policy's PSI limit).
pub fn bars(title: &str, desc: &str, bars: &[Bar], threshold: Option<(f64, &str)>) -> Markup {
    let bars = &bars[..bars.len().min(MAX_POINTS)];
    let row = 18.0;
    let label_w = 190.0;
    let h = TOP + row * bars.len().max(1) as f64 + 24.0;
    let (mut lo, mut hi) = bars
        .iter()
        .map(|b| b.value)
        .filter(|v| v.is_finite())
        .chain(threshold.map(|t| t.0))
        .fold((0.0f64, 0.0f64), |(a, b), v| (a.min(v), b.max(v)));
    if hi - lo < 1e-12 {
        hi = lo + 1.0;
    }
    lo = lo.min(0.0);
    hi = hi.max(0.0);
    let x = |v: f64| label_w + (W - label_w - 60.0) * (v - lo) / (hi - lo);
    html! {
        svg.chart viewBox=(format!("0 0 {W} {h}")) role="img" aria-label=(title) {
            title { (title) }
            desc { (desc) }
            line.grid x1=(format!("{:.1}", x(0.0))) x2=(format!("{:.1}", x(0.0))) y1=(TOP - 4.0) y2=(h - 20.0) {}
            @for (i, b) in bars.iter().enumerate() {
                @let top = TOP + row * i as f64;
                @let (a, z) = (x(0.0_f64.min(b.value)), x(0.0_f64.max(b.value)));
                text.axis x=(label_w - 6.0) y=(format!("{:.1}", top + 12.0)) text-anchor="end" {
                    (b.label.chars().take(30).collect::<String>())
                }
                rect class=(if b.flagged { "bar flagged" } else { "bar" }) x=(format!("{a:.1}")) y=(format!("{:.1}", top + 3.0))
                    width=(format!("{:.1}", (z - a).max(0.5))) height=(row - 6.0) {
                    title { (b.label) ": " (fmt(b.value)) }
                }
                text.axis x=(format!("{:.1}", z + 4.0)) y=(format!("{:.1}", top + 12.0)) { (fmt(b.value)) }
            }
            @if let Some((t, name)) = threshold {
                line.threshold x1=(format!("{:.1}", x(t))) x2=(format!("{:.1}", x(t))) y1=(TOP - 4.0) y2=(h - 20.0) {}
                text.legend x=(format!("{:.1}", x(t))) y=(h - 6.0) text-anchor="middle" { (name) " " (fmt(t)) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_series_are_thinned_keeping_both_ends() {
        let k = thin(10_000);
        assert_eq!(k.len(), MAX_POINTS);
        assert_eq!((k[0], *k.last().unwrap()), (0, 9_999));
        assert!(k.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(thin(3), vec![0, 1, 2]);
    }

    #[test]
    fn a_line_chart_draws_one_dot_per_value_and_breaks_at_gaps() {
        let labels: Vec<String> = (1..=4).map(|d| format!("2026-01-0{d}")).collect();
        let s = Series { name: "v2", class: "a", values: vec![Some(1.0), None, Some(3.0), Some(2.0)] };
        let svg = lines("t", "d", &labels, &[s]).into_string();
        assert_eq!(svg.matches("<circle").count(), 3);
        // Two sub-paths: one point, then a gap, then two.
        let d = svg.split(" d=\"").nth(1).unwrap().split('"').next().unwrap();
        assert_eq!(d.matches('M').count(), 2, "{d}");
        assert_eq!(d.matches('L').count(), 1, "{d}");
    }

    #[test]
    fn bars_are_flagged_and_negative_values_extend_left() {
        let b = [
            Bar { label: "hour".into(), value: 0.31, flagged: true },
            Bar { label: "temp".into(), value: -0.2, flagged: false },
        ];
        let svg = bars("PSI", "d", &b, Some((0.25, "threshold"))).into_string();
        assert_eq!(svg.matches("class=\"bar flagged\"").count(), 1);
        assert_eq!(svg.matches("class=\"bar\"").count(), 1);
        assert!(svg.contains("threshold 0.250"), "{svg}");
    }
}
