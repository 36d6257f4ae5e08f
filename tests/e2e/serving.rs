//! Serving from a real `pledge serve`: the champion trained on real data answers over HTTP
//! exactly what `pledge predict` computes from the same rows, as CSV and as JSON.

use std::io::{Read, Write};

use serde_json::{json, Value};

use crate::remote::Server;
use crate::training::{data, propose, TRAIN};
use crate::workflow::team;

/// One HTTP/1.1 request with a body; the status and the JSON answer.
pub(crate) fn send(url: &str, method: &str, path: &str, content_type: &str, body: &str) -> (u16, Value) {
    let addr = url.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(30))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let (head, rest) = text.split_once("\r\n\r\n").unwrap();
    let code = head.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap();
    (code, serde_json::from_str(rest).unwrap_or_else(|e| panic!("{e}: {rest}")))
}

#[test]
fn the_served_champion_answers_what_pledge_predict_computes() {
    let t = team();
    propose(&t, &["H-TAXI-1"]);
    let mut args = TRAIN.to_vec();
    let (csv, spec) = (data("taxi.csv"), data("taxi.spec.json"));
    args.extend(["--data", &csv, "--spec", &spec]);
    t.ok(&args);
    t.ok(&["bootstrap-champion", "taxi-tip", "1", "--as", "colby", "--reason", "baseline"]);

    // 300 real rows without their label, scored by the CLI first (the server holds the ledger).
    let csv = std::fs::read_to_string(data("taxi.csv")).unwrap();
    let rows: Vec<&str> = csv.lines().skip(1).take(300).collect();
    let unlabelled: String = std::iter::once("distance,company,local,dow,month,hour")
        .chain(rows.iter().map(|l| l.split_once(',').unwrap().1))
        .map(|l| format!("{l}\n"))
        .collect();
    let file = t.ledger.parent().unwrap().join("rows.csv");
    std::fs::write(&file, &unlabelled).unwrap();
    let cli = t.ok(&["predict", "--model", "taxi-tip", file.to_str().unwrap()]);
    let want: Vec<f64> =
        cli["predictions"].as_array().unwrap().iter().map(|p| p["probability"].as_f64().unwrap()).collect();
    assert_eq!(want.len(), 300);

    let server = Server::start(&t);
    let (code, v) = send(&server.url, "POST", "/api/v1/models/taxi-tip/predict", "text/csv", &unlabelled);
    assert_eq!(code, 200, "{v}");
    let got: Vec<f64> =
        v["predictions"].as_array().unwrap().iter().map(|p| p["probability"].as_f64().unwrap()).collect();
    assert_eq!(got, want, "the server scores exactly as `pledge predict`");
    assert!(v["predictions"].as_array().unwrap().iter().all(|p| p["version"] == 1 && p["segment"].is_null()));

    // The same rows as JSON objects (numbers as numbers).
    let objects: Vec<Value> = unlabelled
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            json!({"distance": f[0].parse::<f64>().unwrap(), "company": f[1], "local": f[2], "dow": f[3],
                   "month": f[4], "hour": f[5].parse::<f64>().unwrap()})
        })
        .collect();
    let body = json!({"rows": objects}).to_string();
    let (code, v) = send(&server.url, "POST", "/api/v1/models/taxi-tip/predict", "application/json", &body);
    assert_eq!(code, 200, "{v}");
    let got: Vec<f64> =
        v["predictions"].as_array().unwrap().iter().map(|p| p["probability"].as_f64().unwrap()).collect();
    assert_eq!(got, want);

    let (code, info) = send(&server.url, "GET", "/api/v1/models/taxi-tip", "application/json", "");
    assert_eq!(code, 200, "{info}");
    assert_eq!(info["task"], "classification");
    assert_eq!(info["routes"][0]["version"], 1);
    assert_eq!(info["routes"][0]["family"], "logistic");
    let (code, ready) = send(&server.url, "GET", "/api/v1/ready", "application/json", "");
    assert_eq!((code, ready["ready"].clone(), ready["models_served"].clone()), (200, json!(true), json!(1)));
    assert!(server.stop().success());
}

