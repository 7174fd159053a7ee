//! Test support: run the real binary on a temporary data dir, read its JSON
//! output, and generate messy input files whose right answer is known.

pub mod alert_sinks;
pub mod bridges;
pub mod crm;
pub mod fake;
pub mod messy;
pub mod postgres;
pub mod replay;
pub mod webdriver;

use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};

use serde_json::Value;

/// A started child process, killed if the test ends — or panics — while it runs,
/// so a failed test leaves no server behind.
pub struct Spawned(Child);

/// Starts `command` as a [`Spawned`].
pub fn spawn(command: &mut Command) -> Spawned {
    Spawned(command.spawn().expect("start the process"))
}

impl Deref for Spawned {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl DerefMut for Spawned {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// The URL a started server printed (`leadsprint serving URL …`), trimmed; the rest
/// of its output is drained, so it never blocks on a full pipe.
pub fn served_url(child: &mut Child) -> String {
    let stdout = child.stdout.take().expect("the server's stdout is piped");
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
    let url = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|l| l.strip_prefix("leadsprint serving ").map(|u| u.trim().to_owned()))
        .expect("the server printed no URL");
    std::thread::spawn(move || lines.for_each(drop));
    url
}

/// (status, JSON body or null) of one blocking request.
pub fn call(method: reqwest::Method, url: &str, body: Option<String>) -> (u16, Value) {
    let client = leadsprint::http::http(std::time::Duration::from_secs(60)).expect("client");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let mut request = client.request(method, url);
        if let Some(body) = body {
            request = request.body(body);
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    })
}

/// A throwaway data dir plus a folder for input and output files.
pub struct Sandbox {
    pub root: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        Sandbox { root: tempfile::tempdir().expect("temp dir") }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.root.path().join("data")
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.root.path().join(name)
    }

    pub fn write(&self, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, bytes).expect("write input file");
        path
    }

    /// Runs `leadsprint --data-dir <data> ARGS...`.
    pub fn run(&self, args: &[&str]) -> Run {
        let output = self.command(args).output().expect("run leadsprint");
        Run::from(output)
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_leadsprint"));
        cmd.arg("--data-dir").arg(self.data_dir()).args(args);
        cmd
    }

    pub fn import(&self, file: &Path) -> Run {
        self.run(&["import", file.to_str().expect("utf-8 path")])
    }

    pub fn stats(&self) -> Value {
        self.run(&["stats", "--json"]).json()
    }

    /// Every lead, from `export jsonl`.
    pub fn leads(&self) -> Vec<Value> {
        let out = self.path("export.jsonl");
        let run = self.run(&["export", "jsonl", "--out", out.to_str().expect("utf-8 path")]);
        assert_eq!(run.code, 0, "export failed: {}", run.stderr);
        let text = std::fs::read_to_string(&out).expect("read export");
        text.lines().map(|l| serde_json::from_str(l).expect("export line is JSON")).collect()
    }

    /// Leads the search index holds (the empty query matches every lead).
    pub fn searchable(&self) -> u64 {
        self.run(&["search", "--json", "--limit", "1"]).json()["total"].as_u64().unwrap_or(0)
    }

    pub fn quarantine(&self) -> Vec<Value> {
        let v = self.run(&["quarantine", "--json", "--limit", "100000"]).json();
        v["entries"].as_array().cloned().unwrap_or_default()
    }
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Run {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Run {
    pub fn json(&self) -> Value {
        assert_eq!(self.code, 0, "command failed: {}\n{}", self.stderr, self.stdout);
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.stdout))
    }
}

/// The sorted identity keys of each lead: an order-free picture of who is who.
pub fn identities(leads: &[Value]) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = leads
        .iter()
        .map(|l| {
            let id = &l["identity"];
            let mut keys: Vec<String> = ["linkedin_urls", "emails", "profile_ids"]
                .iter()
                .flat_map(|k| id[k].as_array().cloned().unwrap_or_default())
                .map(|v| v.as_str().unwrap_or_default().to_owned())
                .collect();
            keys.sort();
            keys
        })
        .collect();
    out.sort();
    out
}

/// `stats` figures that must always agree with the store's contents.
pub fn assert_consistent(sandbox: &Sandbox) {
    if !sandbox.data_dir().join(leadsprint::store::DB_FILE).exists() {
        return; // killed before the store was created: nothing was committed
    }
    let stats = sandbox.stats();
    let leads = sandbox.leads();
    assert_eq!(stats["unique_leads"].as_u64(), Some(leads.len() as u64), "unique_leads vs leads stored");
    let ids: std::collections::BTreeSet<u64> = leads.iter().map(|l| l["id"].as_u64().unwrap_or(0)).collect();
    assert_eq!(ids.len(), leads.len(), "lead ids are unique");
    let mut seen = std::collections::HashMap::new();
    for (lead, keys) in leads.iter().zip(identities(&leads)) {
        for key in keys {
            if let Some(other) = seen.insert(key.clone(), lead["id"].clone()) {
                panic!("key {key} held by two leads: {other} and {}", lead["id"]);
            }
        }
    }
}

/// Copies the files of a folder (one level: a search index's folder).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create the copy's folder");
    for entry in std::fs::read_dir(from).expect("read the folder") {
        let entry = entry.expect("folder entry");
        if entry.file_type().expect("file type").is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy a file");
        }
    }
}
