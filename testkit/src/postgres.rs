//! A throwaway PostgreSQL server for tests: finds `initdb` and `pg_ctl`
//! (`/usr/lib/postgresql/*/bin`, then `PATH`), initializes a cluster in a
//! temporary directory owned by user `postgres` (the server refuses to run
//! as root; it is started with `runuser` when the tests run as root),
//! listens on a unix socket in that directory only (no TCP port), creates a
//! database and yields its URL. The server is stopped and the directory
//! removed on drop.
//!
//! [`TempPostgres::start_or_skip`] returns `None` when PostgreSQL is not
//! installed, except under CI (`CI` set), where a missing PostgreSQL panics:
//! tests against PostgreSQL run in CI, never skip.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A running temporary server.
#[derive(Debug)]
pub struct TempPostgres {
    dir: PathBuf,
    bin: PathBuf,
    as_postgres: bool,
    url: String,
}

fn find_bin() -> Option<PathBuf> {
    let mut candidates: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|p| p.join("initdb").exists() && p.join("pg_ctl").exists())
        .collect();
    candidates.sort();
    if let Some(newest) = candidates.pop() {
        return Some(newest);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths).find(|p| p.join("initdb").exists() && p.join("pg_ctl").exists())
    })
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

impl TempPostgres {
    /// Starts a server, or `None` when PostgreSQL is not installed outside CI.
    pub fn start_or_skip(name: &str) -> Option<Self> {
        match find_bin() {
            Some(bin) => Some(Self::start_with(&bin, name)),
            None if std::env::var_os("CI").is_some() => {
                panic!("CI is set and PostgreSQL (initdb, pg_ctl) is not installed")
            }
            None => {
                eprintln!("SKIPPED: PostgreSQL is not installed (apt-get install postgresql)");
                None
            }
        }
    }

    fn run(&self, program: &str, args: &[&str]) {
        let exe = self.bin.join(program);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        let out = cmd.args(args).output().unwrap_or_else(|e| panic!("{program}: {e}"));
        assert!(
            out.status.success(),
            "{program} {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn start_with(bin: &Path, name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("pcmeter-pg-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temporary directory");
        let as_postgres = is_root();
        if as_postgres {
            let status = Command::new("chown").args(["-R", "postgres:postgres"]).arg(&dir).status().expect("chown");
            assert!(status.success(), "chown postgres {}", dir.display());
        }
        let mut pg = Self { dir: dir.clone(), bin: bin.to_path_buf(), as_postgres, url: String::new() };
        let data = dir.join("data");
        let data_s = data.to_str().expect("utf-8 path").to_string();
        let dir_s = dir.to_str().expect("utf-8 path").to_string();
        pg.run("initdb", &["-D", &data_s, "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8"]);
        let options = format!("-c listen_addresses='' -c unix_socket_directories='{dir_s}' -c fsync=on");
        let log = dir.join("server.log");
        pg.run(
            "pg_ctl",
            &["-D", &data_s, "-o", &options, "-l", log.to_str().expect("path"), "-w", "-t", "60", "start"],
        );
        let psql = bin.join("psql");
        let mut create = if as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&psql);
            c
        } else {
            Command::new(&psql)
        };
        let out = create
            .args(["-h", &dir_s, "-U", "postgres", "-d", "postgres", "-c", "CREATE DATABASE pcmeter"])
            .output()
            .expect("psql");
        assert!(out.status.success(), "CREATE DATABASE: {}", String::from_utf8_lossy(&out.stderr));
        pg.url = format!("postgresql://postgres@localhost/pcmeter?host={dir_s}");
        pg
    }

    /// The connection URL (unix socket in the temporary directory).
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for TempPostgres {
    fn drop(&mut self) {
        let data = self.dir.join("data");
        if let Some(data) = data.to_str() {
            let exe = self.bin.join("pg_ctl");
            let mut cmd = if self.as_postgres {
                let mut c = Command::new("runuser");
                c.args(["-u", "postgres", "--"]).arg(&exe);
                c
            } else {
                Command::new(&exe)
            };
            let _ = cmd.args(["-D", data, "-m", "immediate", "-w", "stop"]).output();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
