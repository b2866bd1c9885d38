//! Progress on standard error: one line rewritten in place on a terminal, a plain line every
//! few seconds otherwise (logs and CI).

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

const PLAIN_EVERY: Duration = Duration::from_secs(5);

pub struct Progress {
    tty: bool,
    last_plain: Option<Instant>,
    width: usize,
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}

impl Progress {
    pub fn new() -> Self {
        Self { tty: std::io::stderr().is_terminal(), last_plain: None, width: 0 }
    }

    /// Shows the state of the run; call it often, it decides how often to print.
    pub fn show(&mut self, phase: &str, published: u64, delivered: u64, expected: (u64, u64)) {
        let (messages, deliveries) = expected;
        let line = format!(
            "{phase:<10} published {published}/{messages} ({:.0}%)  delivered {delivered}/{deliveries} ({:.0}%)",
            percent(published, messages),
            percent(delivered, deliveries)
        );
        let mut err = std::io::stderr().lock();
        if self.tty {
            let pad = self.width.saturating_sub(line.len());
            let _ = write!(err, "\r{line}{}", " ".repeat(pad));
            let _ = err.flush();
            self.width = line.len();
        } else if self.last_plain.is_none_or(|t| t.elapsed() >= PLAIN_EVERY) {
            let _ = writeln!(err, "{line}");
            self.last_plain = Some(Instant::now());
        }
    }

    /// A message on its own line (after clearing the progress line).
    pub fn say(&mut self, text: &str) {
        self.finish();
        eprintln!("{text}");
        self.last_plain = None;
    }

    /// Ends the progress line so that what follows starts on a fresh one.
    pub fn finish(&mut self) {
        if self.tty && self.width > 0 {
            eprint!("\r{}\r", " ".repeat(self.width));
            self.width = 0;
        }
    }
}

fn percent(done: u64, total: u64) -> f64 {
    if total == 0 {
        100.0
    } else {
        done as f64 * 100.0 / total as f64
    }
}
