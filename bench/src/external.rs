//! What the harness learns from other processes: the machine, the commit,
//! the authority's load test (`authority-load --json`) and card-core's code
//! size (the `no_std` build of `nostd-check/`). Each child is bounded in time.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Why a child process gave no usable answer.
#[derive(Debug, thiserror::Error)]
pub enum ChildError {
    /// It could not be started.
    #[error("could not start `{cmd}`: {source}")]
    Spawn {
        /// The command line.
        cmd: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// It ran out of time and was killed.
    #[error("`{cmd}` did not finish within {secs} s and was killed")]
    Timeout {
        /// The command line.
        cmd: String,
        /// The bound.
        secs: u64,
    },
    /// It exited with a failure.
    #[error("`{cmd}` exited with {status}; last stderr line: {last}")]
    Failed {
        /// The command line.
        cmd: String,
        /// Its exit status.
        status: std::process::ExitStatus,
        /// The last line it wrote to stderr.
        last: String,
    },
    /// Its output was not what was expected.
    #[error("`{cmd}`: {what}")]
    Output {
        /// The command line.
        cmd: String,
        /// What was wrong.
        what: String,
    },
}

/// Runs `cmd` in `dir`, stderr shown and kept, stdout captured, killed after `limit`.
pub fn run_bounded(dir: &Path, cmd: &mut Command, limit: Duration) -> Result<String, ChildError> {
    let text = format!("{cmd:?}");
    let mut child = cmd
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| ChildError::Spawn { cmd: text.clone(), source })?;
    let mut stdout = child.stdout.take();
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(o) = stdout.as_mut() {
            let _ = o.read_to_string(&mut s);
        }
        s
    });
    let mut stderr = child.stderr.take();
    let err_reader = std::thread::spawn(move || {
        let mut last = String::new();
        if let Some(e) = stderr.as_mut() {
            let mut all = String::new();
            let _ = e.read_to_string(&mut all);
            eprint!("{all}");
            last = telling_line(&all);
        }
        last
    });
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if start.elapsed() > limit => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(ChildError::Timeout { cmd: text, secs: limit.as_secs() });
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(200)),
            Err(source) => return Err(ChildError::Spawn { cmd: text, source }),
        }
    };
    let out = out_reader.join().unwrap_or_default();
    let last = err_reader.join().unwrap_or_default();
    if !status.success() {
        return Err(ChildError::Failed { cmd: text, status, last });
    }
    Ok(out)
}

/// The line of a child's stderr that says what went wrong: the message of a
/// panic (the line after `panicked at`), else the last non-empty line.
pub fn telling_line(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.lines().collect();
    let panic = lines.iter().position(|l| l.contains("panicked at")).and_then(|i| lines.get(i + 1));
    panic
        .or_else(|| lines.iter().rev().find(|l| !l.trim().is_empty()))
        .map(|l| l.trim().to_string())
        .unwrap_or_default()
}

fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// The authority's bounded loopback load test, as a child: its `--json` stdout.
pub fn authority_load(root: &Path, quick: bool) -> Result<String, ChildError> {
    let mut cmd = cargo();
    cmd.args(["run", "--release", "--quiet", "-p", "bench", "--bin", "authority-load", "--", "--json"]);
    if quick {
        cmd.arg("--quick");
    }
    run_bounded(root, &mut cmd, Duration::from_secs(1200))
}

/// card-core's code: builds `nostd-check/` (release) and reads the text size
/// of its binary with `size`. Returns (text bytes, the command).
pub fn code_size(root: &Path) -> Result<(u64, String), ChildError> {
    let dir = root.join("nostd-check");
    run_bounded(&dir, cargo().args(["build", "--release", "--quiet"]), Duration::from_secs(1200))?;
    let bin = dir.join("target/release/pcmeter-nostd-check");
    let out = run_bounded(&dir, Command::new("size").arg(&bin), Duration::from_secs(60))?;
    let text = parse_size_text(&out).ok_or_else(|| ChildError::Output {
        cmd: format!("size {}", bin.display()),
        what: format!("no text column in {out:?}"),
    })?;
    Ok((text, "cd nostd-check && cargo build --release && size target/release/pcmeter-nostd-check".into()))
}

/// The `text` column of Berkeley `size` output.
pub fn parse_size_text(out: &str) -> Option<u64> {
    let mut lines = out.lines();
    let header = lines.next()?;
    let col = header.split_whitespace().position(|h| h == "text")?;
    lines.next()?.split_whitespace().nth(col)?.parse().ok()
}

/// First line of a command's stdout, or `unknown`.
fn line_of(cmd: &mut Command) -> String {
    cmd.output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.lines().next().map(str::trim).map(str::to_owned))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// The machine: CPU model, cores, kernel.
pub fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name").and_then(|r| r.split_once(':')).map(|(_, m)| m.trim().to_owned()))
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let kernel = line_of(Command::new("uname").arg("-sr"));
    format!("{model}, {cores} cores, {kernel}")
}

/// The load average now (1, 5, 15 min).
pub fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "unknown".into())
}

/// `git rev-parse --short HEAD`, with `-dirty` when the tree has changes.
pub fn commit(root: &Path) -> String {
    let hash = line_of(Command::new("git").arg("-C").arg(root).args(["rev-parse", "--short=12", "HEAD"]));
    let dirty = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["status", "--porcelain", "--untracked-files=no"])
        .output()
        .map(|o| !o.stdout.is_empty())
        .unwrap_or(false);
    if dirty { format!("{hash}-dirty") } else { hash }
}

/// UTC date and time now.
pub fn now() -> String {
    line_of(Command::new("date").args(["-u", "+%Y-%m-%d %H:%M UTC"]))
}

#[cfg(test)]
mod tests {
    #[test]
    fn size_text_column_is_read() {
        let out =
            "   text\t   data\t    bss\t    dec\t    hex\tfilename\n 697086\t  12345\t4194304\t4903735\t 4ad3b7\tx\n";
        assert_eq!(super::parse_size_text(out), Some(697_086));
        assert_eq!(super::parse_size_text("garbage"), None);
    }

    #[test]
    fn a_panic_message_is_the_telling_line() {
        let stderr = "building\nthread 'main' panicked at x.rs:80:5:\nauthority-load: credit line: 409\nstack backtrace:\nnote: Some details\n";
        assert_eq!(super::telling_line(stderr), "authority-load: credit line: 409");
        assert_eq!(super::telling_line("a\nlast line\n\n"), "last line");
    }
}
