//! The report's rules, kept apart from the measurements so that they are
//! unit-tested without running a benchmark: a row's ratio against its
//! same-run limit, its verdict against its target, the reason a missed row
//! must carry (from `bench/reasons.toml`), the authority's `--json` output,
//! and the Markdown table.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// What a row is compared with.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Target {
    /// `ratio ≥ f` (a rate against a limit rate).
    RatioAtLeast(f64),
    /// `ratio ≤ f` (a time against a limit time).
    RatioAtMost(f64),
    /// `value < bound` (a size, in the row's unit).
    Below(f64),
    /// Reported beside its limit, no target.
    Reported,
}

/// A row's figure, or why there is none.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A figure and its unit.
    Measured(f64, &'static str),
    /// The measurement could not run; the text says why. Never a figure.
    Error(String),
}

/// The same-run limit a row is divided by.
#[derive(Debug, Clone, PartialEq)]
pub struct Limit {
    /// What the limit is ("raw aws-lc sign").
    pub label: String,
    /// Its figure, in the row's unit.
    pub value: f64,
}

/// One line of the table.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Stable id, the key of `bench/reasons.toml` (`indicia.memory.aws-lc`).
    pub id: String,
    /// What was measured.
    pub measurement: String,
    /// The figure.
    pub value: Value,
    /// The same-run limit, if the row has one.
    pub limit: Option<Limit>,
    /// The target.
    pub target: Target,
}

/// A row's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Target met.
    Met,
    /// Target missed: the row needs a reason.
    Missed,
    /// No target (reported only).
    Reported,
    /// Not measured: the row needs a reason too.
    Error,
}

impl Row {
    /// A measured row.
    pub fn new(id: impl Into<String>, measurement: impl Into<String>, value: f64, unit: &'static str) -> Self {
        Self {
            id: id.into(),
            measurement: measurement.into(),
            value: Value::Measured(value, unit),
            limit: None,
            target: Target::Reported,
        }
    }

    /// A row that could not be measured.
    pub fn error(id: impl Into<String>, measurement: impl Into<String>, why: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            measurement: measurement.into(),
            value: Value::Error(why.into()),
            limit: None,
            target: Target::Reported,
        }
    }

    /// Sets the same-run limit.
    pub fn against(mut self, label: impl Into<String>, value: f64) -> Self {
        self.limit = Some(Limit { label: label.into(), value });
        self
    }

    /// Sets the target.
    pub fn target(mut self, target: Target) -> Self {
        self.target = target;
        self
    }

    /// The figure divided by the limit (`None` without both, or a zero limit).
    pub fn ratio(&self) -> Option<f64> {
        match (&self.value, &self.limit) {
            (Value::Measured(v, _), Some(l)) if l.value > 0.0 && l.value.is_finite() && v.is_finite() => {
                Some(v / l.value)
            }
            _ => None,
        }
    }

    /// The verdict under the row's target.
    pub fn verdict(&self) -> Verdict {
        let Value::Measured(value, _) = self.value else { return Verdict::Error };
        let ok = match self.target {
            Target::Reported => return Verdict::Reported,
            Target::Below(bound) => value < bound,
            // A ratio target without a usable limit cannot be judged: an error.
            Target::RatioAtLeast(f) => match self.ratio() {
                Some(r) => r >= f,
                None => return Verdict::Error,
            },
            Target::RatioAtMost(f) => match self.ratio() {
                Some(r) => r <= f,
                None => return Verdict::Error,
            },
        };
        if ok { Verdict::Met } else { Verdict::Missed }
    }
}

/// One entry of `bench/reasons.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reason {
    /// The command that produced the profile.
    pub profile: String,
    /// What the profile showed: the reason the target is missed.
    pub finding: String,
}

