//! The pages. Each handler asks typed questions under the read lock ([`with_view`]) and renders
//! their answers; none decides anything.

use axum::extract::State;
use maud::{html, Markup};
use projections::events::{Direction, GateResult, Metrics};
use projections::query::Entry;
use projections::state::{Alert, AlertStatus, AlertType, BacktestWindow, ExperimentStatus, Severity};
use serde::Deserialize;
use serde_json::{json, Value};

use super::svg::{self, Bar, Series};
use super::{layout, with_view, Frame, Page, PageError};
use crate::api::routes::{P, Q};
use crate::api::AppState;
use crate::app::query::{
    AlertById, Alerts, Champions, ExperimentResults, Experiments, HealthCheck, Keys, Query, QueryError,
    Timeline, Versions,
};
use crate::app::review::{Review, ReviewAnswer, ReviewDecision};

type Res = Result<Page, PageError>;

/// The most rows a page's table of backtest windows shows (the newest); the chart draws them
/// all, thinned, and the JSON answer has every one.
const WINDOW_ROWS: usize = 100;

/// The most backtest windows a chart of a version's trend draws: the newest recorded, each read
/// from its event. A version backtested daily for years has thousands; the JSON answers have
/// them all.
const CHART_WINDOWS: usize = svg::MAX_POINTS;

/// The newest [`CHART_WINDOWS`] of the windows `refs` names, read from their events, and how
/// many there are in all.
fn chart_windows(
    store: &ledger::Store,
    refs: &[projections::state::WindowRef],
) -> Result<(Vec<BacktestWindow>, usize), ledger::StoreError> {
    let from = refs.len().saturating_sub(CHART_WINDOWS);
    Ok((projections::query::backtest_windows(store, &refs[from..])?, refs.len()))
}

/// " (the newest 240 of 37000 windows)" when a chart left windows out, else nothing.
fn charted_of(charted: usize, all: usize) -> String {
    if charted < all {
        format!(" (the newest {charted} of {all} windows)")
    } else {
        String::new()
    }
}

fn page(title: &str, section: &str, frame: &Frame, body: Markup) -> Page {
    Page(axum::http::StatusCode::OK, layout(title, section, Some(frame), body))
}

/// A number for people: at most four significant decimals, no exponent for ordinary sizes.
fn num(v: f64) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    let a = v.abs();
    if a >= 1000.0 {
        format!("{v:.0}")
    } else if a >= 1.0 || a == 0.0 {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else if a >= 1e-4 {
        format!("{v:.4}")
    } else {
        format!("{v:.2e}")
    }
}

fn opt(v: Option<f64>) -> String {
    v.map_or_else(|| "—".into(), num)
}

fn seg(s: Option<&str>) -> &str {
    s.unwrap_or("(global)")
}

fn status_name<T: serde::Serialize>(t: &T) -> String {
    projections::state::name(t)
}

fn version_link(model: &str, v: u64) -> Markup {
    html! { a href=(format!("/models/{}/versions/{v}", crate::app::query::enc(model))) { "v" (v) } }
}

fn model_link(model: &str) -> Markup {
    html! { a href=(format!("/models/{}", crate::app::query::enc(model))) { (model) } }
}

fn metrics_table(caption: &str, cols: &[(&str, &Metrics)]) -> Markup {
    let mut names: Vec<&str> = cols.iter().flat_map(|(_, m)| m.keys()).collect();
    names.sort();
    names.dedup();
    html! {
        table {
            caption { (caption) }
            thead { tr { th scope="col" { "Metric" } @for (c, _) in cols { th scope="col" { (c) } } } }
            tbody {
                @for n in names {
                    tr { th scope="row" { (n) } @for (_, m) in cols { td.num { (opt(m.get(n).copied())) } } }
                }
            }
        }
    }
}

/// A form whose submission the script signs with the loaded key and posts as a command:
/// `kind`, the fixed `body` members, and one text field per `(member, label, required)`.
fn sign_form(kind: &str, body: Value, fields: &[(&str, &str, bool)], button: &str, class: &str) -> Markup {
    html! {
        form.sign data-kind=(kind) data-body=(body.to_string()) {
            @for (member, label, required) in fields {
                label { (label) textarea name=(member) rows="2" required[*required] {} }
            }
            button type="submit" class=(class) { (button) }
            output.result role="status" aria-live="polite" {}
        }
    }
}

fn alert_row(a: &Alert) -> Markup {
    html! {
        tr class=(format!("sev-{}", a.severity.as_str())) {
            td { span class=(format!("pill {}", a.severity.as_str())) { (a.severity.as_str()) } }
            td { a href=(format!("/alerts/{}", a.id)) { (a.alert_type.as_str()) } }
            td { (a.message) }
            td { @if let Some(s) = &a.subject { (model_link(&s.model)) " / " (seg(s.segment.as_deref())) } }
            td { (a.status.as_str()) }
            td { time datetime=(a.raised_at) { (a.raised_at.get(..16).unwrap_or(&a.raised_at)) } }
        }
    }
}

fn alerts_table(alerts: &[&Alert]) -> Markup {
    html! {
        table {
            thead { tr { th scope="col" { "Severity" } th scope="col" { "Type" } th scope="col" { "Message" } th scope="col" { "Model" } th scope="col" { "Status" } th scope="col" { "Raised" } } }
            tbody { @for a in alerts { (alert_row(a)) } }
        }
    }
}

/// The period labels the run `run_id` declared, in order.
fn periods_of<'a>(state: &'a projections::state::State, run_id: &str) -> &'a [String] {
    state.runs.get(run_id).map_or(&[][..], |r| &r.run.periods[..])
}

fn windows_chart(
    title: &str,
    metric: &str,
    periods: &[String],
    series: &[(&str, &str, &[BacktestWindow])],
) -> Markup {
    // One x position per distinct window start, in time order (a declared period by its place
    // in the run's periods: `Jan` before `Feb`, `99` before `100`).
    let mut starts: Vec<String> =
        series.iter().flat_map(|(_, _, w)| w.iter().map(|w| w.window_start.clone())).collect();
    starts.sort_by_cached_key(|s| crate::domain::window::order_key(s, periods));
    starts.dedup();
    let lines: Vec<Series<'_>> = series
        .iter()
        .map(|(name, class, ws)| {
            // A start recorded twice shows its newest window.
            let at: std::collections::HashMap<&str, Option<f64>> =
                ws.iter().map(|w| (w.window_start.as_str(), w.metrics.get(metric).copied())).collect();
            Series {
                name,
                class,
                values: starts.iter().map(|s| at.get(s.as_str()).copied().flatten()).collect(),
            }
        })
        .collect();
    svg::lines(title, &format!("{metric} per backtest window, by window start"), &starts, &lines)
}

