//! `stratus up`: a whole object store on one machine, in the foreground.
//! The identity service, three storage nodes (two devices each) and the
//! proxy, on loopback; the rings, users, identity records and data persist
//! in the data directory across runs.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;
use stratus_common::fs::{write_atomic, write_secret};
use stratus_identity::{Bootstrap, Identity, IdentityConfig, ServiceEndpoint};
use stratus_proxy::config::{ServiceAccountConfig, User};
use stratus_proxy::ProxyConfig;
use stratus_ring::{NewDevice, RebalanceOptions, RingBuilder};
use stratus_storage::device::Devices;
use stratus_storage::http::{Node, ServerKind};
use stratus_storage::StorageConfig;
use tokio::net::TcpListener;

use crate::Exit;

const NODES: u16 = 3;
const DEVICES_PER_NODE: u16 = 2;

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Where rings, users and data live (default: $XDG_DATA_HOME/stratus
    /// or ~/.local/share/stratus).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// The proxy's port (Swift API).
    #[arg(long, default_value_t = 8080)]
    proxy_port: u16,
    /// Storage node N serves objects on BASE+N, containers on BASE+10+N,
    /// accounts on BASE+20+N.
    #[arg(long, default_value_t = 6200)]
    storage_port: u16,
    /// The identity service's port (Keystone v3 API).
    #[arg(long, default_value_t = 5000)]
    identity_port: u16,
}

fn default_data_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(d).join("stratus");
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    home.join(".local/share/stratus")
}

fn fail(msg: &str) -> Exit {
    eprintln!("error: {msg}");
    Exit::Error
}

fn random_hex<const N: usize>() -> Result<String, String> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|e| format!("no randomness: {e}"))?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// Builds the three rings on first start; later starts keep them.
fn ensure_rings(dir: &Path, storage_port: u16) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let key_hex = random_hex::<16>()?;
    let mut key = [0u8; 16];
    for (i, k) in key.iter_mut().enumerate() {
        *k = u8::from_str_radix(&key_hex[2 * i..2 * i + 2], 16).map_err(|e| e.to_string())?;
    }
    for (kind, offset) in [("object", 0u16), ("container", 10), ("account", 20)] {
        let ring = dir.join(format!("{kind}.ring"));
        if ring.exists() {
            continue;
        }
        let mut b = RingBuilder::new(10, 3.0, 1, key).map_err(|e| e.to_string())?;
        for n in 0..NODES {
            for d in 1..=DEVICES_PER_NODE {
                b.add_dev(NewDevice {
                    id: None,
                    region: 1,
                    zone: u32::from(n) + 1,
                    ip: "127.0.0.1".into(),
                    port: storage_port + offset + n,
                    replication_ip: None,
                    replication_port: None,
                    device: format!("d{d}"),
                    weight: 100.0,
                    meta: String::new(),
                })
                .map_err(|e| e.to_string())?;
            }
        }
        b.rebalance(RebalanceOptions { seed: 1, now: 0 })
            .map_err(|e| e.to_string())?;
        let builder = dir.join(format!("{kind}.builder"));
        write_atomic(&builder, &b.to_bytes()).map_err(|e| format!("{}: {e}", builder.display()))?;
        let bytes = b.to_ring().map_err(|e| e.to_string())?.to_bytes();
        write_atomic(&ring, &bytes).map_err(|e| format!("{}: {e}", ring.display()))?;
    }
    Ok(())
}

/// A secret made on first start and kept in `dir/name`.
fn ensure_secret(dir: &Path, name: &str) -> Result<String, String> {
    let path = dir.join(name);
    match std::fs::read_to_string(&path) {
        Ok(k) if !k.trim().is_empty() => Ok(k.trim().to_string()),
        _ => {
            let k = random_hex::<16>()?;
            write_secret(&path, k.as_bytes()).map_err(|e| format!("{}: {e}", path.display()))?;
            Ok(k)
        }
    }
}