/// Why the reasons file was refused.
#[derive(Debug, thiserror::Error)]
pub enum ReasonsError {
    /// Not TOML of the expected shape.
    #[error("bench/reasons.toml: {0}")]
    Parse(#[from] toml::de::Error),
    /// An entry with an empty field.
    #[error("bench/reasons.toml: entry `{0}` has an empty `profile` or `finding`")]
    Empty(String),
}

/// Parses the reasons file: a table per row id, each with `profile` and `finding`.
pub fn parse_reasons(text: &str) -> Result<BTreeMap<String, Reason>, ReasonsError> {
    let map: BTreeMap<String, Reason> = toml::from_str(text)?;
    if let Some((id, _)) = map.iter().find(|(_, r)| r.profile.trim().is_empty() || r.finding.trim().is_empty()) {
        return Err(ReasonsError::Empty(id.clone()));
    }
    Ok(map)
}

/// Rows whose target is missed (or that could not be measured) and have no reason.
pub fn unexplained<'a>(rows: &'a [Row], reasons: &BTreeMap<String, Reason>) -> Vec<&'a Row> {
    rows.iter()
        .filter(|r| matches!(r.verdict(), Verdict::Missed | Verdict::Error) && !reasons.contains_key(&r.id))
        .collect()
}

/// Formats a figure for the table: thousands for large numbers, three
/// significant decimals for small ones.
pub fn figure(v: f64) -> String {
    if !v.is_finite() {
        return "—".into();
    }
    let a = v.abs();
    if a >= 100.0 {
        grouped(v.round() as i64)
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}

/// An integer with thousands separators.
pub fn grouped(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

fn target_text(t: Target, unit: &str) -> String {
    match t {
        Target::RatioAtLeast(f) => format!("≥ {f} ×"),
        Target::RatioAtMost(f) => format!("≤ {f} ×"),
        Target::Below(b) => format!("< {} {unit}", figure(b)),
        Target::Reported => "reported".into(),
    }
}

/// The Markdown table, one line per row; missed and error rows name their reason's anchor.
pub fn table(rows: &[Row], reasons: &BTreeMap<String, Reason>) -> String {
    let mut out = String::from(
        "| measurement | value | same-run limit | ratio | target | verdict |\n|---|---|---|---|---|---|\n",
    );
    for r in rows {
        let (value, unit) = match &r.value {
            Value::Measured(v, u) if *u == "B" => (format!("{} {u}", grouped(v.round() as i64)), *u),
            Value::Measured(v, u) => (format!("{} {u}", figure(*v)), *u),
            Value::Error(why) => (format!("not measured: {}", why.replace('|', "\\|")), ""),
        };
        let limit = r.limit.as_ref().map_or("—".into(), |l| format!("{}: {} {unit}", l.label, figure(l.value)));
        let ratio = r.ratio().map_or("—".into(), |x| format!("{x:.3}"));
        let verdict = match r.verdict() {
            Verdict::Met => "met".to_string(),
            Verdict::Reported => "—".to_string(),
            v => {
                let word = if v == Verdict::Missed { "**missed**" } else { "**not measured**" };
                if reasons.contains_key(&r.id) {
                    format!("{word}: [reason](#{})", anchor(&r.id))
                } else {
                    format!("{word}: NO REASON")
                }
            }
        };
        let _ = writeln!(
            out,
            "| {} <sub>`{}`</sub> | {value} | {limit} | {ratio} | {} | {verdict} |",
            r.measurement,
            r.id,
            target_text(r.target, unit)
        );
    }
    out
}

/// The HTML anchor of a row's reason.
pub fn anchor(id: &str) -> String {
    let mut a = String::from("reason-");
    a.extend(id.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }));
    a
}

/// The reasons of the rows that need one, as a Markdown section.
pub fn reasons_section(rows: &[Row], reasons: &BTreeMap<String, Reason>) -> String {
    let mut out = String::new();
    for r in rows {
        if !matches!(r.verdict(), Verdict::Missed | Verdict::Error) {
            continue;
        }
        if let Some(reason) = reasons.get(&r.id) {
            let _ = write!(
                out,
                "<a id=\"{}\"></a>**`{}`** ({}). Profile: `{}`. {}\n\n",
                anchor(&r.id),
                r.id,
                r.measurement,
                reason.profile.trim(),
                reason.finding.trim()
            );
        }
    }
    out
}

/// One run of `authority-load --json`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct AuthorityRun {
    /// `sqlite` or `postgresql`.
    pub database: String,
    /// Storage threads of the service.
    pub store_threads: u32,
    /// Raw single-row commits per second of the same database.
    pub raw_commits_per_s: f64,
    /// Recharges answered.
    pub recharges: u64,
    /// Recharges per second.
    pub recharges_per_s: f64,
    /// Settlements answered.
    pub settlements: u64,
    /// Settlements per second.
    pub settlements_per_s: f64,
}