// ---------------------------------------------------------------------------------------
// Overview

/// `/`: what needs a decision, and how the champions are doing.
pub(crate) async fn overview(State(s): State<AppState>) -> Res {
    with_view(&s, |v, frame| {
        let health = HealthCheck.answer(v)?;
        let mut open: Vec<&Alert> =
            v.state.alerts.values().filter(|a| a.status.is_open() && a.severity != Severity::Info).collect();
        open.sort_by_key(|a| (a.severity, std::cmp::Reverse(a.raised_seq)));
        let shown = &open[..open.len().min(20)];
        // The charts' windows, read from their events.
        let mut charts = Vec::new();
        for h in health.health.iter().filter(|h| h.windows > 0).take(4) {
            if let Some(x) = v.state.model(&h.model).and_then(|m| m.versions.get(&h.champion)) {
                let (windows, all) = chart_windows(v.store, &x.backtests).map_err(QueryError::from)?;
                charts.push((h, x, windows, all));
            }
        }
        let body = html! {
            h1 { "What needs a decision" }
            @if open.is_empty() && health.pending_proposals.is_empty() {
                p.ok { "Nothing is waiting for a decision." }
            }
            @if !open.is_empty() {
                section aria-labelledby="open-h" {
                    h2 #open-h { (open.len()) " open critical and warning alerts" }
                    (alerts_table(shown))
                    @if open.len() > shown.len() { p { a href="/alerts?status=open" { "All open alerts" } } }
                }
            }
            @if !health.pending_proposals.is_empty() {
                section aria-labelledby="prop-h" {
                    h2 #prop-h { "Pending proposals" }
                    ul {
                        @for id in &health.pending_proposals {
                            @if let Some(p) = v.state.proposals.get(id) {
                                li { (id) ": " (model_link(&p.subject.model)) " / " (seg(p.subject.segment.as_deref()))
                                     " — review " (version_link(&p.subject.model, p.proposed.challenger))
                                     @if !p.proposed.passed { " (gates failed)" } }
                            }
                        }
                    }
                }
            }
            section aria-labelledby="health-h" {
                h2 #health-h { "Models health" }
                (health_table(&health.health))
                @for (h, x, windows, all) in &charts {
                    figure {
                        (windows_chart(&format!("{} / {}: v{} backtest {}", h.model, seg(h.segment.as_deref()), h.champion, h.metric), &h.metric, periods_of(v.state, &x.run_id), &[(&format!("v{}", h.champion), "a", windows)]))
                        figcaption { (h.model) " / " (seg(h.segment.as_deref())) ": " (h.metric) " of champion v" (h.champion) " per backtest window" (charted_of(windows.len(), *all)) }
                    }
                }
            }
        };
        Ok(page("Overview", "/", frame, body))
    })
}

