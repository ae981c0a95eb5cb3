//! The `rollguard` binary as its users run it: a register and keyring in their own
//! directories, commands run as processes, servers killed rather than stopped.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub struct Env {
    pub _db_dir: tempfile::TempDir,
    pub _key_dir: tempfile::TempDir,
    pub db: PathBuf,
    pub keyring: String,
    pub extra: Vec<(String, String)>,
}

impl Env {
    pub fn file() -> Self {
        let db_dir = tempfile::tempdir().unwrap();
        let key_dir = tempfile::tempdir().unwrap();
        let db = db_dir.path().join("register.db");
        let keyring = key_dir.path().join("rollguard.keyring").display().to_string();
        Self { _db_dir: db_dir, _key_dir: key_dir, db, keyring, extra: Vec::new() }
    }

    pub fn run(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rollguard"));
        cmd.arg("--db").arg(&self.db).arg("--keyring").arg(&self.keyring).args(args);
        cmd.env_remove("ROLLGUARD_KEYRING_PASSPHRASE");
        for (k, v) in &self.extra {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    }

    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(out.status.success(), "rollguard {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(!out.status.success(), "rollguard {args:?} should fail");
        String::from_utf8(out.stderr).unwrap()
    }
}

pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// A child process killed (SIGKILL) when dropped, so a failing test leaves no server behind.
pub struct Child(pub std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Every event in the register's audit log, as JSON, read straight from the file.
pub fn audit_events(env: &Env) -> Vec<serde_json::Value> {
    let conn = rusqlite::Connection::open(format!("{}.audit", env.db.display())).unwrap();
    let mut stmt = conn.prepare("SELECT body FROM audit_events ORDER BY idx").unwrap();
    let rows = stmt.query_map([], |r| r.get::<_, Vec<u8>>(0)).unwrap();
    rows.map(|b| serde_json::from_slice(&b.unwrap()).unwrap()).collect()
}

pub fn http_get(port: u16, path: &str, token: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, out)
}

/// The crate's directory, read when the test runs (cargo sets it) rather than when it was
/// compiled, so a build shared between checkouts never points at another one.
pub fn manifest_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into())
}

/// `rollguard serve` on a free loopback port, killed (SIGKILL) when dropped.
pub struct Serving {
    pub child: Child,
    pub port: u16,
    agent: ureq::Agent,
}

impl Env {
    /// Starts `rollguard serve` with `extra` flags and waits until it is ready.
    pub fn serve(&self, extra: &[&str]) -> Serving {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let log = std::fs::File::create(self.serve_log()).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rollguard"));
        cmd.arg("--db").arg(&self.db).arg("--keyring").arg(&self.keyring);
        cmd.args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--insecure-cookies"]).args(extra);
        cmd.env_remove("ROLLGUARD_KEYRING_PASSPHRASE").stdout(std::process::Stdio::null()).stderr(log);
        let child = Child(cmd.spawn().unwrap());
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        let s = Serving { child, port, agent };
        let started = std::time::Instant::now();
        loop {
            if s.send("GET", "/readyz", "", None).0 == 200 {
                return s;
            }
            assert!(
                started.elapsed().as_secs() < 60,
                "the server did not become ready: {}",
                std::fs::read_to_string(self.serve_log()).unwrap_or_default()
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// Where the last server's stderr went.
    pub fn serve_log(&self) -> PathBuf {
        self._db_dir.path().join("serve.log")
    }
}

impl Serving {
    /// One request; status and body (0 and the error's text if no answer came).
    pub fn send(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, String) {
        let url = format!("http://127.0.0.1:{}{path}", self.port);
        let mut req = ureq::http::Request::builder().method(method).uri(url);
        if !token.is_empty() {
            req = req.header("authorization", format!("Bearer {token}"));
        }
        let reply = match body {
            Some(b) => {
                self.agent.run(req.header("content-type", "application/json").body(b.to_string()).unwrap())
            }
            None => self.agent.run(req.body(()).unwrap()),
        };
        match reply {
            Ok(mut r) => (r.status().as_u16(), r.body_mut().read_to_string().unwrap_or_default()),
            Err(e) => (0, e.to_string()),
        }
    }

    pub fn get(&self, path: &str, token: &str) -> (u16, String) {
        self.send("GET", path, token, None)
    }
}

/// The API token a `token create` printed.
pub fn token_in(out: &str) -> String {
    out.split_whitespace().find(|w| w.starts_with("rgt_")).expect("a token").to_owned()
}

/// A register with one authority (E07000001) of `electors` generated electors, and a service
/// account `sync` holding registration-staff everywhere with a read-and-write token.
pub fn register_with_sync(electors: usize) -> (Env, String) {
    let env = Env::file();
    env.ok(&["init", "--authority", "E07000001", "--authority-name", "Ashby Vale"]);
    let csv = env._db_dir.path().join("g.csv");
    env.ok(&["generate", &electors.to_string(), "--seed", "4", "--out", csv.to_str().unwrap()]);
    env.ok(&["import", csv.to_str().unwrap(), "--authority", "E07000001"]);
    env.ok(&["user", "add", "sync", "--service", "--grant", "registration-staff@*"]);
    let out = env.ok(&[
        "token",
        "create",
        "sync",
        "--permission",
        "elector:read",
        "--permission",
        "elector:write",
        "--authority",
        "*",
    ]);
    (env, token_in(&out))
}

/// The elector numbers of a register CSV, in the file's order.
pub fn numbers_in(csv: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(csv).unwrap();
    text.lines().skip(1).map(|l| l.split(',').next().unwrap().to_owned()).collect()
}

impl Env {
    /// The generated register CSV of [`register_with_sync`].
    pub fn generated_csv(&self) -> PathBuf {
        self._db_dir.path().join("g.csv")
    }

    /// The id of the elector numbered `number` in E07000001, found by searching at the
    /// console (ids are a keyed permutation: nobody can count them out).
    pub fn elector_id(&self, number: &str) -> u64 {
        let out = self.ok(&["elector", "search", "--authority", "E07000001", "--number", number]);
        out.split_whitespace().next().and_then(|w| w.parse().ok()).unwrap_or_else(|| panic!("no id in {out}"))
    }
}

impl Serving {
    /// The ids of E07000001's electors numbered `numbers`, found by searching the API.
    pub fn elector_ids(&self, token: &str, numbers: &[String]) -> Vec<u64> {
        numbers
            .iter()
            .map(|n| {
                let (status, body) =
                    self.get(&format!("/api/v1/authorities/E07000001/electors?elector_number={n}"), token);
                assert_eq!(status, 200, "{body}");
                let v: serde_json::Value = serde_json::from_str(&body).unwrap();
                v[0]["id"].as_u64().unwrap_or_else(|| panic!("no id for {n}: {body}"))
            })
            .collect()
    }
}
