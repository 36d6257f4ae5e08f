//! The `pledge` binary: everything lives in the `commands` library.

fn main() -> std::process::ExitCode {
    commands::cli::run(std::env::args_os())
}
