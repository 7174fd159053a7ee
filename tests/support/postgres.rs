//! A real PostgreSQL for tests: a throwaway cluster (initdb + pg_ctl on a free port in
//! a temporary dir; binaries from PATH or /usr/lib/postgresql/*/bin; as root, run as
//! the `postgres` system user, since initdb refuses root), stopped when dropped. With
//! `DATABASE_URL` set, that server is used instead and each test gets its own database.

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Postgres {
    /// Keeps the cluster's directory alive; `None` for an external server.
    cluster: Option<(tempfile::TempDir, PathBuf)>,
    pub url: String,
}

impl Postgres {
    pub fn start() -> Postgres {
        if let Ok(url) = std::env::var("DATABASE_URL") {
            let db = format!("leadsprint_test_{}_{}", std::process::id(), next_id());
            query(&url, &format!("CREATE DATABASE {db}"));
            let base = url.rsplit_once('/').map_or(url.as_str(), |(b, _)| b);
            return Postgres { cluster: None, url: format!("{base}/{db}") };
        }
        let bin = bin_dir();
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("data");
        if is_root() {
            let status = Command::new("chown").arg("postgres").arg(dir.path()).status().expect("chown");
            assert!(status.success(), "chown the cluster dir to postgres");
        }
        let initdb = as_owner(&bin.join("initdb"))
            .args(["-A", "trust", "-U", "postgres", "--no-sync", "-D"])
            .arg(&data)
            .output()
            .expect("run initdb");
        assert!(initdb.status.success(), "initdb: {}", String::from_utf8_lossy(&initdb.stderr));
        let port = free_port();
        let options =
            format!("-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off", dir.path().display());
        let started = as_owner(&bin.join("pg_ctl"))
            .args(["-w", "-D"])
            .arg(&data)
            .arg("-l")
            .arg(dir.path().join("log"))
            .args(["-o", &options, "start"])
            .output()
            .expect("run pg_ctl");
        let log = std::fs::read_to_string(dir.path().join("log")).unwrap_or_default();
        assert!(
            started.status.success(),
            "pg_ctl start: {}\n{log}",
            String::from_utf8_lossy(&started.stderr)
        );
        let url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
        Postgres { cluster: Some((dir, bin)), url }
    }

    /// Runs `sql` (simple protocol) and returns every row's values as text.
    pub fn query(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        query(&self.url, sql)
    }

    /// The single value of a one-row, one-column query.
    pub fn value(&self, sql: &str) -> Option<String> {
        self.query(sql).into_iter().next().and_then(|row| row.into_iter().next()).flatten()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if let Some((dir, bin)) = &self.cluster {
            let _ = as_owner(&bin.join("pg_ctl"))
                .args(["-D"])
                .arg(dir.path().join("data"))
                .args(["-m", "immediate", "stop"])
                .output();
        }
    }
}

fn next_id() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

pub fn query(url: &str, sql: &str) -> Vec<Vec<Option<String>>> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let (client, connection) =
            tokio_postgres::connect(url, tokio_postgres::NoTls).await.expect("connect");
        tokio::spawn(connection);
        let messages = client.simple_query(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
        messages
            .into_iter()
            .filter_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(row) => {
                    Some((0..row.len()).map(|i| row.get(i).map(str::to_owned)).collect())
                }
                _ => None,
            })
            .collect()
    })
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn as_owner(program: &Path) -> Command {
    if is_root() {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--"]).arg(program);
        cmd
    } else {
        Command::new(program)
    }
}

/// The folder holding initdb: on PATH, else the newest /usr/lib/postgresql/*/bin.
fn bin_dir() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .find(|d| d.join("initdb").exists());
    let installed = || {
        let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path().join("bin"))
            .filter(|d| d.join("initdb").exists())
            .collect();
        dirs.sort_by_key(|d| {
            d.parent().and_then(|v| v.file_name()?.to_str()?.parse::<u32>().ok()).unwrap_or(0)
        });
        dirs.pop()
    };
    on_path
        .or_else(installed)
        .expect("PostgreSQL not found: install Debian's `postgresql` or set DATABASE_URL")
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local addr").port()
}