/// The v1 user `test:tester`.
fn ensure_user(dir: &Path) -> Result<User, String> {
    let key = ensure_secret(dir, "tester.key")?;
    Ok(User {
        account: "test".into(),
        user: "tester".into(),
        key,
        roles: vec![".admin".into()],
    })
}

const REGION: &str = "RegionOne";
/// The proxy's service user (project `service`, Default domain).
const PROXY_SERVICE_USER: &str = "stratus-proxy";

/// Opens the identity records under `dir/identity` and bootstraps them
/// (idempotent): admin user and project, roles, and the identity and
/// object-store endpoints at the current ports.
/// What `stratus up` made in identity for the other services and users.
struct IdentitySetup {
    identity: Arc<Identity>,
    admin_password: String,
    service_password: String,
    /// The admin's EC2 credential (access, secret), for S3 clients.
    ec2: (String, String),
}

fn start_identity(dir: &Path, args: &UpArgs) -> Result<IdentitySetup, String> {
    let password = ensure_secret(dir, "admin.password")?;
    let config = IdentityConfig {
        bind: SocketAddr::from(([127, 0, 0, 1], args.identity_port)),
        data_dir: dir.join("identity"),
        ..IdentityConfig::default()
    };
    let identity = Identity::open(config).map_err(|e| format!("identity: {e}"))?;
    let b = Bootstrap {
        admin_username: "admin".into(),
        admin_password: password.clone(),
        project_name: "admin".into(),
        region_id: REGION.into(),
        identity_url: Some(format!("http://127.0.0.1:{}/v3", args.identity_port)),
        services: vec![ServiceEndpoint {
            kind: "object-store".into(),
            name: "swift".into(),
            url: format!(
                "http://127.0.0.1:{}/v1/AUTH_$(project_id)s",
                args.proxy_port
            ),
        }],
    };
    stratus_identity::bootstrap(&identity, &b).map_err(|e| format!("identity bootstrap: {e}"))?;
    // The proxy's own account: it reads EC2 credentials for the S3 API.
    let service_password = ensure_secret(dir, "proxy-service.password")?;
    stratus_identity::ensure_service_user(
        &identity,
        PROXY_SERVICE_USER,
        &service_password,
        "service",
    )
    .map_err(|e| format!("identity bootstrap: {e}"))?;
    let ec2 = stratus_identity::ensure_ec2_credential(&identity, "admin", "admin")
        .map_err(|e| format!("identity bootstrap: {e}"))?;
    Ok(IdentitySetup {
        identity: Arc::new(identity),
        admin_password: password,
        service_password,
        ec2,
    })
}

async fn bind(port: u16, what: &str) -> Result<TcpListener, String> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr} ({what}): {e}"))
}

pub fn run(args: UpArgs) -> Exit {
    crate::init_tracing();
    let dir = args.data_dir.clone().unwrap_or_else(default_data_dir);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&format!("cannot start runtime: {e}")),
    };
    match rt.block_on(up(&dir, &args)) {
        Ok(()) => Exit::Success,
        Err(e) => fail(&e),
    }
}

