//! Ledger benchmark: durable single appends, batched appends, full verification and scans.
//!
//! ```text
//! cargo run --release -p ledger --example bench -- [--json] [--events N] [--single N] [--batch N]
//!                                                    [--events-per-command K]
//! ```
//!
//! Everything runs in a fresh temporary directory. Commands are signed before timing starts
//! (signing happens on the client). Figures are medians or throughputs of one run; run it a few
//! times on a quiet machine before quoting them.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Args {
    json: bool,
    events: usize,
    single: usize,
    batch: usize,
    per_command: usize,
}

fn parse_args() -> Args {
    let mut a = Args { json: false, events: 100_000, single: 10_000, batch: 1_000, per_command: 1 };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut num = |name: &str| -> usize {
            it.next().and_then(|v| v.parse().ok()).unwrap_or_else(|| {
                eprintln!("error: `{name}` needs a number");
                std::process::exit(2)
            })
        };
        match arg.as_str() {
            "--json" => a.json = true,
            "--events" => a.events = num("--events"),
            "--single" => a.single = num("--single"),
            "--batch" => a.batch = num("--batch").max(1),
            "--events-per-command" => a.per_command = num("--events-per-command").clamp(1, 1000),
            "-h" | "--help" => {
                println!(
                    "bench [--json] [--events N (100000)] [--single N (10000 commands)] [--batch N (1000 commands)] [--events-per-command K (1)]"
                );
                std::process::exit(0)
            }
            other => {
                eprintln!("error: unknown argument `{other}`");
                std::process::exit(2)
            }
        }
    }
    a.single = a.single.min(a.events);
    a
}

fn main() {
    let a = parse_args();
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let cfg = ledger::bench::Config {
        events: a.events,
        single: a.single,
        batch: a.batch,
        per_command: a.per_command,
    };
    let report = match ledger::bench::run(tmp.path(), cfg) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(4)
        }
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report).expect("JSON"));
    } else {
        println!("{}", ledger::bench::render(&report));
    }
}