fn health_table(health: &[crate::domain::judge::Health]) -> Markup {
    html! {
        table {
            thead { tr { th scope="col" { "Model" } th scope="col" { "Segment" } th scope="col" { "Champion" } th scope="col" { "Metric" }
                th scope="col" { "Recent" } th scope="col" { "Baseline" } th scope="col" { "Trend" } th scope="col" { "Windows" } th scope="col" { "Best challenger" } } }
            tbody {
                @for h in health {
                    tr {
                        td { (model_link(&h.model)) } td { (seg(h.segment.as_deref())) } td { (version_link(&h.model, h.champion)) }
                        td { (h.metric) } td.num { (opt(h.recent)) } td.num { (opt(h.baseline)) }
                        td { span class=(format!("trend {}", status_name(&h.trend))) { (status_name(&h.trend)) } }
                        td.num { (h.windows) }
                        td { @if let Some(c) = h.best_challenger { (version_link(&h.model, c)) } @else { "—" } }
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Alerts

#[derive(Deserialize)]
pub(crate) struct AlertFilter {
    status: Option<String>,
    severity: Option<Severity>,
    #[serde(rename = "type")]
    alert_type: Option<AlertType>,
}

/// `/alerts`: the inbox, filtered by status (`open` = unread or read), severity and type.
pub(crate) async fn alerts(State(s): State<AppState>, Q(f): Q<AlertFilter>) -> Res {
    let status = match f.status.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some("open") => Some(None),
        Some(x) => Some(Some(
            x.parse::<AlertStatus>().map_err(|e| PageError(axum::http::StatusCode::BAD_REQUEST, e))?,
        )),
    };
    with_view(&s, |v, frame| {
        let all = Alerts { status: status.flatten(), severity: f.severity }.answer(v)?.alerts;
        let list: Vec<&Alert> = all
            .iter()
            .filter(|a| status != Some(None) || a.status.is_open())
            .filter(|a| f.alert_type.is_none_or(|t| a.alert_type == t))
            .collect();
        let shown = &list[..list.len().min(200)];
        let sel = |cur: Option<&str>, x: &str| cur == Some(x);
        let body = html! {
            h1 { "ML alerts" }
            form.filters method="get" action="/alerts" {
                label { "Status " select name="status" {
                    option value="" { "any" }
                    option value="open" selected[sel(f.status.as_deref(), "open")] { "open" }
                    @for st in AlertStatus::ALL { option value=(st.as_str()) selected[sel(f.status.as_deref(), st.as_str())] { (st.as_str()) } }
                } }
                label { "Severity " select name="severity" {
                    option value="" { "any" }
                    @for sv in Severity::ALL { option value=(sv.as_str()) selected[f.severity == Some(sv)] { (sv.as_str()) } }
                } }
                label { "Type " select name="type" {
                    option value="" { "any" }
                    @for t in AlertType::ALL { option value=(t.as_str()) selected[f.alert_type == Some(t)] { (t.as_str()) } }
                } }
                button type="submit" { "Filter" }
            }
            p { (list.len()) " alerts" @if list.len() > shown.len() { ", the newest " (shown.len()) " shown" } }
            (alerts_table(shown))
        };
        Ok(page("Alerts", "/alerts", frame, body))
    })
}

/// `/alerts/{id}`: the alert, its figures, and the decision it calls for.
pub(crate) async fn alert(State(s): State<AppState>, P(id): P<String>) -> Res {
    with_view(&s, |v, frame| {
        let a = AlertById { id }.answer(v)?;
        let raised = v
            .store
            .get(a.raised_seq)
            .map_err(|e| PageError::from(crate::app::query::QueryError::Store(e)))?;
        let payload = raised.map(|e| e.event.payload).unwrap_or(Value::Null);
        let model = a.subject.as_ref().map(|s| s.model.clone());
        // The versions the alert asks a decision on.
        let candidates: Vec<u64> = match a.alert_type {
            AlertType::DriftDetected => {
                let mut c: Vec<u64> = v
                    .state
                    .runs
                    .values()
                    .filter(|r| r.run.drift_event.as_deref() == Some(&a.id))
                    .flat_map(|r| r.versions.iter().copied())
                    .collect();
                c.sort();
                c
            }
            AlertType::PromotionPending => a
                .proposal_id
                .as_ref()
                .and_then(|p| v.state.proposals.get(p))
                .map(|p| vec![p.proposed.challenger])
                .unwrap_or_default(),
            _ => vec![],
        };
        let body = html! {
            h1 { span class=(format!("pill {}", a.severity.as_str())) { (a.severity.as_str()) } " " (a.alert_type.as_str()) }
            p.lead { (a.message) }
            dl {
                dt { "Alert" } dd { code { (a.id) } }
                dt { "Status" } dd { (a.status.as_str()) }
                @if let Some(s) = &a.subject { dt { "Model" } dd { (model_link(&s.model)) " / " (seg(s.segment.as_deref())) } }
                @if let (Some(m), Some(ver)) = (&model, a.version) { dt { "Version concerned" } dd { (version_link(m, ver)) } }
                dt { "Raised" } dd { (a.raised_at) " (event #" (a.raised_seq) ")" }
            }
            @if a.alert_type == AlertType::DriftDetected {
                (drift_figures(&payload))
            }
            @if let Some(m) = &model {
                @if !candidates.is_empty() {
                    section aria-labelledby="act-h" {
                        h2 #act-h { "Action" }
                        @for c in &candidates {
                            p { a.button href=(format!("/models/{}/versions/{c}", crate::app::query::enc(m))) { "Review " (m) " v" (c) } }
                        }
                    }
                } @else if a.alert_type == AlertType::DriftDetected && a.status.is_open() {
                    p { "No retrain answers this alert yet: record one with " code { "pledge train-candidate ... --drift-alert-id " (a.id) } "." }
                }
            }
            @if a.status.is_open() {
                section aria-labelledby="close-h" {
                    h2 #close-h { "Close without a promotion" }
                    div.actions {
                        @if a.status == AlertStatus::Unread {
                            (sign_form("alert.read", json!({"alert_id": a.id}), &[], "Mark as read", "secondary"))
                        }
                        (sign_form("alert.action", json!({"alert_id": a.id, "action": "acknowledge"}), &[("notes", "Notes", false)], "Acknowledge", "secondary"))
                        (sign_form("alert.action", json!({"alert_id": a.id, "action": "dismiss"}), &[("notes", "Notes", false)], "Dismiss", "danger"))
                    }
                }
            }
            section aria-labelledby="hist-h" {
                h2 #hist-h { "History" }
                @if a.history.is_empty() { p { "Nothing done yet." } }
                ol { @for h in &a.history { li { (h.action) " by " (h.by) @if !h.notes.is_empty() { ": " (h.notes) } " (event #" (h.seq) ")" } } }
            }
        };
        Ok(page(&format!("Alert {}", a.id), "/alerts", frame, body))
    })
}

fn drift_figures(payload: &Value) -> Markup {
    let psi: Vec<Bar> = payload["psi"]
        .as_object()
        .map(|m| {
            let t = payload["psi_threshold"].as_f64().unwrap_or(f64::INFINITY);
            let mut b: Vec<Bar> = m
                .iter()
                .filter_map(|(k, v)| v.as_f64().map(|x| Bar { label: k.clone(), value: x, flagged: x > t }))
                .collect();
            b.sort_by(|a, b| b.value.total_cmp(&a.value));
            b
        })
        .unwrap_or_default();
    let f = |k: &str| payload[k].as_f64();
    html! {
        section aria-labelledby="drift-h" {
            h2 #drift-h { "Drift check" }
            table {
                tbody {
                    tr { th scope="row" { "Metric" } td { (payload["metric"].as_str().unwrap_or("")) } }
                    tr { th scope="row" { "Baseline" } td.num { (opt(f("baseline"))) } }
                    tr { th scope="row" { "Recent" } td.num { (opt(f("recent"))) } }
                    tr { th scope="row" { "Degradation" } td.num { (opt(f("drift_pct"))) " % (threshold " (opt(f("threshold_pct"))) " %)" } }
                    tr { th scope="row" { "Policy version" } td.num { (payload["policy_version"]) } }
                }
            }
            @if psi.is_empty() {
                p { "No feature distributions were compared (no PSI recorded)." }
            } @else {
                figure {
                    (svg::bars("Population stability index per feature", "PSI of each feature, recent against baseline; bars past the line exceed the policy", &psi, f("psi_threshold").map(|t| (t, "threshold"))))
                    figcaption { "PSI per feature (recent vs baseline); the line is the policy's threshold" }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Models

/// `/models`: champions per segment, routing tables, health.
pub(crate) async fn models(State(s): State<AppState>) -> Res {
    with_view(&s, |v, frame| {
        let ch = Champions { model: None }.answer(v)?;
        let health = HealthCheck.answer(v)?;
        let body = html! {
            h1 { "Models" }
            section aria-labelledby="champ-h" {
                h2 #champ-h { "Champions" }
                table {
                    thead { tr { th scope="col" { "Model" } th scope="col" { "Segment" } th scope="col" { "Champion" } th scope="col" { "Metrics" } th scope="col" { "Challengers" } } }
                    tbody {
                        @for c in &ch.champions {
                            tr {
                                td { (model_link(&c.model)) } td { (seg(c.segment.as_deref())) } td { (version_link(&c.model, c.version)) }
                                td { @for (k, x) in &c.metrics { span.metric { (k) " " (num(*x)) } " " } }
                                td {
                                    @for x in c.challengers.iter().rev().take(8) { (version_link(&c.model, *x)) " " }
                                    @if c.challengers.len() > 8 { "and " (c.challengers.len() - 8) " older" }
                                }
                            }
                        }
                    }
                }
            }
            section aria-labelledby="route-h" {
                h2 #route-h { "Routing" }
                @for r in &ch.routing {
                    table {
                        caption { (model_link(&r.model)) }
                        thead { tr { th scope="col" { "Segment" } th scope="col" { "Served by" } th scope="col" { "Own champion" } } }
                        tbody { @for x in &r.routes { tr {
                            td { (seg(x.segment.as_deref())) }
                            td { @if let Some(n) = x.version { (version_link(&r.model, n)) } @else { "nobody yet" } }
                            td { @if x.own_champion { "yes" } @else { "no (global champion)" } }
                        } } }
                    }
                }
            }
            section aria-labelledby="health-h" {
                h2 #health-h { "Health" }
                (health_table(&health.health))
            }
        };
        Ok(page("Models", "/models", frame, body))
    })
}

/// `/models/{model}`: its versions, champion history and the backtest trend of its champions.
pub(crate) async fn model(State(s): State<AppState>, P(name): P<String>) -> Res {
    with_view(&s, |v, frame| {
        let vs = Versions { model: name.clone() }.answer(v)?;
        let m = v.state.model(&name).expect("Versions answered, so the model exists");
        let metric = match (v.policy, m.task) {
            (Some(p), Some(t)) => p.for_model(&name, t).drift_metric().to_string(),
            _ => "mae".into(),
        };
        let recent: Vec<_> = vs.versions.iter().rev().take(100).collect();
        let mut trends = Vec::new();
        for (key, ver) in &m.champions {
            let periods = m.versions.get(ver).map_or(&[][..], |i| periods_of(v.state, &i.run_id));
            trends.push(
                champion_trend(v.store, &name, &metric, key, *ver, m, periods).map_err(QueryError::from)?,
            );
        }
        let body = html! {
            h1 { "Model " (name) }
            p { "Task: " (vs.task.map(|t| t.as_str()).unwrap_or("—")) " · "
                a href=(format!("/models/{}/timeline", crate::app::query::enc(&name))) { "How the champion got there" } " · "
                a href=(format!("/models/{}/runs", crate::app::query::enc(&name))) { "Compare runs" } }
            @for ((key, ver), trend) in m.champions.iter().zip(&trends) {
                section {
                    h2 { "Segment " (seg((!key.is_empty()).then_some(key.as_str()))) ": champion " (version_link(&name, *ver)) }
                    (trend)
                }
            }
            section aria-labelledby="ver-h" {
                h2 #ver-h { "Versions" }
                table {
                    thead { tr { th scope="col" { "Version" } th scope="col" { "Segment" } th scope="col" { "Status" } th scope="col" { "Trigger" } th scope="col" { (metric) } th scope="col" { "Windows" } th scope="col" { "Run" } } }
                    tbody { @for x in &recent { tr {
                        td { (version_link(&name, x.version)) } td { (seg(x.segment.as_deref())) } td { (status_name(&x.status)) }
                        td { (status_name(&x.trigger)) } td.num { (opt(x.metrics.get(&metric).copied())) } td.num { (x.backtest_windows) }
                        td { code { (x.run_id) } }
                    } } }
                }
                @if vs.versions.len() > recent.len() { p { "The newest " (recent.len()) " of " (vs.versions.len()) " versions." } }
            }
        };
        Ok(page(&format!("Model {name}"), "/models", frame, body))
    })
}

/// The backtest trend of a segment's champion beside up to three versions that served the
/// segment before it (most recent first).
fn champion_trend(
    store: &ledger::Store,
    name: &str,
    metric: &str,
    key: &str,
    champion: u64,
    m: &projections::state::ModelState,
    periods: &[String],
) -> Result<Markup, ledger::StoreError> {
    let mut before: Vec<u64> = vec![];
    for c in m.champion_history.get(key).into_iter().flatten().rev() {
        if c.version != champion && !before.contains(&c.version) && before.len() < 3 {
            before.push(c.version);
        }
    }
    let labels: Vec<String> = std::iter::once(format!("v{champion} (champion)"))
        .chain(before.iter().map(|v| format!("v{v}")))
        .collect();
    let mut windows: Vec<(&str, &str, Vec<BacktestWindow>)> = Vec::new();
    let mut left_out = false;
    for ((v, label), class) in
        std::iter::once(champion).chain(before.iter().copied()).zip(&labels).zip(["a", "b", "c", "d"])
    {
        if let Some(i) = m.versions.get(&v) {
            let (w, all) = chart_windows(store, &i.backtests)?;
            left_out |= w.len() < all;
            windows.push((label.as_str(), class, w));
        }
    }
    let series: Vec<(&str, &str, &[BacktestWindow])> =
        windows.iter().map(|(label, class, w)| (*label, *class, w.as_slice())).collect();
    let segment = seg((!key.is_empty()).then_some(key));
    Ok(html! {
        @if series.iter().all(|s| s.2.is_empty()) {
            p { "No backtest windows recorded for this segment's champions." }
        } @else {
            figure {
                (windows_chart(&format!("{name} {segment}: {metric} per backtest window"), metric, periods, &series))
                figcaption { (metric) " per backtest window over time: the champion and the versions that served before it"
                    @if left_out { " (the newest " (CHART_WINDOWS) " windows of each)" } }
            }
        }
    })
}

// ---------------------------------------------------------------------------------------
// Review

/// `/models/{model}/versions/{version}`: the evidence on a version and the decision.
pub(crate) async fn review(State(s): State<AppState>, P((model, version)): P<(String, u64)>) -> Res {
    with_view(&s, |v, frame| {
        let r = Review { model: model.clone(), version }.answer(v)?;
        Ok(page(&format!("Review {model} v{version}"), "/models", frame, review_body(&r)))
    })
}

fn review_body(r: &ReviewAnswer) -> Markup {
    let c = &r.candidate;
    let champ = r.champion.as_ref();
    let cand_label = format!("v{} (candidate)", c.version);
    let champ_label = champ.map(|x| format!("v{} (champion)", x.version)).unwrap_or_default();
    let labels: Vec<String> = r.backtests.windows.iter().map(|w| w.window_start.clone()).collect();
    let mut series = vec![Series {
        name: &cand_label,
        class: "a",
        values: r.backtests.windows.iter().map(|w| w.candidate).collect(),
    }];
    if champ.is_some() {
        series.push(Series {
            name: &champ_label,
            class: "b",
            values: r.backtests.windows.iter().map(|w| w.champion).collect(),
        });
    }
    let dir = r.backtests.direction.map(|d| status_name(&d)).unwrap_or_else(|| "unknown".into());
    // Deltas where both sides have the column, largest changes first (the table has them all).
    let mut coef_bars: Vec<Bar> = r
        .coefficients
        .rows
        .iter()
        .filter_map(|d| {
            let (a, b) = (d.candidate?, d.champion?);
            Some(Bar { label: d.feature.clone(), value: a - b, flagged: a * b < 0.0 })
        })
        .collect();
    coef_bars.sort_by(|a, b| b.value.abs().total_cmp(&a.value.abs()));
    coef_bars.truncate(25);
    html! {
        h1 { "Review " (r.model) " v" (c.version) }
        p.lead {
            "Segment " (seg(c.segment.as_deref())) " · status " (status_name(&c.status))
            @if let Some(ch) = champ { " · against champion " (version_link(&r.model, ch.version)) } @else { " · no champion to compare with" }
        }
        section #decision aria-labelledby="dec-h" {
            h2 #dec-h { "Decision" }
            p { "Promotions of this segment need " (r.approvals_needed) " distinct approval" @if r.approvals_needed != 1 { "s" } "."
                @if !r.approvals_so_far.is_empty() { " Counted so far: " (r.approvals_so_far.join(", ")) "." } }
            @match &r.decision {
                ReviewDecision::Proposal { proposal_id, gates_passed } => {
                    p { "Arena proposal " code { (proposal_id) } " is pending." @if !gates_passed { " Its gates failed: approving needs an override reason." } }
                    div.actions {
                        @if *gates_passed {
                            (sign_form("arena.approve", json!({"proposal_id": proposal_id}), &[("notes", "Notes", false)], "Approve", "primary"))
                        } @else {
                            (sign_form("arena.approve", json!({"proposal_id": proposal_id}), &[("notes", "Notes", false), ("override_reason", "Override reason", true)], "Approve with override", "primary"))
                        }
                        (sign_form("arena.reject", json!({"proposal_id": proposal_id}), &[("reason", "Reason", true)], "Reject", "danger"))
                    }
                }
                ReviewDecision::DriftAlert { alert_id } => {
                    p { "This retrain answers drift alert " a href=(format!("/alerts/{alert_id}")) { (alert_id) } "." }
                    div.actions {
                        (sign_form("alert.action", json!({"alert_id": alert_id, "action": "approve", "version": c.version}), &[("notes", "Notes", false)], "Approve", "primary"))
                        (sign_form("alert.action", json!({"alert_id": alert_id, "action": "dismiss"}), &[("notes", "Reason", true)], "Reject (dismiss the alert)", "danger"))
                    }
                }
                ReviewDecision::Propose { reason } => {
                    p { "Nothing to decide yet: " (reason) "." }
                    div.actions {
                        (sign_form("arena.propose", json!({"model": r.model, "segment": c.segment, "challenger": c.version}), &[], "Propose promotion", "primary"))
                    }
                }
                ReviewDecision::None { reason } => { p { "Nothing to decide: " (reason) "." } }
            }
        }
        section aria-labelledby="bt-h" {
            h2 #bt-h { "Backtests: " (r.backtests.metric) " (" (dir) " is better)" }
            @if r.backtests.windows.is_empty() {
                p { "No backtest windows are recorded for either version." }
            } @else {
                figure {
                    (svg::lines(&format!("{} per backtest window: candidate against champion", r.backtests.metric), "each window's value for both versions, by window start", &labels, &series))
                    figcaption { (r.backtests.metric) " per window, candidate against champion" }
                }
                @let newest = &r.backtests.windows[r.backtests.windows.len().saturating_sub(WINDOW_ROWS)..];
                details {
                    summary { "Windows as a table" @if newest.len() < r.backtests.windows.len() { " (the newest " (newest.len()) " of " (r.backtests.windows.len()) "; all of them at " code { "GET /api/v1/models/" (r.model) "/versions/" (c.version) "/review" } ")" } }
                    table {
                        thead { tr { th scope="col" { "Window" } th scope="col" { "Candidate" } th scope="col" { "Champion" } } }
                        tbody { @for w in newest { tr { td { (w.window_start) " – " (w.window_end) } td.num { (opt(w.candidate)) } td.num { (opt(w.champion)) } } } }
                    }
                }
            }
        }
        section aria-labelledby="gate-h" {
            h2 #gate-h { "Gates" }
            @if let Some(g) = &r.gates {
                (gate_table(&g.gates, g.policy_version))
                p { "Source: " (g.source) ". " @if g.passed { strong.ok { "Every gate passed." } } @else { strong.bad { "A gate failed." } } }
            } @else if let Some(why) = &r.gates_unavailable {
                p { "Not evaluated: " (why) "." }
            }
            @if let Some(ch) = champ {
                (metrics_table("Registered metrics", &[(&cand_label, &c.metrics), (&champ_label, &ch.metrics)]))
            }
        }
        @if let Some(d) = &r.drift {
            section aria-labelledby="drift-h2" {
                h2 #drift-h2 { "Drift that asked for it (" a href=(format!("/alerts/{}", d.alert_id)) { (d.alert_id) } ")" }
                (drift_figures(&serde_json::to_value(&d.check).unwrap_or(Value::Null)))
            }
        }
        section aria-labelledby="coef-h" {
            h2 #coef-h { "Coefficients against the champion" }
            @if let Some(why) = &r.coefficients.unavailable { p { (why) } }
            @if !coef_bars.is_empty() {
                figure {
                    (svg::bars("Coefficient change, candidate minus champion", "the largest changes per design column; flagged bars changed sign", &coef_bars, None))
                    figcaption { "Candidate minus champion: the " (coef_bars.len()) " largest changes per design column (flagged: the sign changed)" }
                }
            }
            @if !r.coefficients.rows.is_empty() {
                details {
                    summary { "Coefficients as a table" }
                    table {
                        thead { tr { th scope="col" { "Feature" } th scope="col" { "Candidate" } th scope="col" { "Champion" } } }
                        tbody { @for d in &r.coefficients.rows { tr { td { (d.feature) } td.num { (opt(d.candidate)) } td.num { (opt(d.champion)) } } } }
                    }
                }
            }
        }
        section aria-labelledby="lin-h" {
            h2 #lin-h { "Lineage" }
            @if let Some(run) = &r.run {
                dl {
                    dt { "Run" } dd { code { (run.run_id) } " (" (status_name(&run.trigger)) ", by " (run.recorded_by) ")" }
                    dt { "Trainer" } dd { (run.trainer) }
                    dt { "Dataset" } dd { code { (run.dataset_digest) } @if let Some(dv) = &run.dataset_version { " (" (dv) ")" } }
                    @if let Some(h) = &run.hypothesis_id { dt { "Hypothesis" } dd { a href=(format!("/experiments/{h}")) { (h) } } }
                    dt { "Artifact" } dd { code { (c.artifact_digest) } }
                }
            }
            (entries(&r.lineage))
        }
    }
}

fn gate_table(gates: &[GateResult], policy_version: u32) -> Markup {
    html! {
        table.gates {
            thead { tr { th scope="col" { "Metric" } th scope="col" { "Candidate" } th scope="col" { "Champion" } th scope="col" { "Threshold" }
                th scope="col" { "Direction" } th scope="col" { "Outcome" } th scope="col" { "Policy" } } }
            tbody { @for g in gates { tr {
                th scope="row" { (g.metric) } td.num { (num(g.candidate)) } td.num { (num(g.champion)) } td.num { (num(g.threshold)) }
                td { (if g.direction == Direction::Lower { "lower is better" } else { "higher is better" }) @if g.margin > 0.0 { ", by " (num(g.margin * 100.0)) " %" } }
                td { @if g.passed { span.ok { "passed" } } @else { span.bad { "failed" } } }
                td { "v" (policy_version) }
            } } }
        }
    }
}

fn entries(list: &[Entry]) -> Markup {
    html! {
        ol.entries {
            @for e in list {
                li { span.seq { "#" (e.seq) } " " time datetime=(e.recorded_at) { (e.recorded_at.get(..19).unwrap_or(&e.recorded_at)) } " "
                     code { (e.kind) } " " (e.summary)
                     @if let Some(a) = &e.actor { " — " span.actor { (a) } } }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Timeline

#[derive(Deserialize)]
pub(crate) struct TimelineFilter {
    segment: Option<String>,
    as_of: Option<String>,
}

/// `/models/{model}/timeline`: how the champion got there, at the head or as of a point.
pub(crate) async fn timeline(State(s): State<AppState>, P(model): P<String>, Q(f): Q<TimelineFilter>) -> Res {
    let segment = f.segment.filter(|x| !x.is_empty());
    let as_of = f.as_of.filter(|x| !x.is_empty());
    let q = Timeline { model: model.clone(), segment: segment.clone(), as_of: as_of.clone() };
    // As of a past point too: the head's read models, cut at that point.
    let t = with_view(&s, |v, _| Ok(q.answer(v)?))?;
    with_view(&s, |v, frame| {
        let segments: Vec<String> = v
            .state
            .model(&model)
            .map(|m| m.champions.keys().filter(|k| !k.is_empty()).cloned().collect())
            .unwrap_or_default();
        let body = html! {
            h1 { "How the champion of " (model) " / " (seg(segment.as_deref())) " got there" }
            form.filters method="get" {
                label { "Segment " select name="segment" {
                    option value="" { "(global)" }
                    @for x in &segments { option value=(x) selected[segment.as_deref() == Some(x)] { (x) } }
                } }
                label { "As of (event number or RFC 3339 time) " input name="as_of" value=[as_of.as_deref()] placeholder="e.g. 120 or 2026-11-01T00:00:00Z"; }
                button type="submit" { "Show" }
            }
            @if let Some(a) = &as_of { p { "As of " strong { (a) } ": what the ledger had recorded by then." } }
            @if t.entries.is_empty() { p { "No champion yet." } }
            (entries(&t.entries))
        };
        Ok(page(&format!("Timeline {model}"), "/models", frame, body))
    })
}

// ---------------------------------------------------------------------------------------
// Runs

/// `/models/{model}/runs?run=A&run=B`: runs side by side (metrics and parameters), as MLflow's
/// compare view shows them; without a selection, the latest eight.
pub(crate) async fn runs(
    State(s): State<AppState>,
    P(model): P<String>,
    axum::extract::RawQuery(q): axum::extract::RawQuery,
) -> Res {
    // Repeated `run=` parameters: parsed by hand (serde's query form takes one value per key).
    let picked: Vec<String> = q
        .as_deref()
        .unwrap_or("")
        .split('&')
        .filter_map(|kv| kv.strip_prefix("run="))
        .map(percent_decode)
        .filter(|v| !v.is_empty())
        .collect();
    with_view(&s, |v, frame| {
        v.state.model(&model).ok_or_else(|| {
            crate::app::query::QueryError::NotFound(format!("no model `{model}` in this ledger"), None)
        })?;
        let mut all: Vec<&projections::state::Run> =
            v.state.runs.values().filter(|r| r.model == model).collect();
        all.sort_by_key(|r| std::cmp::Reverse(r.seq));
        let chosen: Vec<&projections::state::Run> = if picked.is_empty() {
            all.iter().take(8).copied().collect()
        } else {
            all.iter().filter(|r| picked.contains(&r.run.run_id)).copied().collect()
        };
        let mut metric_names: Vec<&str> = chosen.iter().flat_map(|r| r.run.metrics.keys()).collect();
        metric_names.sort();
        metric_names.dedup();
        // The parameters are in the runs' events.
        let params: Vec<Value> = chosen
            .iter()
            .map(|r| projections::query::run_recorded(v.store, r).map(|e| e.params))
            .collect::<Result<_, _>>()
            .map_err(QueryError::from)?;
        let mut param_names: Vec<String> =
            params.iter().flat_map(|p| p.as_object().into_iter().flat_map(|o| o.keys().cloned())).collect();
        param_names.sort();
        param_names.dedup();
        let body = html! {
            h1 { "Runs of " (model_link(&model)) }
            form.filters method="get" {
                fieldset {
                    legend { "Runs to compare (newest first)" }
                    @for r in all.iter().take(60) {
                        label.check { input type="checkbox" name="run" value=(r.run.run_id) checked[chosen.iter().any(|c| c.run.run_id == r.run.run_id)]; " " (r.run.run_id) }
                    }
                }
                button type="submit" { "Compare" }
            }
            @if chosen.is_empty() { p { "No runs recorded for this model." } } @else {
                div.scroll {
                    table.compare {
                        thead { tr { th scope="col" { "Run" } @for r in &chosen { th scope="col" { code { (r.run.run_id) } } } } }
                        tbody {
                            tr { th scope="row" { "Trigger" } @for r in &chosen { td { (status_name(&r.run.trigger)) } } }
                            tr { th scope="row" { "Recorded by" } @for r in &chosen { td { (r.run.recorded_by) } } }
                            tr { th scope="row" { "Trainer" } @for r in &chosen { td { (r.run.trainer) } } }
                            tr { th scope="row" { "Dataset" } @for r in &chosen { td { (r.run.dataset_version.as_deref().unwrap_or(&r.run.dataset_digest[..12])) } } }
                            tr { th scope="row" { "Versions" } @for r in &chosen { td { @for x in &r.versions { (version_link(&model, *x)) " " } } } }
                            tr.group { th colspan=(chosen.len() + 1) { "Metrics" } }
                            @for n in &metric_names { tr { th scope="row" { (n) } @for r in &chosen { td.num { (opt(r.run.metrics.get(*n).copied())) } } } }
                            tr.group { th colspan=(chosen.len() + 1) { "Parameters" } }
                            @for n in &param_names { tr { th scope="row" { (n) } @for p in &params { td { (param(&p[n.as_str()])) } } } }
                        }
                    }
                }
            }
        };
        Ok(page(&format!("Runs of {model}"), "/models", frame, body))
    })
}

fn param(v: &Value) -> String {
    match v {
        Value::Null => "—".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Decodes a `application/x-www-form-urlencoded` value (`+` is a space; a malformed escape
/// stays as written).
pub(crate) fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let hex = |i: usize| b.get(i).and_then(|&x| (x as char).to_digit(16));
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match (b[i], hex(i + 1), hex(i + 2)) {
            (b'+', _, _) => out.push(b' '),
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 2;
            }
            (c, _, _) => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

// ---------------------------------------------------------------------------------------
// Experiments

const BOARD: [ExperimentStatus; 6] = [
    ExperimentStatus::Proposed,
    ExperimentStatus::Approved,
    ExperimentStatus::InProgress,
    ExperimentStatus::ShadowTesting,
    ExperimentStatus::Completed,
    ExperimentStatus::Rejected,
];

/// `/experiments`: the board by state.
pub(crate) async fn experiments(State(s): State<AppState>) -> Res {
    with_view(&s, |v, frame| {
        let all = Experiments.answer(v)?.experiments;
        let counts: Vec<Bar> = BOARD
            .iter()
            .map(|st| Bar {
                label: status_name(st).replace('_', " "),
                value: all.iter().filter(|e| e.status == *st).count() as f64,
                flagged: false,
            })
            .collect();
        let body = html! {
            h1 { "Experiments" }
            figure {
                (svg::bars("Experiments by state", "how many experiments are in each state", &counts, None))
                figcaption { "Experiments by state" }
            }
            div.board {
                @for st in BOARD {
                    section.column aria-label=(status_name(&st).replace('_', " ")) {
                        h2 { (status_name(&st).replace('_', " ")) }
                        @for e in all.iter().filter(|e| e.status == st).rev().take(50) {
                            article.card {
                                h3 { a href=(format!("/experiments/{}", crate::app::query::enc(&e.hypothesis.hypothesis_id))) { (e.hypothesis.hypothesis_id) } }
                                p { (e.hypothesis.statement) }
                                p.meta { (e.model) " · " (e.hypothesis.target_metric) " +" (num(e.hypothesis.expected_improvement_pct)) " % · " (e.hypothesis.owner) }
                            }
                        }
                    }
                }
            }
        };
        Ok(page("Experiments", "/experiments", frame, body))
    })
}

/// `/experiments/{id}`: an experiment's results and, while proposed, its review.
pub(crate) async fn experiment(State(s): State<AppState>, P(id): P<String>) -> Res {
    with_view(&s, |v, frame| {
        let r = ExperimentResults { id: id.clone() }.answer(v)?;
        let x = &v.state.experiments[&id];
        let metric = r.target_metric.clone();
        let body = html! {
            h1 { "Experiment " (id) }
            p.lead { (x.hypothesis.statement) }
            dl {
                dt { "Model" } dd { (model_link(&r.model)) }
                dt { "Status" } dd { (status_name(&r.status)) }
                dt { "Target" } dd { (metric) ", expected " (num(r.expected_improvement_pct)) " % better" }
                dt { "Owner" } dd { (x.hypothesis.owner) " (proposed by " (x.hypothesis.proposed_by) ")" }
                @if let Some(rv) = &x.review { dt { @if rv.approved { "Approved by" } @else { "Rejected by" } } dd { (rv.by) ": " (rv.rationale) } }
            }
            @if r.status == ExperimentStatus::Proposed {
                section aria-labelledby="rev-h" {
                    h2 #rev-h { "Review the hypothesis" }
                    div.actions {
                        (sign_form("experiment.approve", json!({"hypothesis_id": id}), &[("rationale", "Rationale", true)], "Approve", "primary"))
                        (sign_form("experiment.reject", json!({"hypothesis_id": id}), &[("rationale", "Rationale", true)], "Reject", "danger"))
                    }
                }
            }
            section aria-labelledby="res-h" {
                h2 #res-h { "Results" }
                @let with_windows: Vec<_> = r.versions.iter().filter(|x| !x.backtests.is_empty()).collect();
                @if !with_windows.is_empty() {
                    @let names: Vec<String> = with_windows.iter().map(|x| format!("v{} {}", x.version, seg(x.segment.as_deref()))).collect();
                    @let series: Vec<(&str, &str, &[BacktestWindow])> = with_windows.iter().zip(&names).enumerate()
                        .map(|(i, (x, n))| (n.as_str(), ["a", "b", "c", "d"][i % 4], x.backtests.as_slice())).collect();
                    figure {
                        (windows_chart(&format!("{metric} per backtest window of the experiment's versions"), &metric, v.state.model(&r.model).and_then(|m| m.versions.get(&with_windows[0].version)).map_or(&[][..], |i| periods_of(v.state, &i.run_id)), &series))
                        figcaption { (metric) " per backtest window of each experimental version" }
                    }
                }
                @if !x.shadow.is_empty() {
                    @let labels: Vec<String> = x.shadow.iter().map(|w| format!("#{}", w.seq)).collect();
                    @let champ: Vec<Option<f64>> = x.shadow.iter().map(|w| w.champion_metrics.get(&metric).copied()).collect();
                    @let chal: Vec<Option<f64>> = x.shadow.iter().map(|w| w.challenger_metrics.get(&metric).copied()).collect();
                    figure {
                        (svg::lines(&format!("Shadow windows: {metric} of champion and challenger"), "each shadow window, in recording order", &labels,
                            &[Series { name: "challenger", class: "a", values: chal }, Series { name: "champion", class: "b", values: champ }]))
                        figcaption { "Shadow windows: " (metric) " of challenger and champion on the same actuals" }
                    }
                }
                table {
                    thead { tr { th scope="col" { "Version" } th scope="col" { "Segment" } th scope="col" { "Status" } th scope="col" { (metric) } th scope="col" { "Windows" } } }
                    tbody { @for ver in &r.versions { tr {
                        td { (version_link(&r.model, ver.version)) } td { (seg(ver.segment.as_deref())) } td { (status_name(&ver.status)) }
                        td.num { (opt(ver.metrics.get(&metric).copied())) } td.num { (ver.backtests.len()) }
                    } } }
                }
                @if let Some(c) = &r.completion {
                    p { "Completed by " (c.completed_by) ": " strong { (status_name(&c.decision)) } " — " (c.rationale) }
                    p { "Criterion: " @match c.criterion.met { Some(true) => { span.ok { "met" } }, Some(false) => { span.bad { "not met" } }, None => { "no evidence" } } }
                }
            }
        };
        Ok(page(&format!("Experiment {id}"), "/experiments", frame, body))
    })
}

// ---------------------------------------------------------------------------------------
// Audit

/// `/audit`: the ledger's head, the latest signed checkpoint and its cosignatures, the keys;
/// full verification runs on request (it reads every event).
pub(crate) async fn audit(State(s): State<AppState>) -> Res {
    let dir = s.0.store.dir().to_path_buf();
    let latest = tokio::task::spawn_blocking(move || ledger::checkpoints::Checkpoints::of(&dir).latest())
        .await
        .map_err(|e| PageError::from(crate::api::ApiError::internal(e)))?
        .map_err(|e| PageError::from(crate::api::ApiError::internal(e)))?;
    with_view(&s, |v, frame| {
        // The head and size from the store (LedgerInfo would also hash the whole read model).
        let head = v.store.head();
        let events = head.as_ref().map_or(0, |h| h.seq + 1);
        let keys = Keys.answer(v)?;
        let damage = v.store.damage().map(str::to_string);
        let body = html! {
            h1 { "Audit" }
            section aria-labelledby="ver-h" {
                h2 #ver-h { "Verification" }
                @if let Some(d) = &damage {
                    p.bad role="alert" { "The store is damaged: " (d) }
                } @else {
                    p { "Opening checked every stored hash, link and the committed head: " span.ok { "intact" } "." }
                }
                p { "Full verification re-derives every event and checks every signature (" (events) " events)." }
                button #verify-run type="button" { "Verify the whole ledger now" }
                output #verify-result role="status" aria-live="polite" {}
            }
            section aria-labelledby="head-h" {
                h2 #head-h { "Head" }
                dl {
                    dt { "Ledger" } dd { code { (v.trust.ledger_id().map(|u| u.to_string()).unwrap_or_default()) } }
                    dt { "Events" } dd { (events) }
                    @if let Some(h) = &head { dt { "Head" } dd { "#" (h.seq) " " code { (h.hash) } " at " (h.recorded_at) } }
                    dt { "Policy" } dd { "v" (v.trust.policy_version()) }
                }
            }
            section aria-labelledby="cp-h" {
                h2 #cp-h { "Latest signed checkpoint" }
                @match &latest {
                    Some(c) => {
                        dl {
                            dt { "Tree size" } dd { (c.checkpoint.size) }
                            dt { "Origin" } dd { code { (c.checkpoint.origin) } }
                        }
                        h3 { "Signatures and cosignatures" }
                        ul { @for sig in &c.note.signatures { li {
                            @if sig.bytes.len() == 64 { "Log signature by " } @else { "Cosignature by witness " }
                            code { (sig.name) } " (key id " code { (sig.key_id.iter().map(|b| format!("{b:02x}")).collect::<String>()) } ")"
                        } } }
                        details { summary { "The note as signed" } pre { (c.note.text) "\n" @for sig in &c.note.signatures { (sig.line()) "\n" } } }
                    },
                    None => { p { "No checkpoint signed yet: " code { "pledge checkpoint" } " or " code { "pledge serve --log-key NAME" } " signs one." } },
                }
            }
            section aria-labelledby="keys-h" {
                h2 #keys-h { "Keys" }
                table {
                    thead { tr { th scope="col" { "Principal" } th scope="col" { "Roles" } th scope="col" { "Key id" } th scope="col" { "Enrolled" } th scope="col" { "Revoked" } } }
                    tbody { @for k in &keys.enrolled { tr {
                        td { (k.principal) } td { (k.roles.iter().map(status_name).collect::<Vec<_>>().join(", ")) }
                        td { code { (k.key_id.get(..16).unwrap_or(&k.key_id)) "…" } } td { "#" (k.enrolled_seq) }
                        td { @if let Some(r) = k.revoked_seq { "#" (r) } @else { "—" } }
                    } } }
                }
            }
        };
        Ok(page("Audit", "/audit", frame, body))
    })
}
