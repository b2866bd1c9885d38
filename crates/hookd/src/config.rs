//! Configuration of `hookd serve`: flags, then `HOOKD_*` environment variables (both read by
//! clap), then a TOML file (`--config`), then defaults. Everything is validated here, at
//! start-up, so a bad value stops the process with a one-line reason (exit 2) instead of
//! failing later.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, ValueEnum};
use hookd_core::retry::RetrySchedule;
use ipnet::IpNet;
use serde::Deserialize;

/// Which parts of hookd a node runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// API and delivery worker.
    All,
    /// Only the HTTP API; deliveries are left to worker nodes.
    Api,
    /// Only the delivery worker (and /api/v1/health, /metrics).
    Worker,
}

/// Every default of `hookd serve`, in one place: the help text and [`ServeArgs::resolve`] both
/// read them (the README's configuration table lists the same values).
pub mod defaults {
    pub const LISTEN: &str = "127.0.0.1:8071";
    pub const DATA_DIR: &str = "./hookd-data";
    pub const RETRY_SCHEDULE: &str = hookd_core::retry::DEFAULT_SCHEDULE;
    pub const REQUEST_TIMEOUT: &str = "15s";
    pub const TRANSFORMATION_CPU: &str = "50ms";
    pub const TRANSFORMATION_MEMORY_MIB: usize = 16;
    /// The lease is the request timeout plus this.
    pub const LEASE_BEYOND_TIMEOUT: &str = "15s";
    pub const ENDPOINT_CONCURRENCY: usize = 8;
    pub const MAX_ACTIVE_ENDPOINTS: usize = 1024;
    pub const DISABLE_AFTER: &str = "5d";
    pub const RETENTION: &str = "90d";
    pub const MAX_BODY_SIZE: usize = 1024 * 1024;
    pub const DB_POOL_SIZE: u32 = 16;
}

/// A flag's help line with its default.
fn with_default(help: &str, default: impl std::fmt::Display) -> String {
    format!("{help} [default: {default}]")
}