#[derive(Deserialize)]
struct AuthorityOutput {
    runs: Vec<AuthorityRun>,
}

/// Why the authority's output was refused.
#[derive(Debug, thiserror::Error)]
pub enum AuthorityJsonError {
    /// No JSON object on stdout (the `--json` flag is not there yet, or the run failed).
    #[error("no JSON object in authority-load's stdout ({0} bytes)")]
    NoJson(usize),
    /// JSON, but not of the documented shape.
    #[error("authority-load --json: {0}")]
    Shape(#[from] serde_json::Error),
    /// A figure that is not a positive finite number.
    #[error("authority-load --json: run `{database}` has a non-positive or non-finite {field}")]
    Figure {
        /// The run's database.
        database: String,
        /// The field.
        field: &'static str,
    },
    /// An empty `runs` list.
    #[error("authority-load --json: no runs")]
    Empty,
}

/// Parses `authority-load --json` stdout: `{"runs":[{…}]}`. The last line
/// that starts with `{` is taken, so that stray lines before it do not
/// matter; every figure must be positive and finite.
pub fn parse_authority(stdout: &str) -> Result<Vec<AuthorityRun>, AuthorityJsonError> {
    let line = stdout.lines().rev().map(str::trim).find(|l| l.starts_with('{'));
    let line = line.ok_or(AuthorityJsonError::NoJson(stdout.len()))?;
    let out: AuthorityOutput = serde_json::from_str(line)?;
    if out.runs.is_empty() {
        return Err(AuthorityJsonError::Empty);
    }
    for r in &out.runs {
        for (field, v) in [
            ("raw_commits_per_s", r.raw_commits_per_s),
            ("recharges_per_s", r.recharges_per_s),
            ("settlements_per_s", r.settlements_per_s),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return Err(AuthorityJsonError::Figure { database: r.database.clone(), field });
            }
        }
    }
    Ok(out.runs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(v: f64, limit: f64, t: Target) -> Row {
        Row::new("x", "x", v, "/s").against("limit", limit).target(t)
    }

    #[test]
    fn ratio_is_value_over_limit_and_needs_a_positive_limit() {
        assert_eq!(rate(850.0, 1000.0, Target::Reported).ratio(), Some(0.85));
        assert_eq!(rate(850.0, 0.0, Target::Reported).ratio(), None);
        assert_eq!(Row::new("x", "x", 1.0, "B").ratio(), None);
        assert_eq!(Row::error("x", "x", "down").against("l", 1.0).ratio(), None);
    }

    #[test]
    fn verdicts_follow_the_target_at_the_boundary() {
        assert_eq!(rate(850.0, 1000.0, Target::RatioAtLeast(0.85)).verdict(), Verdict::Met);
        assert_eq!(rate(849.0, 1000.0, Target::RatioAtLeast(0.85)).verdict(), Verdict::Missed);
        assert_eq!(rate(115.0, 100.0, Target::RatioAtMost(1.15)).verdict(), Verdict::Met);
        assert_eq!(rate(116.0, 100.0, Target::RatioAtMost(1.15)).verdict(), Verdict::Missed);
        assert_eq!(Row::new("x", "x", 16383.0, "B").target(Target::Below(16384.0)).verdict(), Verdict::Met);
        assert_eq!(Row::new("x", "x", 16384.0, "B").target(Target::Below(16384.0)).verdict(), Verdict::Missed);
        assert_eq!(rate(1.0, 2.0, Target::Reported).verdict(), Verdict::Reported);
        // A ratio target without a limit, and an error row, are never "met".
        assert_eq!(Row::new("x", "x", 1.0, "/s").target(Target::RatioAtLeast(0.5)).verdict(), Verdict::Error);
        assert_eq!(Row::error("x", "x", "down").target(Target::RatioAtLeast(0.5)).verdict(), Verdict::Error);
    }

    #[test]
    fn a_missed_or_unmeasured_row_needs_a_reason_and_a_met_one_does_not() {
        let reasons = parse_reasons("[a]\nprofile = \"perf record -g x\"\nfinding = \"p256 is 80 %\"\n").unwrap();
        let rows = vec![
            Row::new("a", "a", 1.0, "/s").against("l", 2.0).target(Target::RatioAtLeast(0.85)),
            Row::new("b", "b", 1.0, "/s").against("l", 2.0).target(Target::RatioAtLeast(0.85)),
            Row::new("c", "c", 2.0, "/s").against("l", 2.0).target(Target::RatioAtLeast(0.85)),
            Row::error("d", "d", "not built"),
        ];
        let ids: Vec<&str> = unexplained(&rows, &reasons).iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["b", "d"]);
        let table = table(&rows, &reasons);
        assert!(table.contains("[reason](#reason-a)"), "{table}");
        assert_eq!(table.matches("NO REASON").count(), 2, "{table}");
        let section = reasons_section(&rows, &reasons);
        assert!(section.contains("<a id=\"reason-a\"></a>") && section.contains("p256 is 80 %"), "{section}");
        assert!(!section.contains("**`c`**"));
    }