/// The seeds' shadow loop from the terminal on real data: an experiment's classifier in shadow
/// beside the champion, served predictions logged, outcomes recorded with `pledge actuals
/// record`, and `pledge shadow evaluate` appending a window whose log-loss and accuracy equal
/// those computed here from the logged rows; the ledger then verifies.
#[test]
fn a_shadow_window_is_measured_from_served_predictions_and_real_outcomes() {
    let t = team();
    let (csv, spec) = (data("taxi.csv"), data("taxi.spec.json"));
    let train = |id: &str, extra: &[&str]| {
        let mut args: Vec<&str> = TRAIN.iter().map(|a| if *a == "H-TAXI-1" { id } else { a }).collect();
        args.extend(["--data", &csv, "--spec", &spec]);
        args.extend(extra);
        t.ok(&args)
    };
    propose(&t, &["H-1", "H-2"]);
    train("H-1", &[]);
    t.ok(&["bootstrap-champion", "taxi-tip", "1", "--as", "colby", "--reason", "baseline"]);
    t.ok(&["experiment", "approve", "H-2", "--rationale", "try it", "--as", "colby"]);
    t.ok(&["experiment", "start", "H-2", "--as", "maya"]);
    let params = t.ledger.parent().unwrap().join("strong.json");
    std::fs::write(&params, r#"{"alpha": 50}"#).unwrap();
    train("H-2", &["--trigger", "experiment", "--params", params.to_str().unwrap()]);
    t.ok(&["experiment", "shadow", "H-2", "--windows", "1", "--as", "maya"]);

    // April's first 400 trips, served with their row number as key.
    let csv = std::fs::read_to_string(data("taxi.csv")).unwrap();
    let april: Vec<&str> = csv.lines().skip(1).filter(|l| l.contains(",Apr,")).take(400).collect();
    let body: String = std::iter::once("id,distance,company,local,dow,month,hour".to_string())
        .chain(april.iter().enumerate().map(|(i, l)| format!("t{i},{}", l.split_once(',').unwrap().1)))
        .map(|l| format!("{l}\n"))
        .collect();
    let server = Server::start(&t);
    let (code, v) =
        send(&server.url, "POST", "/api/v1/models/taxi-tip/predict?key_column=id", "text/csv", &body);
    assert_eq!(code, 200, "{v}");
    let (_, info) = send(&server.url, "GET", "/api/v1/models/taxi-tip", "application/json", "");
    assert_eq!(info["shadows"][0]["version"], 2, "{info}");

    // The outcomes: the real tips, by key.
    let outcomes: String = std::iter::once("key,actual".to_string())
        .chain(april.iter().enumerate().map(|(i, l)| format!("t{i},{}", l.split(',').next().unwrap())))
        .map(|l| format!("{l}\n"))
        .collect();
    let file = t.ledger.parent().unwrap().join("outcomes.csv");
    std::fs::write(&file, outcomes).unwrap();
    let r = t.ok(&["actuals", "record", "taxi-tip", file.to_str().unwrap(), "--server", &server.url]);
    assert_eq!(r["recorded"], 400);

    let day = chrono_day();
    let e = t.ok(&[
        "shadow",
        "evaluate",
        "taxi-tip",
        "--since",
        &format!("{day}T00:00:00Z"),
        "--until",
        &format!("{day}T23:59:59Z"),
        "--server",
        &server.url,
        "--as",
        "maya",
    ]);
    let win = &e["events"][0]["payload"];
    assert_eq!(e["events"][0]["kind"], "shadow.recorded", "{e}");
    assert_eq!(
        (win["champion"].clone(), win["challenger"].clone(), win["samples"].clone()),
        (json!(1), json!(2), json!(400))
    );
    assert_eq!(win["hypothesis_id"], "H-2");

    // By hand from the log: log-loss and accuracy of each version on the same 400 rows.
    let log = std::fs::read_to_string(t.ledger.join("predictions").join(format!("{day}.jsonl"))).unwrap();
    let logged: Vec<Value> = log.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let y: Vec<f64> = april.iter().map(|l| if l.starts_with("yes,") { 1.0 } else { 0.0 }).collect();
    let by_hand = |p: Vec<f64>| {
        let n = p.len() as f64;
        let eps = f64::EPSILON;
        let ll = -p
            .iter()
            .zip(&y)
            .map(|(q, t)| {
                let q = q.clamp(eps, 1.0 - eps);
                t * q.ln() + (1.0 - t) * (1.0 - q).ln()
            })
            .sum::<f64>()
            / n;
        let acc = p.iter().zip(&y).filter(|(q, t)| (**q >= 0.5) == (**t == 1.0)).count() as f64 / n;
        (ll, acc)
    };
    let champ = by_hand(logged.iter().map(|r| r["value"].as_f64().unwrap()).collect());
    let chall = by_hand(logged.iter().map(|r| r["shadow"][0]["value"].as_f64().unwrap()).collect());
    for (m, (ll, acc)) in [(&win["champion_metrics"], champ), (&win["challenger_metrics"], chall)] {
        assert!((m["log_loss"].as_f64().unwrap() - ll).abs() < 1e-12, "{m} vs {ll}");
        assert!((m["accuracy"].as_f64().unwrap() - acc).abs() < 1e-12, "{m} vs {acc}");
    }
    assert_ne!(champ, chall, "two different models");
    assert!(server.stop().success());
    assert_eq!(t.ok(&["verify"])["ok"], true);
}

/// Today's UTC date, as the prediction log names its files.
fn chrono_day() -> String {
    let out = std::process::Command::new("date").args(["-u", "+%Y-%m-%d"]).output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}
