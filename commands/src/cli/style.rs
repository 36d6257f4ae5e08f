//! Terminal colour, the one place that knows escape codes: used only when the stream is a
//! terminal and `NO_COLOR` is unset, so pipes, files and `--json` never carry them.

/// A colour.
#[derive(Debug, Clone, Copy)]
pub enum Paint {
    /// Failures, red gates, critical alerts.
    Red,
    /// Green gates.
    Green,
    /// Warnings and hints.
    Yellow,
}

fn colour_on(stderr: bool) -> bool {
    use std::io::IsTerminal;
    if std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) {
        return false;
    }
    if stderr {
        std::io::stderr().is_terminal()
    } else {
        std::io::stdout().is_terminal()
    }
}

/// `text` in `paint` for standard output (plain when it is not a terminal).
pub fn paint(text: &str, paint: Paint) -> String {
    paint_for(false, text, paint)
}

/// `text` in `paint` for standard error (plain when it is not a terminal).
pub fn paint_err(text: &str, paint: Paint) -> String {
    paint_for(true, text, paint)
}

fn paint_for(stderr: bool, text: &str, paint: Paint) -> String {
    if !colour_on(stderr) {
        return text.to_string();
    }
    let code = match paint {
        Paint::Red => "31",
        Paint::Green => "32",
        Paint::Yellow => "33",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

/// A severity, padded to `width` and coloured for standard output.
pub fn severity(sev: projections::state::Severity, width: usize) -> String {
    use projections::state::Severity;
    let padded = format!("{:<width$}", sev.as_str());
    match sev {
        Severity::Critical => paint(&padded, Paint::Red),
        Severity::Warning => paint(&padded, Paint::Yellow),
        Severity::Info => padded,
    }
}