async fn up(dir: &Path, args: &UpArgs) -> Result<(), String> {
    let rings = dir.join("rings");
    ensure_rings(&rings, args.storage_port)?;
    let user = ensure_user(dir)?;
    let setup = start_identity(dir, args)?;
    // Bind everything first, so a port in use is reported before anything runs.
    let identity_listener = bind(args.identity_port, "identity").await?;
    let proxy_listener = bind(args.proxy_port, "proxy").await?;
    let mut nodes = Vec::new();
    for n in 0..NODES {
        let base = args.storage_port + n;
        let listeners = [
            (bind(base, "object server").await?, ServerKind::Object),
            (
                bind(base + 10, "container server").await?,
                ServerKind::Container,
            ),
            (
                bind(base + 20, "account server").await?,
                ServerKind::Account,
            ),
        ];
        let devices = dir.join(format!("node{n}"));
        for d in 1..=DEVICES_PER_NODE {
            std::fs::create_dir_all(devices.join(format!("d{d}")))
                .map_err(|e| format!("{}: {e}", devices.display()))?;
        }
        let at = |port: u16| SocketAddr::from(([127, 0, 0, 1], port));
        let config = StorageConfig {
            devices: devices.clone(),
            bind: at(base),
            container_bind: at(base + 10),
            account_bind: at(base + 20),
            rings: Some(rings.clone()),
            ..StorageConfig::default()
        };
        let opened = Devices::open_all(
            &devices,
            config.engine,
            stratus_storage::engine::EngineOptions::default(),
        )
        .map_err(|e| format!("{}: {e}", devices.display()))?;
        nodes.push((Arc::new(Node::new(opened, config)), listeners));
    }
    let proxy_config = ProxyConfig {
        bind: SocketAddr::from(([127, 0, 0, 1], args.proxy_port)),
        rings,
        users: vec![user.clone()],
        identity_url: Some(format!("http://127.0.0.1:{}", args.identity_port)),
        // `<bucket>.localhost:<port>` names a bucket too (virtual-hosted S3).
        s3_domain: Some("localhost".into()),
        identity_service: Some(ServiceAccountConfig {
            user: PROXY_SERVICE_USER.into(),
            password: setup.service_password.clone(),
            project: "service".into(),
        }),
        ..ProxyConfig::default()
    };
    let proxy = Arc::new(stratus_proxy::Proxy::new(proxy_config).map_err(|e| e.to_string())?);
    let auth = format!("http://127.0.0.1:{}/auth/v1.0", args.proxy_port);
    // No OS_IDENTITY_API_VERSION: python-swiftclient would take it as its
    // auth version and use Keystone at ST_AUTH; openstackclient needs none.
    let env = format!(
        "export ST_AUTH={auth}\nexport ST_USER=test:tester\nexport ST_KEY={}\n\
         export OS_AUTH_URL=http://127.0.0.1:{}/v3\n\
         export OS_USERNAME=admin\nexport OS_PASSWORD={admin_password}\n\
         export OS_PROJECT_NAME=admin\nexport OS_USER_DOMAIN_NAME=Default\n\
         export OS_PROJECT_DOMAIN_NAME=Default\nexport OS_REGION_NAME={REGION}\n\
         export AWS_ACCESS_KEY_ID={}\nexport AWS_SECRET_ACCESS_KEY={}\n\
         export AWS_ENDPOINT_URL=http://127.0.0.1:{}\nexport AWS_DEFAULT_REGION=us-east-1\n",
        user.key,
        args.identity_port,
        setup.ec2.0,
        setup.ec2.1,
        args.proxy_port,
        admin_password = setup.admin_password,
    );
    let env_path = dir.join("stratus.env");
    write_secret(&env_path, env.as_bytes()).map_err(|e| format!("{}: {e}", env_path.display()))?;

    let mut tasks = tokio::task::JoinSet::new();
    for (node, listeners) in nodes {
        tasks.spawn(async move { stratus_storage::http::start(node, listeners).await });
    }
    tasks.spawn(stratus_proxy::serve(proxy_listener, proxy));
    tasks.spawn(stratus_identity::api::serve(
        identity_listener,
        setup.identity,
    ));
    eprintln!(
        "Stratus is up: Swift API on http://127.0.0.1:{}/v1 (auth {auth}) and S3 on the same port, \
         identity (Keystone v3) on http://127.0.0.1:{}/v3, data in {}.\n\
         Use it:  source {}; swift stat; swift upload mycontainer somefile; openstack token issue; \
         aws s3 ls\n\
         Ctrl-C stops it; running `stratus up` again keeps all data.",
        args.proxy_port,
        args.identity_port,
        dir.display(),
        env_path.display()
    );
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {
            eprintln!("stopping");
            Ok(())
        }
        Some(r) = tasks.join_next() => match r {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(format!("a service stopped: {e}")),
            Err(e) => Err(format!("a service failed: {e}")),
        },
    }
}