    #[test]
    fn reasons_must_name_a_profile_and_a_finding() {
        assert!(
            matches!(parse_reasons("[a]\nprofile = \"\"\nfinding = \"x\"\n"), Err(ReasonsError::Empty(id)) if id == "a")
        );
        assert!(matches!(parse_reasons("[a]\nfinding = \"x\"\n"), Err(ReasonsError::Parse(_))));
        assert!(matches!(
            parse_reasons("[a]\nprofile = \"p\"\nfinding = \"x\"\nextra = 1\n"),
            Err(ReasonsError::Parse(_))
        ));
    }

    #[test]
    fn the_committed_reasons_file_parses() {
        let text = include_str!("../reasons.toml");
        let reasons = parse_reasons(text).unwrap();
        assert!(!reasons.is_empty());
    }

    const RUN: &str = r#"{"runs":[{"database":"sqlite","store_threads":1,"raw_commits_per_s":10510.0,"recharges":3000,"recharges_per_s":2812.5,"settlements":2000,"settlements_per_s":2219.0},{"database":"postgresql","store_threads":4,"raw_commits_per_s":3033,"recharges":3000,"recharges_per_s":1272,"settlements":2000,"settlements_per_s":1245}]}"#;

    #[test]
    fn the_authority_json_is_parsed_with_stray_lines_before_it() {
        let runs = parse_authority(&format!("sqlite: 100 meters\n{RUN}\n")).unwrap();
        assert_eq!(runs.len(), 2);
        assert_eq!(runs[0].database, "sqlite");
        assert_eq!(runs[0].recharges, 3000);
        assert_eq!(runs[1].raw_commits_per_s, 3033.0);
        assert_eq!(runs[1].settlements_per_s, 1245.0);
    }

    #[test]
    fn the_authority_output_without_json_or_of_another_shape_is_an_error() {
        // Today's Markdown output (before the --json flag) is not a figure.
        let markdown = "| run | database |\n|---|---|\n| 1 | sqlite |\n";
        assert!(matches!(parse_authority(markdown), Err(AuthorityJsonError::NoJson(_))));
        assert!(matches!(parse_authority(""), Err(AuthorityJsonError::NoJson(0))));
        assert!(matches!(parse_authority(r#"{"runs":[{"database":"sqlite"}]}"#), Err(AuthorityJsonError::Shape(_))));
        assert!(matches!(parse_authority(r#"{"runs":[]}"#), Err(AuthorityJsonError::Empty)));
        let zero = RUN.replace("\"recharges_per_s\":2812.5", "\"recharges_per_s\":0");
        assert!(matches!(parse_authority(&zero), Err(AuthorityJsonError::Figure { field: "recharges_per_s", .. })));
    }

    #[test]
    fn figures_are_grouped_by_thousands() {
        assert_eq!(figure(51234.4), "51,234");
        assert_eq!(figure(999.6), "1,000");
        assert_eq!(figure(12.34), "12.3");
        assert_eq!(figure(0.8512), "0.851");
        assert_eq!(figure(f64::NAN), "—");
        assert_eq!(grouped(8), "8");
        assert_eq!(grouped(-1_234_567), "-1,234,567");
    }
}
