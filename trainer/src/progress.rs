//! Progress for long steps: a bar on a terminal (indicatif), nothing on a pipe or in tests.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Reports progress of the trainer's stages.
#[derive(Debug, Clone)]
pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// No output at all.
    pub fn hidden() -> Progress {
        Progress { bar: None }
    }

    /// A bar on stderr when stderr is a terminal; hidden otherwise.
    pub fn stderr() -> Progress {
        if !std::io::stderr().is_terminal() {
            return Progress::hidden();
        }
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template("{spinner} {msg:<28} [{bar:30}] {pos}/{len} {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        bar.set_style(style);
        Progress { bar: Some(bar) }
    }

    /// Starts a stage of `steps` steps.
    pub fn stage(&self, message: &str, steps: u64) {
        if let Some(b) = &self.bar {
            b.set_message(message.to_string());
            b.set_length(steps);
            b.set_position(0);
        }
    }

    /// One step of the current stage done.
    pub fn step(&self) {
        if let Some(b) = &self.bar {
            b.inc(1);
        }
    }

    /// Clears the bar.
    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}
