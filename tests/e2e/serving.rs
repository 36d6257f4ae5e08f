//! Serving from a real `pledge serve`: the champion trained on real data answers over HTTP
//! exactly what `pledge predict` computes from the same rows, as CSV and as JSON.

use std::io::{Read, Write};
use std::path::PathBuf;

use serde_json::{json, Value};

use crate::remote::Server;
use crate::workflow::team;

fn data(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../trainer/data").join(name).display().to_string()
}

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
    t.ok(&[
        "hypothesis",
        "propose",
        "H-TAXI-1",
        "taxi-tip",
        "--statement",
        "a logistic model predicts tips",
        "--change-type",
        "architecture",
        "--target-metric",
        "roc_auc",
        "--expected-improvement",
        "1",
        "--owner",
        "maya",
        "--as",
        "maya",
    ]);
    t.ok(&[
        "train-candidate",
        "taxi-tip",
        "--hypothesis-id",
        "H-TAXI-1",
        "--change-type",
        "architecture",
        "--change-summary",
        "logistic baseline",
        "--owner",
        "maya",
        "--feature-set-version",
        "v1",
        "--dataset-version",
        "2026-04",
        "--data",
        &data("taxi.csv"),
        "--spec",
        &data("taxi.spec.json"),
        "--as",
        "maya",
    ]);
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