/// The settings of `hookd serve`, declared once: clap reads them from flags and then `HOOKD_*`
/// environment variables, serde from the TOML file given with `--config` (snake_case keys, e.g.
/// `data_dir`). Each is optional here so that "not given" falls through to the file and then
/// to the default ([`ServeArgs::or`], [`ServeArgs::resolve`]).
#[derive(Debug, Clone, Default, Args, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeArgs {
    /// TOML file with any of the settings below (snake_case keys, e.g. `data_dir`).
    #[arg(long, env = "HOOKD_CONFIG", value_name = "FILE")]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    #[arg(long, env = "HOOKD_LISTEN", value_name = "ADDR",
          help = with_default("Address for the API, dashboard and capture URLs", defaults::LISTEN))]
    pub listen: Option<String>,
    #[arg(long, env = "HOOKD_DATA_DIR", value_name = "DIR",
          help = with_default("Directory of the embedded SQLite store and generated secrets", defaults::DATA_DIR))]
    pub data_dir: Option<PathBuf>,
    /// `postgres://…` to use PostgreSQL, or `sqlite://PATH` [default: SQLite in the data dir].
    #[arg(long, env = "HOOKD_DATABASE_URL", value_name = "URL")]
    pub database_url: Option<String>,
    /// Org-wide bearer token [default: generated on first start, kept in the data dir].
    #[arg(long, env = "HOOKD_ADMIN_TOKEN", value_name = "TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// File of the main key that seals secrets at rest (one base64 key per line, the current
    /// one first) [default: `main-key` in the data dir, generated on first start].
    #[arg(long, env = "HOOKD_MAIN_KEY_FILE", value_name = "FILE")]
    pub main_key_file: Option<PathBuf>,
    /// The main key itself (base64), instead of a file; never logged.
    #[arg(long, env = "HOOKD_MAIN_KEY", value_name = "KEY", hide_env_values = true, conflicts_with = "main_key_file")]
    pub main_key: Option<String>,
    /// Destination range allowed past the SSRF guard; repeatable.
    #[arg(long = "allow-subnet", env = "HOOKD_ALLOW_SUBNETS", value_delimiter = ',', value_name = "CIDR")]
    #[serde(default)]
    pub allow_subnets: Vec<String>,
    #[arg(long, env = "HOOKD_RETRY_SCHEDULE", value_name = "LIST",
          help = with_default("Delays before each retry; total attempts = 1 + entries", defaults::RETRY_SCHEDULE))]
    pub retry_schedule: Option<String>,
    #[arg(long, env = "HOOKD_REQUEST_TIMEOUT", value_name = "DUR",
          help = with_default("Time limit of one delivery attempt", defaults::REQUEST_TIMEOUT))]
    pub request_timeout: Option<String>,
    #[arg(long, env = "HOOKD_TRANSFORMATION_CPU", value_name = "DUR",
          help = with_default("CPU budget of one run of an endpoint's transformation", defaults::TRANSFORMATION_CPU))]
    pub transformation_cpu: Option<String>,
    #[arg(long, env = "HOOKD_TRANSFORMATION_MEMORY_MIB", value_name = "MIB",
          help = with_default("Memory cap of one run of an endpoint's transformation, in MiB", defaults::TRANSFORMATION_MEMORY_MIB))]
    pub transformation_memory_mib: Option<usize>,
    #[arg(long, env = "HOOKD_LEASE", value_name = "DUR", help = with_default(
        "How long a claimed delivery stays reserved for its node; when a node dies its deliveries are taken over after this",
        format!("request timeout + {}", defaults::LEASE_BEYOND_TIMEOUT)))]
    pub lease: Option<String>,
    #[arg(long, env = "HOOKD_ENDPOINT_CONCURRENCY", value_name = "N",
          help = with_default("Attempts in flight at once to one endpoint", defaults::ENDPOINT_CONCURRENCY))]
    pub endpoint_concurrency: Option<usize>,
    #[arg(long, env = "HOOKD_MAX_ACTIVE_ENDPOINTS", value_name = "N", help = with_default(
        "Endpoints this node works at once; with the above, bounds its connections", defaults::MAX_ACTIVE_ENDPOINTS))]
    pub max_active_endpoints: Option<usize>,
    #[arg(long, env = "HOOKD_DISABLE_AFTER", value_name = "DUR", help = with_default(
        "Disable an endpoint that has failed this long without a single success", defaults::DISABLE_AFTER))]
    pub disable_after: Option<String>,
    #[arg(long, env = "HOOKD_RETENTION", value_name = "DUR", help = with_default(
        "Delete messages this old, with their attempts, once every delivery of them is finished \
         (delivered or failed for good); `off` keeps them forever", defaults::RETENTION))]
    pub retention: Option<String>,
    /// Egress proxy for deliveries and replays (http:// or https://), e.g. an egress filter;
    /// proxy variables of the environment (HTTP_PROXY, …) are never used [default: none].
    #[arg(long, env = "HOOKD_PROXY", value_name = "URL")]
    pub proxy: Option<String>,
    /// Send operational webhooks (endpoint.disabled, message.attempt.exhausted, …) to this URL.
    #[arg(long, env = "HOOKD_OPERATIONAL_WEBHOOK_URL", value_name = "URL")]
    pub operational_webhook_url: Option<String>,
    /// Which parts this node runs [default: all].
    #[arg(long, env = "HOOKD_ROLE", value_enum)]
    pub role: Option<Role>,
    #[arg(long, env = "HOOKD_MAX_BODY_SIZE", value_name = "BYTES", help = with_default(
        "Largest accepted body in bytes, of API requests and of requests to capture URLs", defaults::MAX_BODY_SIZE))]
    pub max_body_size: Option<usize>,
    #[arg(long, env = "HOOKD_DB_POOL_SIZE", value_name = "N",
          help = with_default("Database connection pool size", defaults::DB_POOL_SIZE))]
    pub db_pool_size: Option<u32>,
    /// Base URL the webhook tester's capture and page URLs are built on, as senders reach this
    /// server, e.g. https://hooks.example.com [default: http://{listen}].
    #[arg(long, env = "HOOKD_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<String>,
}

