//! Writing to the terminal: every line goes through [`outln!`], which never panics when the
//! reader went away (`pledge log | head -1`): the run unwinds quietly and exits 0, after any
//! commit it made (commits are durable before anything is printed). Errors are printed by
//! [`report_failure`]: `error:` and `hint:` lines, or with `--json` one JSON document on
//! standard error.

use std::io::Write;

use ledger::RecordedEvent;
use serde_json::json;

use super::style::{paint_err, Paint};
use crate::app::failure::Failure;
use crate::app::query::EventDoc;

/// The unwinding payload of a write to a closed standard output.
#[derive(Debug)]
pub struct ClosedPipe;

/// Writes text to standard output (see [`write_line`]).
pub fn write_text(args: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::panic::resume_unwind(Box::new(ClosedPipe));
        }
        std::panic::resume_unwind(Box::new(e.to_string()));
    }
}

/// Writes one line to standard output; a closed pipe unwinds with [`ClosedPipe`] (caught by
/// `cli::run`, which then exits 0), any other write error too (exit 4).
pub fn write_line(args: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    let written = out.write_fmt(args).and_then(|()| out.write_all(b"\n"));
    if let Err(e) = written {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::panic::resume_unwind(Box::new(ClosedPipe));
        }
        std::panic::resume_unwind(Box::new(e.to_string()));
    }
}

/// `println!` that never panics on a closed pipe (see [`write_line`]).
macro_rules! outln {
    () => {
        $crate::cli::output::write_line(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::cli::output::write_line(format_args!($($arg)*))
    };
}
pub(crate) use outln;

/// `print!` that never panics on a closed pipe.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cli::output::write_text(format_args!($($arg)*))
    };
}
pub(crate) use out;

/// Prints appended events: one line each, or a JSON document.
pub fn print_events(json_out: bool, events: &[RecordedEvent]) {
    let docs: Vec<EventDoc> = events.iter().map(EventDoc::from).collect();
    if json_out {
        outln!("{}", json!({"ok": true, "events": docs}));
    } else {
        print_event_lines(&docs);
    }
}

/// One line per event: sequence number, kind, summary.
pub fn print_event_lines(docs: &[EventDoc]) {
    for e in docs {
        let summary = projections::query::summarize_parts(&e.kind, &e.payload);
        outln!("#{:<5} {:<24} {}", e.seq, e.kind, summary);
    }
}

/// Prints a failure on standard error: `error:` / `hint:` (coloured on a terminal), or with
/// `json` the document `{"error": {"rule", "message", "hint", "exit"}}`. Write errors are
/// ignored: there is nowhere left to report them.
pub fn report_failure(f: &Failure, json_out: bool) {
    let text = if json_out {
        json!({"error": {"rule": f.rule, "message": f.message, "hint": f.hint, "exit": f.code}}).to_string()
    } else {
        let mut t = format!("{} {}", paint_err("error:", Paint::Red), f.message_with_rule());
        if let Some(h) = &f.hint {
            t.push_str(&format!("\n{} {h}", paint_err("hint:", Paint::Yellow)));
        }
        t
    };
    let _ = writeln!(std::io::stderr().lock(), "{text}");
}

/// Prints a document as one line of JSON.
pub fn print_json<T: serde::Serialize>(doc: &T) -> Result<(), Failure> {
    outln!("{}", serde_json::to_string(doc).map_err(Failure::internal)?);
    Ok(())
}
