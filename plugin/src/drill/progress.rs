//! The live progress display on stderr: on a terminal one status line redrawn in place with the
//! notable moments printed above it; elsewhere (CI, pipes) the notable moments as plain lines.

use std::io::{IsTerminal, Write};

pub struct Progress {
    tty: bool,
    status_shown: bool,
}

impl Progress {
    pub fn new() -> Self {
        Progress {
            tty: std::io::stderr().is_terminal(),
            status_shown: false,
        }
    }

    /// A notable moment, kept on screen.
    pub fn event(&mut self, text: &str) {
        let mut err = std::io::stderr().lock();
        if self.status_shown {
            let _ = write!(err, "\r\x1b[2K");
            self.status_shown = false;
        }
        let _ = writeln!(err, "drill: {text}");
    }

    /// The status line (terminals only), replaced by the next one.
    pub fn status(&mut self, text: &str) {
        if !self.tty {
            return;
        }
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K{text}");
        let _ = err.flush();
        self.status_shown = true;
    }

    pub fn clear(&mut self) {
        if self.status_shown {
            let _ = write!(std::io::stderr(), "\r\x1b[2K");
            self.status_shown = false;
        }
    }
}