impl ServeArgs {
    /// These settings, with what they leave unset taken from `file`. Every field is named, so
    /// a setting added to the struct cannot be forgotten here.
    fn or(self, file: ServeArgs) -> ServeArgs {
        ServeArgs {
            config: self.config,
            listen: self.listen.or(file.listen),
            data_dir: self.data_dir.or(file.data_dir),
            main_key_file: self.main_key_file.or(file.main_key_file),
            main_key: self.main_key.or(file.main_key),
            database_url: self.database_url.or(file.database_url),
            admin_token: self.admin_token.or(file.admin_token),
            allow_subnets: if self.allow_subnets.is_empty() { file.allow_subnets } else { self.allow_subnets },
            retry_schedule: self.retry_schedule.or(file.retry_schedule),
            request_timeout: self.request_timeout.or(file.request_timeout),
            transformation_cpu: self.transformation_cpu.or(file.transformation_cpu),
            transformation_memory_mib: self.transformation_memory_mib.or(file.transformation_memory_mib),
            lease: self.lease.or(file.lease),
            endpoint_concurrency: self.endpoint_concurrency.or(file.endpoint_concurrency),
            max_active_endpoints: self.max_active_endpoints.or(file.max_active_endpoints),
            disable_after: self.disable_after.or(file.disable_after),
            retention: self.retention.or(file.retention),
            proxy: self.proxy.or(file.proxy),
            operational_webhook_url: self.operational_webhook_url.or(file.operational_webhook_url),
            role: self.role.or(file.role),
            max_body_size: self.max_body_size.or(file.max_body_size),
            db_pool_size: self.db_pool_size.or(file.db_pool_size),
            public_url: self.public_url.or(file.public_url),
        }
    }
}

/// Validated settings of a node.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub database: Database,
    /// `None`: use the one kept in the data dir, generating it on first start.
    pub admin_token: Option<String>,
    /// Where the main key comes from.
    pub main_key: MainKeySource,
    pub allow_subnets: Vec<IpNet>,
    pub retry_schedule: RetrySchedule,
    pub request_timeout: Duration,
    /// What one run of an endpoint's transformation may use.
    pub transformation: hookd_transform::Limits,
    pub lease: Duration,
    pub endpoint_concurrency: usize,
    pub max_active_endpoints: usize,
    pub disable_after: Duration,
    /// `None`: messages are kept forever.
    pub retention: Option<Duration>,
    /// How long an idempotency key (and the response kept with it) is remembered. Not a flag:
    /// a day, as clients expect; the tests shorten it.
    pub idempotency_key_ttl: Duration,
    /// The egress proxy outbound requests go through; `None`: they connect directly.
    pub proxy: Option<url::Url>,
    pub operational_webhook_url: Option<String>,
    pub role: Role,
    pub max_body_size: usize,
    pub db_pool_size: u32,
    /// Without a trailing slash; `None`: `http://` and the address served on.
    pub public_url: Option<String>,
}

/// The main key's file in the data dir, when no other is given.
pub const MAIN_KEY_FILE: &str = "main-key";

/// Where the main key that seals secrets at rest comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum MainKeySource {
    /// A key file (one base64 key per line, current first), read again when a sealed value
    /// names a key not in it; generated when it is the data dir's and does not exist.
    File { path: PathBuf, generate: bool },
    /// The key itself (`HOOKD_MAIN_KEY`).
    Inline(String),
}

impl std::fmt::Debug for MainKeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::File { path, generate } => {
                f.debug_struct("File").field("path", path).field("generate", generate).finish()
            }
            Self::Inline(_) => f.write_str("Inline(…)"),
        }
    }
}

/// Where the data lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    Sqlite(PathBuf),
    Postgres(String),
}

