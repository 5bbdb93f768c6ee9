//! End-to-end tests of the identity service with the real
//! python-openstackclient and python-swiftclient (Keystone auth path) from
//! the project's .venv, against `stratus up`, plus deny paths and bad input
//! over raw HTTP.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{free_port, request, try_request, venv_bin, Up};
use serde_json::{json, Value};

/// Runs a venv tool with `env` (and nothing of the caller's OS_*/ST_*).
fn run(tool: &str, env: &[(String, String)], args: &[&str]) -> std::process::Output {
    run_in(tool, env, args, Path::new("."))
}

fn run_in(tool: &str, env: &[(String, String)], args: &[&str], cwd: &Path) -> std::process::Output {
    let mut c = Command::new(venv_bin(tool));
    for (k, _) in std::env::vars() {
        if k.starts_with("OS_") || k.starts_with("ST_") {
            c.env_remove(k);
        }
    }
    c.args(args)
        .envs(env.iter().cloned())
        .current_dir(cwd)
        .output()
        .unwrap()
}

fn ok(tool: &str, env: &[(String, String)], args: &[&str]) -> String {
    let out = run(tool, env, args);
    assert!(
        out.status.success(),
        "{tool} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn os_json(env: &[(String, String)], args: &[&str]) -> Value {
    let mut a = args.to_vec();
    a.extend(["-f", "json"]);
    serde_json::from_str(&ok("openstack", env, &a)).unwrap()
}

/// The OS_* variables of `stratus.env` (the admin), without the v1 ones.
fn admin_env(up: &Up) -> Vec<(String, String)> {
    up.env
        .iter()
        .filter(|(k, _)| k.starts_with("OS_"))
        .cloned()
        .collect()
}

fn user_env(
    up: &Up,
    user: &str,
    password: &str,
    domain: &str,
    project: &str,
) -> Vec<(String, String)> {
    let url = format!("http://{}/v3", up.identity);
    [
        ("OS_AUTH_URL", url.as_str()),
        ("OS_IDENTITY_API_VERSION", "3"),
        ("OS_USERNAME", user),
        ("OS_PASSWORD", password),
        ("OS_USER_DOMAIN_NAME", domain),
        ("OS_PROJECT_NAME", project),
        ("OS_PROJECT_DOMAIN_NAME", domain),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// POST /v3/auth/tokens: (status, token, body).
fn login(addr: SocketAddr, body: Value) -> (u16, String, Value) {
    let r = request(
        addr,
        "POST",
        "/v3/auth/tokens",
        &[("Content-Type", "application/json")],
        body.to_string().as_bytes(),
    );
    let token = r.header("x-subject-token").unwrap_or_default().to_string();
    (
        r.status,
        token,
        serde_json::from_slice(&r.body).unwrap_or(Value::Null),
    )
}

/// A password login by user id, project-scoped.
fn password_token(
    addr: SocketAddr,
    user_id: &str,
    password: &str,
    project_id: &str,
) -> (u16, String, Value) {
    login(
        addr,
        json!({"auth": {"identity": {"methods": ["password"],
            "password": {"user": {"id": user_id, "password": password}}},
            "scope": {"project": {"id": project_id}}}}),
    )
}

/// `/v3/auth/tokens` on `subject`, by `caller`: the status.
fn on_token(addr: SocketAddr, method: &str, caller: &str, subject: &str) -> u16 {
    let h = [("X-Auth-Token", caller), ("X-Subject-Token", subject)];
    request(addr, method, "/v3/auth/tokens", &h, b"").status
}

fn validate(addr: SocketAddr, token: &str) -> u16 {
    on_token(addr, "GET", token, token)
}

#[test]
fn openstack_and_swift_clients_work_with_identity() {
    let up = Up::start();
    let admin = admin_env(&up);
    let token = os_json(&admin, &["token", "issue"]);
    assert!(token["id"].as_str().unwrap().len() > 100, "{token}");
    let admin_project = token["project_id"].as_str().unwrap().to_string();

    let domain = os_json(&admin, &["domain", "create", "d1"]);
    assert_eq!(domain["name"], "d1");
    let project = os_json(&admin, &["project", "create", "--domain", "d1", "p1"]);
    let project_id = project["id"].as_str().unwrap().to_string();
    let user = os_json(
        &admin,
        &[
            "user",
            "create",
            "--domain",
            "d1",
            "--password",
            "pw1",
            "u1",
        ],
    );
    let user_id = user["id"].as_str().unwrap().to_string();
    os_json(&admin, &["role", "create", "r1"]);
    for role in ["r1", "member"] {
        ok(
            "openstack",
            &admin,
            &[
                "role",
                "add",
                "--project",
                "p1",
                "--project-domain",
                "d1",
                "--user",
                "u1",
                "--user-domain",
                "d1",
                role,
            ],
        );
    }
    let rows = os_json(&admin, &["role", "assignment", "list", "--names"]);
    let rows = rows.as_array().unwrap();
    assert!(
        rows.iter()
            .any(|r| r["Role"] == "r1" && r["User"] == "u1@d1" && r["Project"] == "p1@d1"),
        "{rows:?}"
    );
    let catalog = os_json(&admin, &["catalog", "list"]);
    let types: Vec<&str> = catalog
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["Type"].as_str().unwrap())
        .collect();
    assert!(
        types.contains(&"identity") && types.contains(&"object-store"),
        "{types:?}"
    );
    let endpoints = os_json(&admin, &["endpoint", "list"]);
    let store_url = endpoints
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["Service Type"] == "object-store" && e["Interface"] == "public")
        .unwrap()["URL"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        store_url.ends_with("/v1/AUTH_$(project_id)s"),
        "{store_url}"
    );

    // Application credential: created by the user, then used to log in.
    let u1 = user_env(&up, "u1", "pw1", "d1", "p1");
    let ac = os_json(&u1, &["application", "credential", "create", "ac1"]);
    let ac_env: Vec<(String, String)> = vec![
        ("OS_AUTH_URL".into(), format!("http://{}/v3", up.identity)),
        ("OS_AUTH_TYPE".into(), "v3applicationcredential".into()),
        (
            "OS_APPLICATION_CREDENTIAL_ID".into(),
            ac["ID"].as_str().unwrap().into(),
        ),
        (
            "OS_APPLICATION_CREDENTIAL_SECRET".into(),
            ac["Secret"].as_str().unwrap().into(),
        ),
    ];
    let ac_token = os_json(&ac_env, &["token", "issue"]);
    assert_eq!(ac_token["project_id"], project_id.as_str());
    assert_eq!(ac_token["user_id"], user_id.as_str());

    // EC2 credentials.
    let ec2 = os_json(&u1, &["ec2", "credentials", "create"]);
    assert_eq!(ec2["project_id"], project_id.as_str());
    let list = os_json(&u1, &["ec2", "credentials", "list"]);
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|c| c["Access"] == ec2["access"]),
        "{list}"
    );
    ec2_signatures_become_tokens(
        &up,
        ec2["access"].as_str().unwrap(),
        ec2["secret"].as_str().unwrap(),
        &project_id,
    );

    // The user changes its own password; the old one stops working.
    ok(
        "openstack",
        &u1,
        &[
            "user",
            "password",
            "set",
            "--password",
            "pw2",
            "--original-password",
            "pw1",
        ],
    );
    assert!(!run("openstack", &u1, &["token", "issue"]).status.success());
    let u1 = user_env(&up, "u1", "pw2", "d1", "p1");
    assert_eq!(
        os_json(&u1, &["token", "issue"])["project_id"],
        project_id.as_str()
    );

    // python-swiftclient's Keystone path: the admin and the user each get
    // their project's account from the catalog.
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("f.txt"), b"keystone object").unwrap();
    let swift = |env: &[(String, String)], args: &[&str]| {
        let out = run_in("swift", env, args, work.path());
        assert!(
            out.status.success(),
            "swift {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let stat = swift(&admin, &["stat"]);
    assert!(stat.contains(&format!("AUTH_{admin_project}")), "{stat}");
    swift(&u1, &["upload", "c1", "f.txt"]);
    assert_eq!(swift(&u1, &["list", "c1"]).trim(), "f.txt");
    assert_eq!(
        swift(&u1, &["download", "c1", "f.txt", "-o", "-"]),
        "keystone object"
    );
    assert!(swift(&u1, &["stat"]).contains(&format!("AUTH_{project_id}")));
}

#[test]
fn deny_paths() {
    let up = Up::start();
    let admin = admin_env(&up);
    let d = os_json(&admin, &["domain", "create", "dd"]);
    assert_eq!(d["name"], "dd");
    for p in ["pa", "pb"] {
        os_json(&admin, &["project", "create", "--domain", "dd", p]);
    }
    for (user, project, role) in [
        ("alice", "pa", "member"),
        ("bob", "pb", "member"),
        ("rita", "pa", "reader"),
    ] {
        os_json(
            &admin,
            &["user", "create", "--domain", "dd", "--password", "pw", user],
        );
        ok(
            "openstack",
            &admin,
            &[
                "role",
                "add",
                "--project",
                project,
                "--project-domain",
                "dd",
                "--user",
                user,
                "--user-domain",
                "dd",
                role,
            ],
        );
    }
    // A reader (and a member) cannot create users.
    let rita = user_env(&up, "rita", "pw", "dd", "pa");
    let out = run(
        "openstack",
        &rita,
        &["user", "create", "--domain", "dd", "mallory"],
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("403"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let alice_env = user_env(&up, "alice", "pw", "dd", "pa");
    assert!(!run(
        "openstack",
        &alice_env,
        &["user", "create", "--domain", "dd", "mallory"]
    )
    .status
    .success());

    // Tokens for the proxy, straight from the API.
    let ids = |kind: &str, name: &str| -> String {
        let v = os_json(&admin, &[kind, "show", "--domain", "dd", name]);
        v["id"].as_str().unwrap().to_string()
    };
    let (pa, pb) = (ids("project", "pa"), ids("project", "pb"));
    let (alice, bob, rita_id) = (
        ids("user", "alice"),
        ids("user", "bob"),
        ids("user", "rita"),
    );
    let (s, alice_token, _) = password_token(up.identity, &alice, "pw", &pa);
    assert_eq!(s, 201);
    let (_, bob_token, _) = password_token(up.identity, &bob, "pw", &pb);
    let (_, rita_token, _) = password_token(up.identity, &rita_id, "pw", &pa);
    let acct = format!("/v1/AUTH_{pa}");
    let h = |t: &str| vec![("X-Auth-Token", t.to_string())];
    let call = |method: &str, path: &str, token: &str| {
        let hs = h(token);
        let hs: Vec<(&str, &str)> = hs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        request(up.proxy, method, path, &hs, b"data").status
    };
    assert_eq!(call("PUT", &format!("{acct}/private"), &alice_token), 201);
    assert_eq!(call("PUT", &format!("{acct}/private/o"), &alice_token), 201);
    // Another project's member sees nothing of it.
    assert_eq!(call("GET", &acct, &bob_token), 403);
    assert_eq!(call("GET", &format!("{acct}/private"), &bob_token), 403);
    assert_eq!(call("GET", &format!("{acct}/private/o"), &bob_token), 403);
    assert_eq!(call("PUT", &format!("{acct}/private/x"), &bob_token), 403);
    // The project's reader reads but does not write.
    assert_eq!(call("GET", &format!("{acct}/private/o"), &rita_token), 200);
    assert_eq!(call("PUT", &format!("{acct}/private/x"), &rita_token), 403);
    // Forged: one character changed.
    let mut forged = alice_token.clone().into_bytes();
    let i = forged.len() / 2;
    forged[i] = if forged[i] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    assert_eq!(validate(up.identity, &forged), 401);
    assert_eq!(call("GET", &acct, &forged), 401);
    assert_eq!(call("GET", &acct, "gAAAAAnotatoken"), 401);
    // Revoked: the identity service refuses at once, the proxy (which had
    // cached it) within its recheck interval (10 s).
    assert_eq!(call("HEAD", &acct, &alice_token), 204);
    let (_, other_alice, _) = password_token(up.identity, &alice, "pw", &pa);
    assert_eq!(
        on_token(up.identity, "DELETE", &other_alice, &alice_token),
        204
    );
    assert_eq!(
        on_token(up.identity, "GET", &other_alice, &alice_token),
        404
    );
    let revoked = Instant::now();
    while call("HEAD", &acct, &alice_token) != 401 {
        assert!(
            revoked.elapsed() < Duration::from_secs(15),
            "revoked token still accepted"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    assert_eq!(call("HEAD", &acct, &other_alice), 204);
}

/// `stratus identity` alone, with a config of its own.
struct Alone {
    child: Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Drop for Alone {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn identity_alone(extra: &str) -> Alone {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = dir.path().join("identity.toml");
    std::fs::write(
        &config,
        format!(
            "bind = \"127.0.0.1:{port}\"\ndata_dir = \"{}\"\n{extra}",
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let bin = env!("CARGO_BIN_EXE_stratus");
    let st = Command::new(bin)
        .arg("identity")
        .arg("--config")
        .arg(&config)
        .args(["bootstrap", "--bootstrap-password", "s3cret"])
        .status()
        .unwrap();
    assert!(st.success());
    let child = Command::new(bin)
        .arg("identity")
        .arg("--config")
        .arg(&config)
        .arg("serve")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(20);
    while try_request(addr, "GET", "/v3", &[], b"").is_err() {
        assert!(Instant::now() < deadline, "identity did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Alone {
        child,
        addr,
        _dir: dir,
    }
}

fn admin_login(addr: SocketAddr, password: &str) -> (u16, String, Value) {
    login(
        addr,
        json!({"auth": {"identity": {"methods": ["password"],
            "password": {"user": {"name": "admin", "domain": {"name": "Default"}, "password": password}}},
            "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}),
    )
}

#[test]
fn tokens_expire() {
    let id = identity_alone("token_expiration_secs = 2\n");
    let (s, token, body) = admin_login(id.addr, "s3cret");
    assert_eq!(s, 201, "{body}");
    assert_eq!(validate(id.addr, &token), 200);
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(
        validate(id.addr, &token),
        401,
        "the caller's own token expired too"
    );
    let (_, fresh, _) = admin_login(id.addr, "s3cret");
    assert_eq!(on_token(id.addr, "GET", &fresh, &token), 404);
}

#[test]
fn bad_input_gets_keystone_errors() {
    let id = identity_alone("");
    let post = |path: &str, token: Option<&str>, body: &[u8]| {
        let mut h = vec![("Content-Type", "application/json")];
        if let Some(t) = token {
            h.push(("X-Auth-Token", t));
        }
        request(id.addr, "POST", path, &h, body)
    };
    // Malformed JSON and missing fields: 400 with Keystone's error body.
    let r = post("/v3/auth/tokens", None, b"{not json");
    assert_eq!(r.status, 400);
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["error"]["code"], 400);
    assert_eq!(post("/v3/auth/tokens", None, b"{\"auth\": {}}").status, 400);
    // Unknown method: 401.
    let unknown = json!({"auth": {"identity": {"methods": ["kerberos"], "kerberos": {}}}});
    assert_eq!(
        post("/v3/auth/tokens", None, unknown.to_string().as_bytes()).status,
        401
    );
    // Wrong password and unknown user: the same 401, saying nothing more.
    let (s1, _, wrong_pw) = admin_login(id.addr, "nope");
    let body = json!({"auth": {"identity": {"methods": ["password"],
        "password": {"user": {"name": "ghost", "domain": {"name": "Default"}, "password": "x"}}}}});
    let r = post("/v3/auth/tokens", None, body.to_string().as_bytes());
    assert_eq!((s1, r.status), (401, 401));
    assert_eq!(wrong_pw, serde_json::from_slice::<Value>(&r.body).unwrap());
    assert!(!wrong_pw.to_string().contains("password"), "{wrong_pw}");
    // Huge body: 413 before it is read.
    let huge = vec![b' '; 200_000];
    assert_eq!(post("/v3/auth/tokens", None, &huge).status, 413);
    // No token: 401; duplicate names: 409.
    assert_eq!(
        request(id.addr, "GET", "/v3/projects", &[], b"").status,
        401
    );
    let (_, token, _) = admin_login(id.addr, "s3cret");
    let p = json!({"project": {"name": "dup"}}).to_string();
    assert_eq!(post("/v3/projects", Some(&token), p.as_bytes()).status, 201);
    let r = post("/v3/projects", Some(&token), p.as_bytes());
    assert_eq!(r.status, 409);
    let u = json!({"user": {"name": "admin", "password": "x"}}).to_string();
    assert_eq!(post("/v3/users", Some(&token), u.as_bytes()).status, 409);
    // Garbage of every shape never gets a 500.
    for body in [
        &b"[]"[..],
        b"null",
        b"{\"auth\": {\"identity\": {\"methods\": \"password\"}}}",
        b"{\"auth\": {\"identity\": {\"methods\": [\"password\"], \"password\": {\"user\": {}}}}}",
        b"{\"auth\": {\"identity\": {\"methods\": [\"token\"], \"token\": {\"id\": 5}}}}",
        b"{\"auth\": {\"identity\": {\"methods\": [\"password\"]}, \"scope\": 7}}",
    ] {
        let s = post("/v3/auth/tokens", None, body).status;
        assert!(
            (400..500).contains(&s),
            "{} -> {s}",
            String::from_utf8_lossy(body)
        );
    }
    for path in [
        "/v3/users",
        "/v3/projects",
        "/v3/roles",
        "/v3/domains",
        "/v3/regions",
        "/v3/endpoints",
    ] {
        for body in [&b"{}"[..], b"{\"x\": 1}", b"[1,2]", b"\xff\xfe"] {
            let s = post(path, Some(&token), body).status;
            assert_eq!(s, 400, "{path} {}", String::from_utf8_lossy(body));
        }
    }
    let r = request(
        id.addr,
        "GET",
        "/v3/nonexistent",
        &[("X-Auth-Token", token.as_str())],
        b"",
    );
    assert_eq!(r.status, 404);
}

#[test]
fn key_rotation_while_running() {
    let id = identity_alone("key_reload_secs = 1\n");
    let (_, old, _) = admin_login(id.addr, "s3cret");
    let config = id._dir.path().join("identity.toml");
    let rotate = || {
        let st = Command::new(env!("CARGO_BIN_EXE_stratus"))
            .arg("identity")
            .arg("--config")
            .arg(&config)
            .arg("fernet-rotate")
            .status()
            .unwrap();
        assert!(st.success());
        std::thread::sleep(Duration::from_millis(1500));
    };
    rotate();
    // The new primary was the staged key: old and new tokens both work.
    let (_, new, _) = admin_login(id.addr, "s3cret");
    assert_eq!(validate(id.addr, &old), 200);
    assert_eq!(validate(id.addr, &new), 200);
    // With three active keys (staged, primary, one secondary), the next
    // rotation retires the key that sealed the old token.
    rotate();
    assert_eq!(validate(id.addr, &old), 401);
    assert_eq!(validate(id.addr, &new), 200);
}

/// `/v3/s3tokens` and `/v3/ec2tokens` turn a request signed with the EC2
/// secret into a token for the credential's project; a wrong signature or
/// an unknown access key gets 401.
fn ec2_signatures_become_tokens(up: &Up, access: &str, secret: &str, project_id: &str) {
    use base64::Engine;
    use stratus_common::sigv4;
    let date = "20261123T120000Z";
    let scope = "20261123/RegionOne/s3/aws4_request";
    let headers = vec![
        ("host".to_string(), "s3.example".to_string()),
        ("x-amz-date".to_string(), date.to_string()),
    ];
    let (canonical, signed) =
        sigv4::canonical_request("GET", "/bucket/key", &[], &headers, sigv4::UNSIGNED_PAYLOAD);
    let sts = sigv4::string_to_sign(date, scope, &canonical);
    let sig = sigv4::signature(secret, "20261123", "RegionOne", "s3", &sts);
    let post = |path: &str, body: Value| {
        request(
            up.identity,
            "POST",
            path,
            &[("Content-Type", "application/json")],
            body.to_string().as_bytes(),
        )
    };
    let b64 = base64::engine::general_purpose::STANDARD.encode(&sts);
    let r = post(
        "/v3/s3tokens",
        json!({"credentials": {"access": access, "token": b64, "signature": sig}}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["token"]["project"]["id"], project_id);
    let r = post(
        "/v3/s3tokens",
        json!({"credentials": {"access": access, "token": b64, "signature": "0".repeat(64)}}),
    );
    assert_eq!(r.status, 401);
    let r = post(
        "/v3/s3tokens",
        json!({"credentials": {"access": "nobody", "token": b64, "signature": sig}}),
    );
    assert_eq!(r.status, 401);
    // The same request as parts, the signature in its Authorization header.
    let auth = format!(
        "AWS4-HMAC-SHA256 Credential={access}/{scope}, SignedHeaders={signed}, Signature={sig}"
    );
    let parts = |signature: &str| {
        json!({"credentials": {"access": access, "signature": signature,
        "host": "s3.example", "verb": "GET", "path": "/bucket/key", "params": {},
        "headers": {"Host": "s3.example", "X-Amz-Date": date, "Authorization": auth},
        "body_hash": sigv4::UNSIGNED_PAYLOAD}})
    };
    let r = post("/v3/ec2tokens", parts(&sig));
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.header("x-subject-token").is_some());
    assert_eq!(post("/v3/ec2tokens", parts("bad")).status, 401);

    // What the S3 API will use: the secret, fetched with the proxy's
    // service account that `stratus up` made, and the roles it carries.
    let service_password =
        std::fs::read_to_string(up.dir.path().join("proxy-service.password")).unwrap();
    let secrets = stratus_common::token_check::Ec2Secrets::new(
        &format!("http://{}", up.identity),
        stratus_common::token_check::ServiceAccount {
            user: "stratus-proxy".into(),
            password: service_password.trim().into(),
            project: "service".into(),
        },
        Duration::from_secs(10),
        Duration::from_secs(5),
    )
    .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let found = rt.block_on(secrets.lookup(access)).unwrap().unwrap();
    assert_eq!(
        (found.secret.as_str(), found.project_id.as_str()),
        (secret, project_id)
    );
    assert!(
        found.roles.iter().any(|r| r == "member"),
        "{:?}",
        found.roles
    );
    assert!(rt
        .block_on(secrets.lookup("no-such-access"))
        .unwrap()
        .is_none());
}
