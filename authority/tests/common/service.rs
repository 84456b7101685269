//! The real `pcmeter-authority` binary: a scratch directory with a TOML
//! configuration, operator commands run to completion, and `serve` spawned on
//! 127.0.0.1:0 with its bound address read from its first line of output.

use authority::service::config::Config;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The admin token the tests hand the service through the environment.
pub const ADMIN_TOKEN: &str = "binary-test-admin-token";

/// A configured service: its directory, configuration file and database.
#[derive(Debug)]
pub struct Site {
    /// Scratch directory (keys, SQLite files, logs).
    pub dir: PathBuf,
    /// The TOML configuration.
    pub config: PathBuf,
}

impl Site {
    /// A fresh directory and a configuration naming `database` (a SQLite file
    /// in the directory when `None`). The file's listen address is a port
    /// nothing uses; [`Site::serve`] overrides it from the environment.
    pub fn new(name: &str, database: Option<&str>) -> Self {
        let dir = std::env::temp_dir().join(format!("pcmeter-authority-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let database = database.map_or_else(|| dir.join("authority.db").display().to_string(), str::to_string);
        let config = dir.join("authority.toml");
        let text = format!(
            "listen = \"127.0.0.1:9\"\ndatabase = {:?}\nca_database = {:?}\nkey_dir = {:?}\n",
            database,
            dir.join("ca.db").display().to_string(),
            dir.join("keys").display().to_string(),
        );
        std::fs::write(&config, text).unwrap();
        Self { dir, config }
    }

    /// The binary with `--config`, run in the directory, with none of the
    /// caller's `PCMETER_AUTHORITY_*` variables.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_pcmeter-authority"));
        cmd.current_dir(&self.dir).arg("--config").arg(&self.config).args(args);
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("PCMETER_AUTHORITY_") {
                cmd.env_remove(name);
            }
        }
        cmd
    }

    /// Runs an operator command to completion.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).stdin(Stdio::null()).output().unwrap()
    }

    /// Runs an operator command that must succeed; its standard output.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    /// The configuration as the binary reads it (no environment overrides).
    pub fn config(&self) -> Config {
        Config::load(&self.config).unwrap()
    }

    /// The authority key's public half (S2, orders).
    pub fn authority_key(&self) -> [u8; 65] {
        authority::SigningKeyPair::load(&self.config().key_dir.join("authority.key")).unwrap().public()
    }

    /// `serve`, listening on 127.0.0.1:0 and holding the admin token, both from
    /// the environment; returns once the address is printed.
    pub fn serve(&self) -> Server {
        self.serve_with(&[])
    }

    /// [`Site::serve`] with more environment variables (e.g. the TLS files).
    pub fn serve_with(&self, env: &[(&str, &std::ffi::OsStr)]) -> Server {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.dir.join("serve.log")).unwrap();
        let mut child = self
            .command(&["serve"])
            .envs(env.iter().copied())
            .env("PCMETER_AUTHORITY_LISTEN", "127.0.0.1:0")
            .env("PCMETER_AUTHORITY_ADMIN_TOKEN", ADMIN_TOKEN)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(Duration::from_secs(60)).unwrap_or_default();
        let Some(base) = line.trim().strip_prefix("listening on ").map(str::to_string) else {
            let _ = child.kill();
            let _ = child.wait();
            let log = std::fs::read_to_string(self.dir.join("serve.log")).unwrap_or_default();
            panic!("serve printed {line:?}, not its address; log:\n{log}");
        };
        assert!(base.starts_with("http://127.0.0.1:") || base.starts_with("https://127.0.0.1:"), "{base}");
        Server { child, base }
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A running `serve`.
#[derive(Debug)]
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT` (`https://` with TLS).
    pub base: String,
}

impl Server {
    /// SIGKILL, then reaps the process.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM; the exit status once the server has stopped (within 30 s).
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(sent.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "serve did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs `openssl` with `args`; its combined output, asserting success.
pub fn openssl(args: &[&str], cwd: &Path) -> String {
    let out = Command::new("openssl").args(args).current_dir(cwd).output().expect("openssl is installed");
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "openssl {args:?}: {text}");
    text
}
