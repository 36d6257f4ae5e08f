//! The `pledge` binary: everything lives in the `commands` library.

// mimalloc: decoding, canonicalising and verifying events allocate a great deal; measured
// about 25% faster verification than the system allocator (see the ledger bench).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    // Libraries only emit events (journal replays, torn tails, lost tails); RUST_LOG selects
    // them, on stderr so that `--json` output on stdout stays clean. Default: warnings.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).without_time().init();
    let code = commands::cli::run(std::env::args_os());
    // `pledge bench` runs commands as child processes and reads their peak memory from here.
    if std::env::var_os("PLEDGE_REPORT_PEAK_MEMORY").is_some() {
        if let Some(bytes) = ledger::bench::peak_resident_bytes() {
            eprintln!("pledge: peak resident memory {} kB", bytes / 1024);
        }
    }
    code
}
