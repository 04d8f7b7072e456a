//! Progress bars for the commands that take a while (synth, replay, eval):
//! indicatif bars on stderr, drawn only when stderr is a terminal (never in
//! CI logs or pipes), and hidden entirely unless the command asked for one.
//!
//! Advancing a bar is an atomic add; drawing is rate-limited by indicatif.
//! Only the feeding and command threads use it, never a lane.

use crate::bag::Bag;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar, or nothing (the default).
#[derive(Debug, Clone)]
pub struct Progress(ProgressBar);

impl Default for Progress {
    fn default() -> Self {
        Progress::hidden()
    }
}

impl Progress {
    /// Draws nothing.
    pub fn hidden() -> Self {
        Progress(ProgressBar::hidden())
    }

    /// `total` steps of `unit`, labelled `what`, on stderr when it is a
    /// terminal.
    pub fn bar(what: &str, total: u64, unit: &str) -> Self {
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        let template =
            format!("{{prefix}} [{{bar:40}}] {{pos}}/{{len}} {unit} ({{per_sec}}, {{eta}} left)");
        if let Ok(style) = ProgressStyle::with_template(&template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_prefix(what.to_owned());
        Progress(bar)
    }

    /// One step per message of `bag` (its summary's count; `passes` times
    /// for a loop).
    pub fn messages(what: &str, bag: &Bag, passes: u64) -> Self {
        use std::io::IsTerminal as _;
        if !std::io::stderr().is_terminal() {
            // Not drawn anyway: spare counting the messages.
            return Progress::hidden();
        }
        let total = bag
            .topics()
            .map(|topics| topics.iter().map(|t| t.message_count).sum::<u64>())
            .unwrap_or(0);
        Progress::bar(what, total * passes.max(1), "messages")
    }

    pub fn inc(&self) {
        self.0.inc(1);
    }

    /// Removes the bar, so the command's own output follows cleanly.
    pub fn finish(&self) {
        self.0.finish_and_clear();
    }
}
