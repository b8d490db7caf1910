//! Alertmanager routing with Alertmanager's own code: `amtool config routes test` walks the
//! configuration's routing tree for an alert's labels and names the receiver(s) it reaches.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::promtool::Labels;
use super::InputError;
use crate::tools::Tool;

pub struct Router {
    amtool: PathBuf,
    config: PathBuf,
}

impl Router {
    /// Checks the configuration once (`amtool check-config`) so that a broken file is an input
    /// error, not a failed expectation.
    pub fn new(config: &Path, tool: &Tool) -> Result<Router, InputError> {
        let amtool = tool.path.clone();
        if !config.is_file() {
            return Err(InputError(format!("{}: no such file", config.display())));
        }
        // A configuration this amtool is too old for gets an error naming the release and the
        // field, instead of the YAML decoder's "field not found".
        if let Some(doc) = crate::lint::yaml::load_file(config)
            .ok()
            .and_then(|docs| docs.into_iter().find(crate::lint::yaml::Node::is_map))
        {
            crate::tools::alertmanager_supports(&doc.to_json(), config, tool)
                .map_err(InputError)?;
        }
        let out = Command::new(&amtool)
            .arg("check-config")
            .arg(config)
            .output()
            .map_err(|e| InputError(format!("cannot run {}: {e}", amtool.display())))?;
        if !out.status.success() {
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            let detail: Vec<&str> = text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with("Checking"))
                .collect();
            return Err(InputError(format!(
                "{}:1: invalid Alertmanager configuration: {}",
                config.display(),
                detail.join(" ")
            )));
        }
        Ok(Router {
            amtool,
            config: config.to_path_buf(),
        })
    }

    pub fn config(&self) -> &Path {
        &self.config
    }

    /// The receivers an alert with these labels reaches (several with `continue: true`).
    pub fn receivers(&self, labels: &Labels) -> Result<Vec<String>, InputError> {
        let mut cmd = Command::new(&self.amtool);
        cmd.args(["config", "routes", "test", "--config.file"])
            .arg(&self.config);
        for (k, v) in labels {
            cmd.arg(format!("{k}={}", quote(v)));
        }
        let out = cmd
            .output()
            .map_err(|e| InputError(format!("cannot run {}: {e}", self.amtool.display())))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let line = stdout
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("");
        if line.is_empty() {
            return Err(InputError(format!(
                "amtool config routes test failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(line
            .split(',')
            .map(|r| r.trim().to_string())
            .filter(|r| !r.is_empty())
            .collect())
    }
}

/// A label value as amtool's matcher parser reads it: quoted when it is not a plain word.
fn quote(v: &str) -> String {
    if !v.is_empty()
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:/".contains(c))
    {
        v.to_string()
    } else {
        format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""))
    }
}
