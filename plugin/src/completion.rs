//! `kubectl flux-monitor completion bash|zsh|fish`: shell completion for the plugin binary.

use std::io::Write;

use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::{Cli, CompletionShell};

/// The executable's name, which shells complete (kubectl itself completes plugins by it too).
pub const BIN: &str = "kubectl-flux_monitor";

pub fn write(shell: CompletionShell, out: &mut dyn Write) {
    let shell = match shell {
        CompletionShell::Bash => Shell::Bash,
        CompletionShell::Zsh => Shell::Zsh,
        CompletionShell::Fish => Shell::Fish,
    };
    clap_complete::generate(shell, &mut Cli::command(), BIN, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_name_the_binary_and_its_commands() {
        for shell in [
            CompletionShell::Bash,
            CompletionShell::Zsh,
            CompletionShell::Fish,
        ] {
            let mut buf = Vec::new();
            write(shell, &mut buf);
            let text = String::from_utf8(buf).unwrap();
            assert!(text.contains(BIN), "{shell:?}");
            assert!(text.contains("status"), "{shell:?}");
        }
    }
}
