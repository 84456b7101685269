//! What a command prints: text for people, or one JSON document (the
//! command's schema in docs/schemas/) under `--json`.

use super::error::{CliError, CliResult};
use serde::Serialize;

/// A command's result, in both forms.
pub struct Report {
    /// Lines for people.
    pub text: String,
    /// The JSON document.
    pub json: serde_json::Value,
    /// The exit status: success unless the command finished only in part
    /// (a batch stopped by insufficient funds), which still prints its report.
    pub exit: Option<super::error::Exit>,
}

impl Report {
    /// A report of `data` (the JSON form) and `text`.
    pub fn new(data: &impl Serialize, text: String) -> CliResult<Self> {
        let json = serde_json::to_value(data).map_err(|e| CliError::new(super::error::Exit::Failure, e.to_string()))?;
        Ok(Self { text, json, exit: None })
    }

    /// The same report, ending the process with `exit` instead of success.
    pub fn with_exit(mut self, exit: super::error::Exit) -> Self {
        self.exit = Some(exit);
        self
    }

    /// Prints the report on standard output.
    pub fn print(&self, json: bool) {
        if json {
            println!("{}", self.json);
        } else {
            print!("{}", self.text);
            if !self.text.ends_with('\n') && !self.text.is_empty() {
                println!();
            }
        }
    }
}

/// Unix seconds as an RFC 3339 UTC date-time.
pub fn rfc3339(unix: u64) -> String {
    let secs = unix % 86_400;
    let ymd = apdu_specs::date::yyyymmdd_from_unix(unix);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        ymd / 10_000,
        ymd / 100 % 100,
        ymd % 100,
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}