impl Database {
    /// For logs: never includes a password.
    pub fn describe(&self) -> String {
        match self {
            Database::Sqlite(path) => format!("SQLite at {}", path.display()),
            Database::Postgres(url) => match url::Url::parse(url) {
                Ok(u) => format!("PostgreSQL at {}{}", u.host_str().unwrap_or("localhost"), u.path()),
                Err(_) => "PostgreSQL".into(),
            },
        }
    }
}

/// A configuration problem, shown as one line before exiting with status 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

fn bad(msg: impl Into<String>) -> ConfigError {
    ConfigError(msg.into())
}

impl ServeArgs {
    /// Merges flags/env with the config file and defaults, and validates the result.
    pub fn resolve(self) -> Result<Config, ConfigError> {
        let file = match &self.config {
            Some(path) => read_file(path)?,
            None => ServeArgs::default(),
        };
        let s = self.or(file);
        let listen = s.listen.unwrap_or_else(|| defaults::LISTEN.into());
        let listen =
            listen.parse().map_err(|_| bad(format!("--listen: '{listen}' is not an address like 127.0.0.1:8071")))?;
        let data_dir = s.data_dir.unwrap_or_else(|| PathBuf::from(defaults::DATA_DIR));
        let database = match s.database_url {
            None => Database::Sqlite(data_dir.join("hookd.db")),
            Some(url) => parse_database_url(&url)?,
        };
        if let Some(token) = &s.admin_token {
            if token.len() < 16 || token.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(bad("--admin-token: must be at least 16 characters without spaces"));
            }
        }
        let allow_subnets = s
            .allow_subnets
            .iter()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .map(parse_subnet)
            .collect::<Result<Vec<_>, _>>()?;
        let schedule = s.retry_schedule.as_deref().unwrap_or(defaults::RETRY_SCHEDULE);
        let retry_schedule = RetrySchedule::parse(schedule).map_err(|e| bad(format!("--retry-schedule: {e}")))?;
        let request_timeout = duration("--request-timeout", s.request_timeout.as_deref(), defaults::REQUEST_TIMEOUT)?;
        if request_timeout.is_zero() || request_timeout > Duration::from_secs(300) {
            return Err(bad("--request-timeout: must be more than 0 and at most 5m"));
        }
        let lease = match s.lease.as_deref() {
            None => request_timeout + duration("--lease", None, defaults::LEASE_BEYOND_TIMEOUT)?,
            Some(text) => duration("--lease", Some(text), "")?,
        };
        if lease < request_timeout + Duration::from_secs(1) {
            return Err(bad("--lease: must be at least 1s longer than --request-timeout"));
        }
        let endpoint_concurrency = s.endpoint_concurrency.unwrap_or(defaults::ENDPOINT_CONCURRENCY);
        if !(1..=1000).contains(&endpoint_concurrency) {
            return Err(bad("--endpoint-concurrency: must be between 1 and 1000"));
        }
        let max_active_endpoints = s.max_active_endpoints.unwrap_or(defaults::MAX_ACTIVE_ENDPOINTS);
        if !(1..=100_000).contains(&max_active_endpoints) {
            return Err(bad("--max-active-endpoints: must be between 1 and 100000"));
        }
        let disable_after = duration("--disable-after", s.disable_after.as_deref(), defaults::DISABLE_AFTER)?;
        let retention = match s.retention.as_deref().unwrap_or(defaults::RETENTION) {
            "off" => None,
            text => match duration("--retention", Some(text), "") {
                Ok(d) if d >= Duration::from_secs(1) => Some(d),
                Ok(_) => return Err(bad("--retention: must be at least 1s, or off")),
                Err(e) => return Err(bad(format!("{e} (or off)"))),
            },
        };
        let proxy =
            s.proxy.map(|p| hookd_http::parse_proxy(&p)).transpose().map_err(|e| bad(format!("--proxy: {e}")))?;
        let operational_webhook_url = s.operational_webhook_url;
        if let Some(url) = &operational_webhook_url {
            match url::Url::parse(url) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {}
                _ => return Err(bad(format!("--operational-webhook-url: '{url}' is not an http(s) URL"))),
            }
        }
        let max_body_size = s.max_body_size.unwrap_or(defaults::MAX_BODY_SIZE);
        if max_body_size < 1024 {
            return Err(bad("--max-body-size: must be at least 1024 bytes"));
        }
        let db_pool_size = s.db_pool_size.unwrap_or(defaults::DB_POOL_SIZE);
        if db_pool_size == 0 {
            return Err(bad("--db-pool-size: must be at least 1"));
        }
        let public_url = s.public_url.map(|u| parse_public_url(&u)).transpose()?;
        let cpu = duration("--transformation-cpu", s.transformation_cpu.as_deref(), defaults::TRANSFORMATION_CPU)?;
        if cpu < Duration::from_millis(1) || cpu > Duration::from_secs(10) {
            return Err(bad("--transformation-cpu: must be between 1ms and 10s"));
        }
        let memory_mib = s.transformation_memory_mib.unwrap_or(defaults::TRANSFORMATION_MEMORY_MIB);
        if !(1..=1024).contains(&memory_mib) {
            return Err(bad("--transformation-memory-mib: must be between 1 and 1024"));
        }
        let transformation = hookd_transform::Limits { cpu, memory_bytes: memory_mib << 20 };
        let main_key = match (s.main_key, s.main_key_file) {
            (Some(key), _) => {
                hookd_core::sealing::Sealer::from_text(&key).map_err(|e| bad(format!("--main-key: {e}")))?;
                MainKeySource::Inline(key)
            }
            (None, Some(path)) => MainKeySource::File { path, generate: false },
            (None, None) => MainKeySource::File { path: data_dir.join(MAIN_KEY_FILE), generate: true },
        };
        Ok(Config {
            listen,
            data_dir,
            database,
            admin_token: s.admin_token,
            main_key,
            allow_subnets,
            retry_schedule,
            request_timeout,
            transformation,
            lease,
            endpoint_concurrency,
            max_active_endpoints,
            disable_after,
            retention,
            idempotency_key_ttl: Duration::from_secs(24 * 3600),
            proxy,
            operational_webhook_url,
            role: s.role.unwrap_or(Role::All),
            max_body_size,
            db_pool_size,
            public_url,
        })
    }
}

