//! The `pledge` binary: everything lives in the `commands` library.

// mimalloc: decoding, canonicalising and verifying events allocate a great deal; measured
// about 25% faster verification than the system allocator (see the ledger bench).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    commands::cli::run(std::env::args_os())
}
