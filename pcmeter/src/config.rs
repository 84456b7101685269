//! The per-user configuration file: `pcmeter/config.toml` in the
//! conventional configuration directory (`$XDG_CONFIG_HOME` or
//! `~/.config` on Linux), or the file `PCMETER_CONFIG` names. A missing
//! file means defaults; flags override what the file says.

use crate::cli::error::{CliError, CliResult};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Environment variable naming another configuration file.
pub const CONFIG_ENV: &str = "PCMETER_CONFIG";

/// Label formats `print` and `batch` can write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LabelFormat {
    /// PNG image.
    #[default]
    Png,
    /// SVG image.
    Svg,
    /// PDF page.
    Pdf,
}

/// The settings the file can hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Base URL of the authority (recharge, inspection, certificates).
    pub authority_url: Option<String>,
    /// CA certificate (PEM) trusted for an `https://` authority.
    pub authority_ca: Option<PathBuf>,
    /// PC/SC reader used when neither `--reader`, `--meter-id` nor `--sim` is given.
    pub reader: Option<String>,
    /// Meter ID used when no reader is named.
    pub meter_id: Option<String>,
    /// Simulated meter state file used when no reader or meter is named.
    pub sim: Option<PathBuf>,
    /// Default label format.
    pub label_format: Option<LabelFormat>,
}

impl Config {
    /// Where the configuration is read from: `PCMETER_CONFIG`, else the per-user file.
    pub fn path() -> Option<PathBuf> {
        match std::env::var_os(CONFIG_ENV) {
            Some(p) if !p.is_empty() => Some(PathBuf::from(p)),
            _ => dirs::config_dir().map(|d| d.join("pcmeter").join("config.toml")),
        }
    }

    /// Reads the configuration (defaults when the file does not exist).
    pub fn load() -> CliResult<(Self, Option<PathBuf>)> {
        let Some(path) = Self::path() else { return Ok((Self::default(), None)) };
        Ok((Self::read(&path)?, Some(path)))
    }

    /// Reads `path`; a missing file is the default configuration.
    pub fn read(path: &Path) -> CliResult<Self> {
        match std::fs::read_to_string(path) {
            Ok(text) => toml::from_str(&text).map_err(|e| CliError::input(format!("{}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(CliError::io(path, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_with_every_setting_parses_and_unknown_keys_are_refused() {
        let text = "authority_url = \"https://authority.example\"\nreader = \"Virtual PCD 00 00\"\n\
                    label_format = \"svg\"\n";
        let c: Config = toml::from_str(text).unwrap();
        assert_eq!(c.authority_url.as_deref(), Some("https://authority.example"));
        assert_eq!(c.reader.as_deref(), Some("Virtual PCD 00 00"));
        assert_eq!(c.label_format, Some(LabelFormat::Svg));
        assert!(toml::from_str::<Config>("pin = \"123456\"\n").is_err(), "no PIN in the config file");
    }

    #[test]
    fn a_missing_file_is_the_default() {
        let c = Config::read(Path::new("/nonexistent/pcmeter/config.toml")).unwrap();
        assert_eq!(c, Config::default());
    }
}
