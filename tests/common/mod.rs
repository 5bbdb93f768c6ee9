//! Helpers for end-to-end tests: start real `stratus` processes on
//! ephemeral loopback ports and talk HTTP/1.1 to them with a tiny client
//! that gives full control over what goes on the wire.
#![allow(dead_code, clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const ENGINES: [&str; 2] = ["io_uring", "sync"];

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running storage node: object, container and account servers.
pub struct StorageNode {
    child: Option<Child>,
    pub object: SocketAddr,
    pub container: SocketAddr,
    pub account: SocketAddr,
    pub devices: PathBuf,
    config: PathBuf,
    engine: String,
}

/// A node over one device `d1` in a fresh temporary directory.
pub fn temp_node(engine: &str, extra: &str) -> (tempfile::TempDir, StorageNode) {
    let dir = tempfile::tempdir().unwrap();
    let devices = dir.path().join("node");
    std::fs::create_dir_all(devices.join("d1")).unwrap();
    let n = StorageNode::start(&devices, engine, extra);
    (dir, n)
}

impl StorageNode {
    /// Starts a node over `devices` (whose subdirectories are devices).
    /// Ports are picked free and may be taken before the node binds them
    /// (other tests open many client sockets), so a failed start retries.
    pub fn start(devices: &Path, engine: &str, extra: &str) -> StorageNode {
        let addr = |p: u16| SocketAddr::from(([127, 0, 0, 1], p));
        for _ in 0..5 {
            let (o, c, a) = (addr(free_port()), addr(free_port()), addr(free_port()));
            let config = devices.with_extension("toml");
            let mut node = StorageNode {
                child: None,
                object: o,
                container: c,
                account: a,
                devices: devices.into(),
                config,
                engine: engine.into(),
            };
            node.write_config(extra);
            if node.try_restart() {
                return node;
            }
        }
        panic!("storage node did not come up");
    }

    /// Rewrites the config (same ports and devices) with other extra
    /// settings; they apply from the next restart.
    pub fn write_config(&mut self, extra: &str) {
        let (o, c, a) = (self.object, self.container, self.account);
        let text = format!(
            "bind = \"{o}\"\ncontainer_bind = \"{c}\"\naccount_bind = \"{a}\"\ndevices = \"{}\"\nengine = \"{}\"\n{extra}",
            self.devices.display(),
            self.engine
        );
        std::fs::write(&self.config, text).unwrap();
    }

    pub fn restart(&mut self) {
        assert!(self.try_restart(), "storage node did not come back up");
    }

    fn try_restart(&mut self) -> bool {
        let child = Command::new(env!("CARGO_BIN_EXE_stratus"))
            .args(["storage", "--config"])
            .arg(&self.config)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if self
                .child
                .as_mut()
                .is_some_and(|c| c.try_wait().ok().flatten().is_some())
            {
                self.child = None;
                return false;
            }
            let up = [self.object, self.container, self.account].iter().all(|a| {
                try_request(*a, "GET", "/healthcheck", &[], b"").is_ok_and(|r| r.status == 200)
            });
            if up {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.kill9();
        false
    }

    /// Peak resident memory of the node process so far, in bytes.
    pub fn peak_rss(&self) -> u64 {
        let pid = self.child.as_ref().map(Child::id).unwrap();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let kb: u64 = status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .unwrap()
            .split_whitespace()
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        kb * 1024
    }

    /// SIGSTOP (`true`) or SIGCONT: a node that accepts connections but
    /// never answers, as a hung process or disk makes it.
    pub fn freeze(&self, frozen: bool) {
        if let Some(c) = &self.child {
            let sig = if frozen { "-STOP" } else { "-CONT" };
            let ok = Command::new("kill")
                .args([sig, &c.id().to_string()])
                .status()
                .unwrap()
                .success();
            assert!(ok, "kill {sig}");
        }
    }

    /// kill -9, as a crash or power cut of the process would.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for StorageNode {
    fn drop(&mut self) {
        self.kill9();
    }
}

#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Resp {
    try_request(addr, method, path, headers, body)
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

pub fn try_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<Resp> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
        head.push_str(&format!("Host: {addr}\r\n"));
    }
    let chunked = headers
        .iter()
        .any(|(n, v)| n.eq_ignore_ascii_case("transfer-encoding") && v == &"chunked");
    for (n, v) in headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    if !chunked
        && !headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        && (method == "PUT" || !body.is_empty())
    {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes())?;
    let sent = if chunked {
        body.chunks(1000)
            .try_for_each(|c| {
                s.write_all(format!("{:x}\r\n", c.len()).as_bytes())?;
                s.write_all(c)?;
                s.write_all(b"\r\n")
            })
            .and_then(|()| s.write_all(b"0\r\n\r\n"))
    } else {
        s.write_all(body)
    };
    // A server may answer (say 507 or 413) before reading the whole body
    // and close; the answer is still there to read.
    match read_response(s, method == "HEAD") {
        Ok(r) => Ok(r),
        Err(e) => sent.and(Err(e)),
    }
}