/// The one duration parser of the configuration (`500ms`, `15s`, `5m`, `2h`, `5d`): `text`, or
/// `default` when not given; an error names the flag.
fn duration(flag: &str, text: Option<&str>, default: &str) -> Result<Duration, ConfigError> {
    let text = text.unwrap_or(default);
    humantime::parse_duration(text).map_err(|e| bad(format!("{flag}: '{text}': {e}")))
}

/// An http(s) URL without query or fragment; returned without its trailing slash so paths can
/// be appended.
fn parse_public_url(url: &str) -> Result<String, ConfigError> {
    let parsed = url::Url::parse(url).map_err(|e| bad(format!("--public-url: '{url}': {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(bad(format!("--public-url: '{url}' must be an http or https URL with a host")));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(bad(format!("--public-url: '{url}' must not have a query or fragment")));
    }
    Ok(parsed.as_str().trim_end_matches('/').to_owned())
}

fn read_file(path: &Path) -> Result<ServeArgs, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| bad(format!("--config {}: {e}", path.display())))?;
    toml::from_str(&text).map_err(|e| {
        let first_line = e.message().lines().next().unwrap_or_default().to_owned();
        bad(format!("--config {}: {first_line}", path.display()))
    })
}

/// Parses `--database-url`: PostgreSQL or SQLite.
pub fn parse_database_url(url: &str) -> Result<Database, ConfigError> {
    if let Some(path) = url.strip_prefix("sqlite://") {
        if path.is_empty() {
            return Err(bad("--database-url: sqlite:// needs a file path"));
        }
        return Ok(Database::Sqlite(PathBuf::from(path)));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        url::Url::parse(url).map_err(|e| bad(format!("--database-url: {e}")))?;
        return Ok(Database::Postgres(url.to_owned()));
    }
    Err(bad("--database-url: must start with postgres://, postgresql:// or sqlite://"))
}

