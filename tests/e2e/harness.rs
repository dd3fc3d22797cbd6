//! One real worker per test binary: built once, run in workerd by `wrangler dev` with a
//! fresh persist directory (local D1 migrated, local KV), shared by every test, and
//! always stopped when the test process ends, even when it is killed.
//!
//! Stopping relies on a guardian shell that holds wrangler's process group and kills it
//! as soon as its stdin (a pipe owned by this process) reaches end-of-file: the kernel
//! closes that pipe whenever this process exits, whatever the reason.

use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

pub const ADMIN_TOKEN: &str = "e2e-admin-token-0123456789";
pub const CLICK_SECRET: &str = "e2e-click-secret-0123456789abcdef";

pub struct Worker {
    pub base_url: String,
    pub persist_dir: PathBuf,
    pub log_path: PathBuf,
    /// The local SQLite file of each D1 binding (`DB`, and `CLICKS_0`… for a worker whose
    /// clicks are spread over click databases), found as each one's migrations created it.
    pub d1_files: std::collections::BTreeMap<String, PathBuf>,
    /// Where the guardian writes the process group of this run's wrangler.
    pgid_path: PathBuf,
    // Kept open for the life of the process; its end-of-file stops the worker.
    _guardian_stdin: Mutex<ChildStdin>,
    _guardian: Mutex<Child>,
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn tools_dir() -> PathBuf {
    std::env::var_os("EDGEBACK_TOOLS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/edgeback-tools")
        })
}

/// Fails (never skips) with the command to run when the toolchain is missing.
fn require_toolchain() {
    let root = repo_root();
    let missing: Vec<String> = [
        tools_dir().join("bin/worker-build"),
        tools_dir().join("bin/wasm-bindgen"),
        root.join("node_modules/.bin/wrangler"),
    ]
    .into_iter()
    .filter(|path| !path.exists())
    .map(|path| path.display().to_string())
    .collect();
    assert!(
        missing.is_empty(),
        "the end-to-end toolchain is missing ({}). Run `make tools` (or `make test`, which \
         installs it first) and try again.",
        missing.join(", ")
    );
}

fn run(command: &mut Command, what: &str) {
    let output = command
        .output()
        .unwrap_or_else(|error| panic!("{what}: cannot start: {error}"));
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("no free local port")
}

fn wrangler(root: &Path) -> Command {
    let mut command = Command::new(root.join("node_modules/.bin/wrangler"));
    command
        .current_dir(root)
        .env("CLOUDFLARE_CF_FETCH_ENABLED", "false")
        .env("WRANGLER_SEND_METRICS", "false")
        .env("CI", "true")
        .env("NO_COLOR", "1");
    command
}

/// Builds the worker once per test run, however many workers the tests start.
pub fn build_once() {
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    let built = BUILT.get_or_init(|| {
        std::panic::catch_unwind(|| {
            require_toolchain();
            if std::env::var_os("EDGEBACK_E2E_SKIP_BUILD").is_some() {
                return;
            }
            let root = repo_root();
            run(
                Command::new("bash")
                    .arg(root.join("scripts/build-worker.sh"))
                    .current_dir(&root),
                "building the worker (scripts/build-worker.sh)",
            )
        })
        .map_err(|panic| panic_message(&panic))
    });
    if let Err(message) = built {
        panic!("{message}");
    }
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "the worker failed to start".into())
}

impl Worker {
    /// Starts a worker with `tests/e2e/{config_name}`; `ready_status` is what `/healthz`
    /// answers once it is up (500 for a deliberately broken configuration).
    fn start(config_name: &str, ready_status: u16) -> Worker {
        Self::start_with(config_name, ready_status, 0)
    }

