use std::time::Instant;
use ledger::keys::SecretKey;
fn main() {
    let k = SecretKey::from_seed([3; 32]);
    let msg = vec![7u8; 600];
    let sig = k.sign(&msg);
    let pk = k.public();
    let n = 5000;
    let t = Instant::now();
    for _ in 0..n { assert!(pk.verify_strict(&msg, &sig)); }
    println!("verify_strict {:.1} us", t.elapsed().as_secs_f64() * 1e6 / n as f64);
    let t = Instant::now();
    for _ in 0..n { let _ = k.sign(&msg); }
    println!("sign {:.1} us", t.elapsed().as_secs_f64() * 1e6 / n as f64);
    let bytes = br#"{"cause":{"command":{"payload":"eyJib2R5Ijp7ImNvdW50IjoyLCJzZWdtZW50IjpudWxsfSwiaWQiOiIwMTlhM2U3Yy0wMDAwLTcwMDAtODAwMC0wMDAwMDAwMDAwMTQiLCJpc3N1ZWRfYXQiOiIyMDI2LTExLTAxVDA5OjAwOjAwLjAwMDAwMFoiLCJraW5kIjoibm90ZS5yZWNvcmQiLCJsZWRnZXIiOiIwMTlhM2U3Yy0wMDAwLTcwMDAtODAwMC0wMDAwMDAwMDAwMDEifQ==","payloadType":"application/vnd.pledge.command.v1+json","signatures":[{"keyid":"1eed29b1654fbca94617004d7969dfc4652b1f30a7a8b771c34800155483380b","sig":"GF2IoihbMOP/zEBh6qPRL3EMLXNmhYRjCTOO0ycHksiNRJHw3sZ9Xzk8iwdlJ/UpLV5j8GGajOm2y4xk1PlYAw=="}]}},"format":1,"kind":"note.recorded","kind_version":1,"payload":{"i":0,"x":0},"prev":"13c16889d5b3939ce3c565180a9c3f5fd7dd22eba3f3ab08b834b13fa1c26691","recorded_at":"2026-11-01T09:00:05.000000Z","seq":5,"subject":{"model":"m","segment":null}}"#;
    let t = Instant::now();
    for _ in 0..n { let _ = ledger::RecordedEvent::decode(bytes.to_vec()).unwrap(); }
    println!("decode+canonical check {:.1} us", t.elapsed().as_secs_f64() * 1e6 / n as f64);
    let ev = ledger::RecordedEvent::decode(bytes.to_vec()).unwrap();
    let env = ev.event.command_envelope().unwrap().clone();
    let t = Instant::now();
    for _ in 0..n { let _ = ledger::SignedCommand::parse(env.clone()).unwrap(); }
    println!("command parse {:.1} us", t.elapsed().as_secs_f64() * 1e6 / n as f64);
    let t = Instant::now();
    for _ in 0..n { let _ = ledger::Digest::of(bytes); }
    println!("blake3 {:.2} us", t.elapsed().as_secs_f64() * 1e6 / n as f64);
}