fn read_response(s: TcpStream, head_only: bool) -> std::io::Result<Resp> {
    let mut r = BufReader::new(s);
    let mut line = String::new();
    r.read_line(&mut line)?;
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
    let mut headers = Vec::new();
    loop {
        line.clear();
        r.read_line(&mut line)?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((n, v)) = l.split_once(':') {
            headers.push((n.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let mut resp = Resp {
        status,
        headers,
        body: Vec::new(),
    };
    if head_only || status == 204 || status == 304 || status == 100 {
        return Ok(resp);
    }
    if resp
        .header("transfer-encoding")
        .is_some_and(|t| t.contains("chunked"))
    {
        loop {
            line.clear();
            r.read_line(&mut line)?;
            let n = usize::from_str_radix(line.trim(), 16).map_err(std::io::Error::other)?;
            if n == 0 {
                break;
            }
            let mut c = vec![0; n + 2];
            r.read_exact(&mut c)?;
            resp.body.extend_from_slice(&c[..n]);
        }
    } else if let Some(n) = resp
        .header("content-length")
        .and_then(|v| v.parse::<usize>().ok())
    {
        resp.body.resize(n, 0);
        r.read_exact(&mut resp.body)?;
    } else {
        r.read_to_end(&mut resp.body)?;
    }
    Ok(resp)
}

/// A fresh timestamp in Swift's format; strictly increasing per process.
pub fn ts() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let ticks = now.as_secs() * 100_000 + u64::from(now.subsec_micros() / 10);
    let prev = LAST
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |l| {
            Some((l + 1).max(ticks))
        })
        .unwrap();
    let t = (prev + 1).max(ticks);
    format!("{:010}.{:05}", t / 100_000, t % 100_000)
}

/// Deterministic pseudo-random bytes (no RNG dependency).
pub fn bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

pub fn venv_bin(name: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../.venv/bin")
        .join(name);
    assert!(p.exists(), "{} missing: run scripts/setup.sh", p.display());
    p
}

/// Runs a client from .venv with only the given credentials (none from
/// the caller's environment or files).
pub fn tool(
    name: &str,
    env: &[(String, String)],
    args: &[&str],
    cwd: &Path,
) -> std::process::Output {
    let mut c = Command::new(venv_bin(name));
    for (k, _) in std::env::vars() {
        if k.starts_with("OS_") || k.starts_with("ST_") || k.starts_with("AWS_") {
            c.env_remove(k);
        }
    }
    c.args(args)
        .envs(env.iter().cloned())
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .current_dir(cwd)
        .output()
        .unwrap()
}

/// [`tool`], panicking unless it succeeds; its stdout.
pub fn tool_ok(name: &str, env: &[(String, String)], args: &[&str], cwd: &Path) -> String {
    let out = tool(name, env, args, cwd);
    // Scripts passed with -c are long: name the command by its start.
    let shown: Vec<String> = args.iter().map(|a| a.chars().take(60).collect()).collect();
    assert!(
        out.status.success(),
        "{name} {shown:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What every boto3 test script starts with: an S3 client from the
/// environment, and `code(fn)`: the S3 error code fn raises, or "ok".
const BOTO3_PRELUDE: &str = r#"
import boto3, botocore
s3 = boto3.client("s3")
def code(fn):
    try:
        fn()
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"]
    return "ok"
"#;

/// Runs a boto3 `script` (after [`BOTO3_PRELUDE`]) with `env`; its stdout.
pub fn boto3(env: &[(String, String)], script: &str, cwd: &Path) -> String {
    let full = format!("{BOTO3_PRELUDE}{script}");
    tool_ok("python", env, &["-c", &full], cwd)
}

/// `stratus up` on free ports in a temporary data directory.
pub struct Up {
    child: Child,
    pub env: Vec<(String, String)>,
    pub proxy: std::net::SocketAddr,
    pub identity: std::net::SocketAddr,
    pub dir: tempfile::TempDir,
}

impl Up {
    pub fn start() -> Up {
        for _ in 0..5 {
            let dir = tempfile::tempdir().unwrap();
            let proxy_port = free_port();
            let identity_port = free_port();
            // Storage ports BASE..BASE+22 must all be free; pick a random base.
            let base = 20_000 + (free_port() % 30_000);
            let child = Command::new(env!("CARGO_BIN_EXE_stratus"))
                .args([
                    "up",
                    "--proxy-port",
                    &proxy_port.to_string(),
                    "--storage-port",
                    &base.to_string(),
                    "--identity-port",
                    &identity_port.to_string(),
                    "--data-dir",
                ])
                .arg(dir.path())
                .env("RUST_LOG", "warn")
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .spawn()
                .unwrap();
            let proxy = std::net::SocketAddr::from(([127, 0, 0, 1], proxy_port));
            let mut up = Up {
                child,
                env: vec![],
                proxy,
                identity: std::net::SocketAddr::from(([127, 0, 0, 1], identity_port)),
                dir,
            };
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if up.child.try_wait().unwrap().is_some() {
                    break;
                }
                let ready = |addr, path| {
                    try_request(addr, "GET", path, &[], b"").is_ok_and(|r| r.status < 400)
                };
                if ready(proxy, "/healthcheck") && ready(up.identity, "/v3") {
                    let env = std::fs::read_to_string(up.dir.path().join("stratus.env")).unwrap();
                    up.env = env
                        .lines()
                        .filter_map(|l| l.strip_prefix("export ")?.split_once('='))
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect();
                    return up;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = up.child.kill();
        }
        panic!("stratus up did not come up");
    }

    /// Runs `swift <args>`; returns stdout, panicking on failure.
    pub fn swift(&self, args: &[&str], cwd: &Path) -> String {
        let out = Command::new(venv_bin("swift"))
            .args(args)
            .envs(self.env.iter().cloned())
            .current_dir(cwd)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "swift {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The variables of `stratus.env` whose names start with `prefix`.
    pub fn env_of(&self, prefix: &str) -> Vec<(String, String)> {
        self.env
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .cloned()
            .collect()
    }

    pub fn token(&self) -> String {
        let user = &self.env.iter().find(|(k, _)| k == "ST_USER").unwrap().1;
        let key = &self.env.iter().find(|(k, _)| k == "ST_KEY").unwrap().1;
        let r = request(
            self.proxy,
            "GET",
            "/auth/v1.0",
            &[("X-Auth-User", user), ("X-Auth-Key", key)],
            b"",
        );
        assert_eq!(r.status, 200);
        r.header("x-auth-token").unwrap().to_string()
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `stratus` with `args`; panics unless it succeeds.
pub fn stratus(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_stratus"))
        .args(args)
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    assert!(out.status.success(), "stratus {args:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `stratus storage` processes (one device `d1` each) and a `stratus
/// proxy`, over rings built with `stratus ring` (part power 8, three
/// replicas, min_part_hours 0).
pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub nodes: Vec<StorageNode>,
    proxy: Option<Child>,
    pub addr: SocketAddr,
    pub rings: PathBuf,
}

/// Storage node settings for tests that run worker passes themselves
/// (`Cluster::run`) rather than wait for their intervals.
pub const MANUAL_WORKERS: &str = "replication_interval_secs = 3600\nauditor_interval_secs = 3600\n\
    expirer_interval_secs = 3600\nupdater_interval_secs = 3600\nreplication_bytes_per_sec = 0\n\
    auditor_bytes_per_sec = 0\n";

impl Cluster {
    pub fn start() -> Cluster {
        Cluster::with_config("", "")
    }

    /// `node_extra` goes into each storage node's config, `proxy_extra`
    /// into the proxy's.
    pub fn with_config(node_extra: &str, proxy_extra: &str) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let rings = dir.path().join("rings");
        std::fs::create_dir_all(&rings).unwrap();
        let mut c = Cluster {
            nodes: Vec::new(),
            proxy: None,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            rings,
            dir,
        };
        for _ in 0..3 {
            c.start_node(node_extra);
        }
        for kind in ["object", "container", "account"] {
            stratus(&["ring", &c.builder(kind), "create", "8", "3", "0"]);
        }
        for n in 0..3 {
            c.add_to_rings(n);
        }
        c.rebalance();
        c.start_proxy(proxy_extra);
        c
    }

    pub fn builder(&self, kind: &str) -> String {
        self.rings
            .join(format!("{kind}.builder"))
            .to_str()
            .unwrap()
            .to_string()
    }

    /// Starts another storage node (not yet in the rings); returns its index.
    pub fn start_node(&mut self, extra: &str) -> usize {
        let n = self.nodes.len();
        let devices = self.dir.path().join(format!("node{n}"));
        // One device per node: with two nodes down no handoff device is
        // left, so a write cannot reach a quorum anywhere.
        std::fs::create_dir_all(devices.join("d1")).unwrap();
        let extra = format!("rings = \"{}\"\n{extra}", self.rings.display());
        self.nodes
            .push(StorageNode::start(&devices, "auto", &extra));
        n
    }

    /// Adds node `n`'s device to the three builders (zone n+1).
    pub fn add_to_rings(&self, n: usize) {
        let node = &self.nodes[n];
        for (kind, port) in [
            ("object", node.object.port()),
            ("container", node.container.port()),
            ("account", node.account.port()),
        ] {
            let dev = format!("r1z{}-127.0.0.1:{port}/d1", n + 1);
            stratus(&["ring", &self.builder(kind), "add", &dev, "100"]);
        }
    }

    /// Rebalances the three builders and writes their rings.
    pub fn rebalance(&self) {
        for kind in ["object", "container", "account"] {
            let b = self.builder(kind);
            let out = Command::new(env!("CARGO_BIN_EXE_stratus"))
                .args(["ring", &b, "rebalance", "--seed", "1"])
                .output()
                .unwrap();
            // 1: a warning (e.g. balance still off after one pass).
            assert!(matches!(out.status.code(), Some(0 | 1)), "rebalance {kind}");
        }
    }

    fn start_proxy(&mut self, extra: &str) {
        let port = free_port();
        let config = self.dir.path().join("proxy.toml");
        std::fs::write(
            &config,
            format!(
                "bind = \"127.0.0.1:{port}\"\nrings = \"{}\"\nconn_timeout_ms = 300\nnode_timeout_ms = 3000\n{extra}\n[[users]]\naccount = \"test\"\nuser = \"tester\"\nkey = \"testing\"\nroles = [\".admin\"]\n\n[[users]]\naccount = \"other\"\nuser = \"bob\"\nkey = \"bobkey\"\nroles = [\".admin\"]\n\n[[users]]\naccount = \"reseller\"\nuser = \"admin\"\nkey = \"adminkey\"\nroles = [\".reseller_admin\"]\n",
                self.rings.display()
            ),
        )
        .unwrap();
        self.stop_proxy();
        self.proxy = Some(
            Command::new(env!("CARGO_BIN_EXE_stratus"))
                .args(["proxy", "--config"])
                .arg(&config)
                .env("RUST_LOG", "warn")
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .spawn()
                .unwrap(),
        );
        self.addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + Duration::from_secs(20);
        while !try_request(self.addr, "GET", "/healthcheck", &[], b"")
            .is_ok_and(|r| r.status == 200)
        {
            assert!(Instant::now() < deadline, "proxy did not come up");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A v1 token of test:tester.
    pub fn token(&self) -> String {
        self.token_of("test:tester", "testing")
    }

    pub fn token_of(&self, user: &str, key: &str) -> String {
        let r = request(
            self.addr,
            "GET",
            "/auth/v1.0",
            &[("X-Auth-User", user), ("X-Auth-Key", key)],
            b"",
        );
        r.header("x-auth-token").unwrap().to_string()
    }

    /// Runs one pass of `worker` on node `n` and returns its report.
    pub fn run(&self, n: usize, worker: &str) -> serde_json::Value {
        let r = request(
            self.nodes[n].object,
            "POST",
            &format!("/recon/run/{worker}"),
            &[],
            b"",
        );
        assert_eq!(r.status, 200, "{worker} on node {n}: {}", r.text());
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        v["report"].clone()
    }

    /// Runs one pass of `worker` on every running node at once.
    pub fn run_everywhere(&self, worker: &str, nodes: &[usize]) -> Vec<serde_json::Value> {
        std::thread::scope(|s| {
            let handles: Vec<_> = nodes
                .iter()
                .map(|&n| s.spawn(move || self.run(n, worker)))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        })
    }

    /// The partition and primary nodes (indexes into `nodes`, by port) of a
    /// name in ring `kind`.
    pub fn placement(&self, kind: &str, path: &[&str]) -> (u32, Vec<usize>) {
        let ring =
            stratus_common::ring_file::load_ring(&self.rings.join(format!("{kind}.ring"))).unwrap();
        let p = match path {
            [a] => stratus_ring::Path::Account(a),
            [a, c] => stratus_ring::Path::Container(a, c),
            [a, c, o] => stratus_ring::Path::Object(a, c, o),
            _ => panic!("bad path"),
        };
        let (part, primaries) = ring.get_nodes(p);
        let idx = primaries
            .map(|d| {
                self.nodes
                    .iter()
                    .position(|n| {
                        let port = match kind {
                            "object" => n.object.port(),
                            "container" => n.container.port(),
                            _ => n.account.port(),
                        };
                        port == d.port
                    })
                    .unwrap()
            })
            .collect();
        (part, idx)
    }
}

impl Cluster {
    fn stop_proxy(&mut self) {
        if let Some(mut p) = self.proxy.take() {
            let _ = p.kill();
            let _ = p.wait();
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop_proxy();
    }
}