fn parse_subnet(s: &str) -> Result<IpNet, ConfigError> {
    s.parse::<IpNet>()
        .or_else(|_| s.parse::<std::net::IpAddr>().map(IpNet::from))
        .map_err(|_| bad(format!("--allow-subnet: '{s}' is not a CIDR range like 10.0.0.0/8")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_contract() {
        let c = ServeArgs::default().resolve().unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8071");
        assert_eq!(c.database, Database::Sqlite(PathBuf::from("./hookd-data/hookd.db")));
        assert_eq!(c.retry_schedule.max_attempts(), 8);
        assert_eq!(c.request_timeout, Duration::from_secs(15));
        assert_eq!(c.role, Role::All);
        assert_eq!(c.retention, Some(Duration::from_secs(90 * 24 * 3600)));
        let off = ServeArgs { retention: Some("off".into()), ..Default::default() }.resolve().unwrap();
        assert_eq!(off.retention, None);
    }

    #[test]
    fn flags_beat_the_file() {
        let dir = std::env::temp_dir().join(format!("hookd-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("hookd.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:9000\"\nretry_schedule = \"1s\"\nallow_subnets = [\"10.0.0.0/8\"]\n",
        )
        .unwrap();
        let args = ServeArgs { config: Some(file.clone()), retry_schedule: Some("2s,3s".into()), ..Default::default() };
        let c = args.resolve().unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:9000");
        assert_eq!(c.retry_schedule.max_attempts(), 3);
        assert_eq!(c.allow_subnets, vec!["10.0.0.0/8".parse::<IpNet>().unwrap()]);
        std::fs::write(&file, "lisen = \"x\"\n").unwrap();
        let err = ServeArgs { config: Some(file), ..Default::default() }.resolve().unwrap_err();
        assert!(err.0.contains("unknown field"), "{err}");
    }

    #[test]
    fn bad_values_are_refused_with_the_flag_named() {
        let err = |args: ServeArgs| args.resolve().unwrap_err().0;
        assert!(err(ServeArgs { listen: Some("nope".into()), ..Default::default() }).starts_with("--listen"));
        assert!(err(ServeArgs { allow_subnets: vec!["10.0.0/33".into()], ..Default::default() })
            .starts_with("--allow-subnet"));
        assert!(err(ServeArgs { retry_schedule: Some("5s,later".into()), ..Default::default() })
            .starts_with("--retry-schedule"));
        assert!(err(ServeArgs { database_url: Some("mysql://x".into()), ..Default::default() })
            .starts_with("--database-url"));
        assert!(err(ServeArgs { admin_token: Some("short".into()), ..Default::default() }).starts_with("--admin-token"));
        assert!(err(ServeArgs { transformation_cpu: Some("0s".into()), ..Default::default() })
            .starts_with("--transformation-cpu"));
        assert!(err(ServeArgs { transformation_memory_mib: Some(0), ..Default::default() })
            .starts_with("--transformation-memory-mib"));
        assert!(err(ServeArgs { main_key: Some("not a key".into()), ..Default::default() }).starts_with("--main-key"));
        for bad_retention in ["0s", "forever"] {
            assert!(err(ServeArgs { retention: Some(bad_retention.into()), ..Default::default() })
                .starts_with("--retention"));
        }
        for bad_url in ["ftp://x", "https://x/?a=1", "not a url"] {
            assert!(
                err(ServeArgs { public_url: Some(bad_url.into()), ..Default::default() }).starts_with("--public-url")
            );
        }
    }

    #[test]
    fn public_url_loses_its_trailing_slash() {
        let c = ServeArgs { public_url: Some("https://hooks.example.com/base/".into()), ..Default::default() }
            .resolve()
            .unwrap();
        assert_eq!(c.public_url.as_deref(), Some("https://hooks.example.com/base"));
        assert_eq!(ServeArgs::default().resolve().unwrap().public_url, None);
    }
}