    /// [`Worker::start`] with clicks spread over `click_databases` extra local D1
    /// databases (`CLICKS_0`…) when that is not 0 (docs/scale.md).
    fn start_with(config_name: &str, ready_status: u16, click_databases: usize) -> Worker {
        build_once();
        let root = repo_root();
        let template = root.join("tests/e2e").join(config_name);
        let unique = format!(
            "edgeback-e2e-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default()
        );
        let persist_dir = std::env::temp_dir().join(unique);
        std::fs::create_dir_all(&persist_dir).expect("temporary persist directory");
        // The configuration is written for this run: destinations point at the local
        // listener's port, and paths become absolute (the file lives in the temp dir).
        let config_dir = persist_dir.join("config");
        std::fs::create_dir_all(&config_dir).expect("config directory");
        let text = std::fs::read_to_string(&template).expect("test configuration");
        let text = text
            .replace(
                "{LISTENER}",
                &format!("127.0.0.1:{}", crate::listener::listener().port),
            )
            .replace("../../", &format!("{}/", root.display()));
        let mut text = text;
        let mut bindings = vec!["DB".to_string()];
        if click_databases > 0 {
            let names: Vec<String> = (0..click_databases)
                .map(|n| format!("CLICKS_{n}"))
                .collect();
            for (n, name) in names.iter().enumerate() {
                text.push_str(&format!(
                    "\n[[d1_databases]]\nbinding = \"{name}\"\ndatabase_name = \"edgeback-e2e-clicks-{n}\"\n\
                     database_id = \"00000000-0000-0000-0000-0000000001{n:02}\"\n\
                     migrations_dir = \"{root}/migrations\"\n",
                    root = root.display()
                ));
            }
            text.push_str(&format!(
                "\n[vars.EDGEBACK.storage]\nclick_databases = {names:?}\n"
            ));
            bindings.extend(names);
        }
        let config = config_dir.join("wrangler.toml");
        std::fs::write(&config, text).expect("write test configuration");
        std::fs::copy(
            root.join("tests/e2e/.dev.vars"),
            config_dir.join(".dev.vars"),
        )
        .expect("copy test secrets");
        // One binding at a time: the file each one's migrations create is that binding's.
        let d1_dir = persist_dir.join("v3/d1/miniflare-D1DatabaseObject");
        let sqlite_files = || -> std::collections::BTreeSet<PathBuf> {
            std::fs::read_dir(&d1_dir)
                .map(|entries| {
                    entries
                        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
                        .filter(|path| {
                            path.extension().is_some_and(|ext| ext == "sqlite")
                                && path.file_stem().is_some_and(|stem| stem != "metadata")
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        let mut d1_files = std::collections::BTreeMap::new();
        for binding in &bindings {
            let before = sqlite_files();
            run(
                wrangler(&root)
                    .args(["d1", "migrations", "apply", binding, "--local", "--config"])
                    .arg(&config)
                    .arg("--persist-to")
                    .arg(&persist_dir),
                "applying D1 migrations",
            );
            let created: Vec<PathBuf> = sqlite_files().difference(&before).cloned().collect();
            assert_eq!(
                created.len(),
                1,
                "migrations for {binding} made {created:?}"
            );
            d1_files.insert(
                binding.clone(),
                created.into_iter().next().unwrap_or_default(),
            );
        }

        let mut worker = Worker::serve(&config, persist_dir);
        worker.d1_files = d1_files;
        worker.wait_until_ready(ready_status);
        worker
    }

    /// A worker of its own (the shared configuration, a fresh persist directory), for a
    /// test that stops and restarts the runtime or measures it alone; stopped when the
    /// value is dropped.
    pub fn dedicated() -> Worker {
        Worker::start("wrangler.toml", 200)
    }

    /// Kills the local runtime at once, as a crash would: SIGKILL to wrangler's whole
    /// process group (wrangler and workerd), no chance to finish anything in flight.
    /// Returns when the port no longer takes connections.
    pub fn kill_runtime(&self) {
        let group = std::fs::read_to_string(&self.pgid_path)
            .ok()
            .and_then(|text| text.trim().parse::<u32>().ok())
            .unwrap_or_else(|| panic!("no process group in {}", self.pgid_path.display()));
        let status = Command::new("kill")
            .args(["-KILL", "--", &format!("-{group}")])
            .status()
            .expect("kill");
        assert!(status.success(), "kill -KILL -{group}: {status}");
        let address = self.base_url.trim_start_matches("http://").to_string();
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(&address).is_ok() {
            assert!(
                Instant::now() < deadline,
                "{address} still answers after SIGKILL"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Starts the runtime again on the same persist directory (the same local D1 and KV
    /// files) and configuration, as after a crash; the old runtime must be gone
    /// ([`Worker::kill_runtime`]). The new one listens on a new port.
    pub fn restart(self) -> Worker {
        let config = self.persist_dir.join("config/wrangler.toml");
        let persist_dir = self.persist_dir.clone();
        let d1_files = self.d1_files.clone();
        drop(self);
        let mut worker = Worker::serve(&config, persist_dir);
        worker.d1_files = d1_files;
        worker.wait_until_ready(200);
        worker
    }

    /// Runs `wrangler dev` for `config` with `persist_dir` under a guardian that stops it
    /// when this process ends.
    pub fn serve(config: &Path, persist_dir: PathBuf) -> Worker {
        let root = repo_root();
        let port = free_port();
        let inspector_port = free_port();
        // Appended to, so a restart on the same directory keeps the first run's lines.
        let log_path = persist_dir.join("wrangler.log");
        let pgid_path = persist_dir.join(format!("wrangler-{port}.pgid"));
        let dev_command = format!(
            "exec '{wrangler}' dev --config '{config}' --persist-to '{persist}' --ip 127.0.0.1 \
             --port {port} --inspector-port {inspector_port} --show-interactive-dev-session=false \
             --log-level info --test-scheduled",
            wrangler = root.join("node_modules/.bin/wrangler").display(),
            config = config.display(),
            persist = persist_dir.display(),
        );
        // The guardian: start wrangler in its own process group, wait for end-of-file on
        // stdin, then stop the whole group (wrangler and workerd).
        let guardian_script = format!(
            "setsid bash -c \"{dev_command}\" >> '{log}' 2>&1 < /dev/null &\n\
             group=$!\n\
             echo $group > '{pgid}'\n\
             cat > /dev/null\n\
             kill -TERM -- -$group 2>/dev/null\n\
             for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 -- -$group 2>/dev/null || exit 0; sleep 0.2; done\n\
             kill -KILL -- -$group 2>/dev/null\n",
            log = log_path.display(),
            pgid = pgid_path.display(),
        );
        let mut guardian = Command::new("bash")
            .arg("-c")
            .arg(guardian_script)
            .current_dir(&root)
            .env("CLOUDFLARE_CF_FETCH_ENABLED", "false")
            .env("WRANGLER_SEND_METRICS", "false")
            .env("NO_COLOR", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting the wrangler guardian");
        let guardian_stdin = guardian.stdin.take().expect("guardian stdin");
        Worker {
            base_url: format!("http://127.0.0.1:{port}"),
            persist_dir,
            log_path,
            d1_files: std::collections::BTreeMap::new(),
            pgid_path,
            _guardian_stdin: Mutex::new(guardian_stdin),
            _guardian: Mutex::new(guardian),
        }
    }

    /// Starts `wrangler dev` for any configuration (the benchmark's hello-world worker),
    /// without building or migrating, and waits until `probe` answers at all.
    #[allow(dead_code)] // used by benches/edgeback.rs, which includes this file
    pub fn start_plain(config: &Path, probe: &str) -> Worker {
        require_toolchain();
        let persist_dir = std::env::temp_dir().join(format!(
            "edgeback-plain-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default()
        ));
        std::fs::create_dir_all(&persist_dir).expect("temporary persist directory");
        let worker = Worker::serve(config, persist_dir);
        let deadline = Instant::now() + Duration::from_secs(90);
        while let Err(ureq::Error::Transport(_)) = agent().get(&worker.url(probe)).call() {
            assert!(
                Instant::now() < deadline,
                "{} did not start:\n{}",
                config.display(),
                worker.log_tail()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
        worker
    }

    fn wait_until_ready(&self, ready_status: u16) {
        let deadline = Instant::now() + Duration::from_secs(90);
        while Instant::now() < deadline {
            let status = match agent().get(&format!("{}/healthz", self.base_url)).call() {
                Ok(response) => Some(response.status()),
                Err(ureq::Error::Status(status, _)) => Some(status),
                Err(_) => None,
            };
            if status == Some(ready_status) {
                return;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        panic!(
            "the worker did not answer /healthz within 90 s; log:\n{}",
            self.log_tail()
        );
    }

    pub fn log_tail(&self) -> String {
        let mut text = String::new();
        if let Ok(mut file) = std::fs::File::open(&self.log_path) {
            let _ = file.read_to_string(&mut text);
        }
        let start = text.len().saturating_sub(4000);
        text.get(start..).unwrap_or_default().to_string()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    /// The local D1 database file of this run.
    fn database_file(&self) -> PathBuf {
        if let Some(file) = self.d1_files.get("DB") {
            return file.clone();
        }
        let dir = self.persist_dir.join("v3/d1/miniflare-D1DatabaseObject");
        std::fs::read_dir(&dir)
            .unwrap_or_else(|error| panic!("no local D1 in {}: {error}", dir.display()))
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .find(|path| {
                path.extension().is_some_and(|ext| ext == "sqlite")
                    && path.file_stem().is_some_and(|stem| stem != "metadata")
            })
            .unwrap_or_else(|| panic!("no .sqlite file in {}", dir.display()))
    }

    /// Reads rows from the worker's local D1 (the same SQLite file workerd uses).
    pub fn query(&self, sql: &str, params: &[&dyn rusqlite::ToSql]) -> Vec<serde_json::Value> {
        query_file(&self.database_file(), sql, params)
    }

    /// Reads rows from the local D1 database bound as `binding`.
    #[allow(dead_code)]
    pub fn query_in(
        &self,
        binding: &str,
        sql: &str,
        params: &[&dyn rusqlite::ToSql],
    ) -> Vec<serde_json::Value> {
        let file = self
            .d1_files
            .get(binding)
            .unwrap_or_else(|| panic!("no local D1 bound as {binding}"));
        query_file(file, sql, params)
    }
}

fn query_file(file: &Path, sql: &str, params: &[&dyn rusqlite::ToSql]) -> Vec<serde_json::Value> {
    {
        use rusqlite::types::ValueRef;
        let connection = rusqlite::Connection::open_with_flags(
            file,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .expect("open local D1");
        connection.busy_timeout(Duration::from_secs(5)).ok();
        let mut statement = connection.prepare(sql).expect("prepare");
        let names: Vec<String> = statement
            .column_names()
            .iter()
            .map(|n| n.to_string())
            .collect();
        let rows = statement
            .query_map(params, |row| {
                let mut object = serde_json::Map::new();
                for (index, name) in names.iter().enumerate() {
                    let value = match row.get_ref(index)? {
                        ValueRef::Null => serde_json::Value::Null,
                        ValueRef::Integer(n) => n.into(),
                        ValueRef::Real(f) => f.into(),
                        ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned().into(),
                        ValueRef::Blob(b) => format!("<{} bytes>", b.len()).into(),
                    };
                    object.insert(name.clone(), value);
                }
                Ok(serde_json::Value::Object(object))
            })
            .expect("query");
        rows.map(|row| row.expect("row")).collect()
    }
}

impl Worker {
    /// Changes the worker's local D1 from outside (fault injection and seeding only; use
    /// it on [`isolated_worker`] while holding [`exclusive`]).
    pub fn execute(&self, sql: &str) {
        let connection = rusqlite::Connection::open(self.database_file()).expect("open local D1");
        connection.busy_timeout(Duration::from_secs(5)).ok();
        connection
            .execute_batch(sql)
            .unwrap_or_else(|error| panic!("{sql}: {error}"));
    }

    /// Polls until `sql` returns at least one row (rows written after a response arrive
    /// a moment later), or gives up after 10 s and returns what it last saw.
    pub fn wait_for_rows(
        &self,
        sql: &str,
        params: &[&dyn rusqlite::ToSql],
    ) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let rows = self.query(sql, params);
            if !rows.is_empty() || Instant::now() > deadline {
                return rows;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Sends `request` byte for byte (for what an HTTP client would refuse to send:
    /// raw non-UTF-8 bytes, odd request lines) and returns the status and raw head.
    pub fn raw(&self, request: &[u8]) -> (u16, String) {
        use std::io::Write;
        let address = self.base_url.trim_start_matches("http://");
        let mut stream = std::net::TcpStream::connect(address).expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(30))).ok();
        stream.write_all(request).expect("write");
        let mut reply = Vec::new();
        let _ = stream.read_to_end(&mut reply);
        let text = String::from_utf8_lossy(&reply).into_owned();
        let status = text
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or(0);
        let head = text
            .split("\r\n\r\n")
            .next()
            .unwrap_or_default()
            .to_string();
        (status, head)
    }

    /// The resident memory (KiB) of this worker's workerd processes, from /proc.
    pub fn workerd_rss_kib(&self) -> u64 {
        self.workerd_pids()
            .into_iter()
            .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/status")).ok())
            .filter_map(|status| {
                status
                    .lines()
                    .find(|line| line.starts_with("VmRSS:"))
                    .and_then(|line| line.split_whitespace().nth(1)?.parse::<u64>().ok())
            })
            .sum()
    }

    /// Each workerd process of this worker: whether it runs the worker itself (the one
    /// wrangler starts with its inspector on; the other is wrangler's proxy in front of
    /// it), and its resident memory in KiB.
    #[allow(dead_code)] // used by the soak test
    pub fn workerd_rss_each(&self) -> Vec<(bool, u64)> {
        self.workerd_pids()
            .into_iter()
            .filter_map(|pid| {
                let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
                let kib = status
                    .lines()
                    .find(|line| line.starts_with("VmRSS:"))
                    .and_then(|line| line.split_whitespace().nth(1)?.parse::<u64>().ok())?;
                let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                let runs_worker = String::from_utf8_lossy(&cmdline).contains("--inspector-addr");
                Some((runs_worker, kib))
            })
            .collect()
    }

    /// The CPU time (user + system, in clock ticks of 1/100 s) this worker's workerd
    /// processes have used so far, from /proc (the benchmark's per-request CPU): all of
    /// them, and the one that runs the worker itself (not wrangler's proxy in front of it).
    #[allow(dead_code)] // used by benches/edgeback.rs, which includes this file
    pub fn workerd_cpu_ticks(&self) -> (u64, u64) {
        self.workerd_pids()
            .into_iter()
            .filter_map(|pid| {
                let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
                // After "pid (comm)": state is field 3, utime 14, stime 15.
                let (_, rest) = stat.rsplit_once(')')?;
                let fields: Vec<&str> = rest.split_whitespace().collect();
                let utime = fields.get(11)?.parse::<u64>().ok()?;
                let stime = fields.get(12)?.parse::<u64>().ok()?;
                let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                let runs_worker = String::from_utf8_lossy(&cmdline).contains("--inspector-addr");
                Some((utime + stime, runs_worker))
            })
            .fold((0, 0), |(all, own), (ticks, runs_worker)| {
                (all + ticks, own + if runs_worker { ticks } else { 0 })
            })
    }

    /// The processes named `workerd` among the descendants of the wrangler guardian.
    fn workerd_pids(&self) -> Vec<u32> {
        let root = self
            ._guardian
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .id();
        let mut parents = std::collections::HashMap::new();
        let mut names = std::collections::HashMap::new();
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            // "pid (comm) state ppid ...": comm may hold spaces, so split after ')'.
            let Some((head, rest)) = stat.rsplit_once(')') else {
                continue;
            };
            let name = head
                .split_once('(')
                .map(|(_, n)| n.to_string())
                .unwrap_or_default();
            let ppid = rest
                .split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<u32>().ok());
            if let Some(ppid) = ppid {
                parents.insert(pid, ppid);
                names.insert(pid, name);
            }
        }
        let descends = |mut pid: u32| {
            for _ in 0..64 {
                match parents.get(&pid) {
                    Some(&parent) if parent == root => return true,
                    Some(&parent) if parent > 1 => pid = parent,
                    _ => return false,
                }
            }
            false
        };
        names
            .iter()
            .filter(|(pid, name)| name.starts_with("workerd") && descends(**pid))
            .map(|(pid, _)| *pid)
            .collect()
    }

    /// Sends a chunked POST of `total` bytes to `path` over a raw socket, stopping as soon
    /// as a reply arrives; returns the reply's status and how many body bytes were sent.
    #[allow(dead_code)] // not used by benches/edgeback.rs, which includes this file
    pub fn chunked_post(&self, path: &str, total: usize) -> (u16, usize) {
        use std::io::Write;
        let address = self.base_url.trim_start_matches("http://");
        let mut stream = std::net::TcpStream::connect(address).expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(60))).ok();
        let mut reader = stream.try_clone().expect("clone socket");
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
             Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).expect("write head");
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let sent = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let writer = {
            let (done, sent) = (done.clone(), sent.clone());
            std::thread::spawn(move || {
                let chunk = vec![b' '; 64 * 1024];
                let framed =
                    [format!("{:x}\r\n", chunk.len()).as_bytes(), &chunk, b"\r\n"].concat();
                while sent.load(std::sync::atomic::Ordering::SeqCst) < total
                    && !done.load(std::sync::atomic::Ordering::SeqCst)
                {
                    if stream.write_all(&framed).is_err() {
                        return;
                    }
                    sent.fetch_add(chunk.len(), std::sync::atomic::Ordering::SeqCst);
                }
                let _ = stream.write_all(b"0\r\n\r\n");
            })
        };
        let mut first = [0u8; 64];
        let read = std::io::Read::read(&mut reader, &mut first).unwrap_or(0);
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = reader.shutdown(std::net::Shutdown::Both);
        let _ = writer.join();
        let text = String::from_utf8_lossy(&first[..read]).into_owned();
        let status = text
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or(0);
        (status, sent.load(std::sync::atomic::Ordering::SeqCst))
    }

    /// Triggers one run of the cron handler.
    pub fn trigger_cron(&self) -> Reply {
        self.trigger_cron_at("* * * * *", None)
    }

    /// Triggers one run of the cron trigger `cron` (e.g. `*/5 * * * *`), as if scheduled
    /// at `time_ms` when given.
    pub fn trigger_cron_at(&self, cron: &str, time_ms: Option<u64>) -> Reply {
        // `wrangler dev --test-scheduled`'s route; the time rides on the expression
        // (src/runtime/cron.rs `scheduled_at`): wrangler 4.86's `/cdn-cgi/handler/scheduled`
        // fails once the worker has static assets.
        let cron = cron.replace(' ', "+");
        let time = time_ms.map(|ms| format!("@{ms}")).unwrap_or_default();
        self.get(&format!("/__scheduled?cron={cron}{time}"), &[])
    }

    pub fn get(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        self.send("GET", path, headers, None)
    }

    /// Sends a request and returns the reply whatever its status; never follows redirects.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Reply {
        // Every test asks for the D1 figures (`x-edgeback-d1-*`; the benchmark's load
        // does not, as a visitor's browser would not).
        let mut request = agent()
            .request(method, &self.url(path))
            .set("x-edgeback-diagnostics", "d1");
        for (name, value) in headers {
            request = request.set(name, value);
        }
        let result = match body {
            Some(bytes) => request.send_bytes(bytes),
            None => request.call(),
        };
        let response = match result {
            Ok(response) => response,
            Err(ureq::Error::Status(_, response)) => response,
            Err(error) => panic!("{method} {path}: {error}\nworker log:\n{}", self.log_tail()),
        };
        Reply::from(response)
    }
}

/// Clicks `/c/{campaign}?{query}` on the shared worker (see [`Worker::click_through`]).
pub fn click_through(campaign: &str, query: &str, ip: &str) -> String {
    worker().click_through(campaign, query, ip)
}

impl Worker {
    /// Clicks `/c/{campaign}?{query}` as a browser from `ip`, waits until the click row is
    /// stored, and returns the click ID: the offer URL's query value that verifies as one.
    pub fn click_through(&self, campaign: &str, query: &str, ip: &str) -> String {
        let id = self.click_only(campaign, query, ip);
        let rows = self.wait_for_rows("SELECT 1 FROM clicks WHERE click_id = ?1", &[&id]);
        assert_eq!(rows.len(), 1, "the click row of {id} never arrived");
        id
    }

    /// Clicks `/c/{campaign}?{query}` as a browser from `ip` and returns the click ID at
    /// once: its row is written after the response, a moment later.
    pub fn click_only(&self, campaign: &str, query: &str, ip: &str) -> String {
        let reply = self.get(
            &format!("/c/{campaign}?{query}"),
            &[
                ("user-agent", "Mozilla/5.0 (e2e)"),
                ("cf-connecting-ip", ip),
            ],
        );
        assert!(
            matches!(reply.status, 302 | 307),
            "click on {campaign}: {} {}",
            reply.status,
            reply.body
        );
        let location = url::Url::parse(reply.header("location").expect("Location"))
            .expect("absolute Location");
        let secrets = edgeback::click_id::ClickSecrets::new(CLICK_SECRET, None).expect("secret");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or_default();
        // Campaigns restricted to a network bind it into the ID (tests/e2e/wrangler.toml
        // restricts to "tune" only).
        location
            .query_pairs()
            .find_map(|(_, value)| {
                secrets
                    .verify_for(&value, now, 60_000, &["tune"])
                    .ok()
                    .map(|v| v.id)
            })
            .unwrap_or_else(|| panic!("no click ID in {location}"))
    }
}

/// An HTTP reply, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    fn from(response: ureq::Response) -> Self {
        let status = response.status();
        let headers = response
            .headers_names()
            .into_iter()
            .filter_map(|name| {
                response
                    .header(&name)
                    .map(|value| (name.clone(), value.to_string()))
            })
            .collect();
        let mut body = String::new();
        let _ = BufReader::new(response.into_reader()).read_to_string(&mut body);
        Reply {
            status,
            headers,
            body,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|error| panic!("not JSON ({error}): {}", self.body))
    }

    /// The postback outcome code of a JSON reply (empty if none).
    pub fn outcome(&self) -> String {
        self.json()["outcome"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Asserts a postback reply: HTTP status, outcome code, D1 round trips before the
    /// response, `Cache-Control: no-store`, and `ok` exactly when recorded (200).
    pub fn assert_outcome(&self, status: u16, code: &str, d1_queries: u32) {
        assert_eq!(
            (self.status, self.outcome().as_str()),
            (status, code),
            "{}",
            self.body
        );
        assert_eq!(
            self.d1_queries(),
            d1_queries,
            "{code}: D1 round trips before the response"
        );
        assert_eq!(self.header("cache-control"), Some("no-store"));
        let ok = self.json()["ok"].as_bool();
        assert_eq!(ok, Some(status == 200), "{code}: ok must mean recorded");
    }

    /// The D1 round trips the worker made before this response (design §10).
    pub fn d1_queries(&self) -> u32 {
        self.header("x-edgeback-d1-queries")
            .and_then(|value| value.parse().ok())
            .unwrap_or_else(|| panic!("no x-edgeback-d1-queries header in {:?}", self.headers))
    }
}

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .redirects(0)
        .timeout(Duration::from_secs(30))
        .build()
}

fn shared(
    cell: &'static OnceLock<Result<Worker, String>>,
    config: &str,
    ready: u16,
) -> &'static Worker {
    let started = cell.get_or_init(|| {
        std::panic::catch_unwind(|| Worker::start(config, ready))
            .map_err(|panic| panic_message(&panic))
    });
    match started {
        Ok(worker) => worker,
        Err(message) => panic!("{message}"),
    }
}

/// The shared worker, started by the first test that asks for it. A start that failed
/// fails every test with the same message instead of being retried by each.
pub fn worker() -> &'static Worker {
    static WORKER: OnceLock<Result<Worker, String>> = OnceLock::new();
    shared(&WORKER, "wrangler.toml", 200)
}

/// A second worker with the same configuration and its own D1 file, for the tests that
/// write to that file from outside workerd (fault injection, seeding). Such a write
/// locks the file for a moment and a worker write that collides with it fails, so these
/// tests never share a database with the others, and run one at a time through
/// [`exclusive`].
pub fn isolated_worker() -> &'static Worker {
    static WORKER: OnceLock<Result<Worker, String>> = OnceLock::new();
    shared(&WORKER, "wrangler.toml", 200)
}

/// A worker whose clicks are spread over three click databases (`CLICKS_0`…`CLICKS_2`,
/// none of them the main one), so every click is stored apart from its conversions
/// (docs/scale.md). The rest of the suite runs with one database.
pub fn spread_worker() -> &'static Worker {
    static WORKER: OnceLock<Result<Worker, String>> = OnceLock::new();
    let started = WORKER.get_or_init(|| {
        std::panic::catch_unwind(|| Worker::start_with("wrangler.toml", 200, 3))
            .map_err(|panic| panic_message(&panic))
    });
    match started {
        Ok(worker) => worker,
        Err(message) => panic!("{message}"),
    }
}

/// Serializes the tests that use [`isolated_worker`] and write to its database.
pub fn exclusive() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A worker whose configuration is deliberately invalid (`wrangler.misconfigured.toml`).
pub fn misconfigured_worker() -> &'static Worker {
    static WORKER: OnceLock<Result<Worker, String>> = OnceLock::new();
    shared(&WORKER, "wrangler.misconfigured.toml", 500)
}

/// Reads lines of a child's output (used by tests of the README commands).
#[allow(dead_code)]
pub fn lines(reader: impl Read) -> impl Iterator<Item = String> {
    BufReader::new(reader).lines().map_while(Result::ok)
}
