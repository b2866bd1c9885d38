//! Configuration of `hookd serve`: flags, then `HOOKD_*` environment variables (both read by
//! clap), then a TOML file (`--config`), then defaults. Everything is validated here, at
//! start-up, so a bad value stops the process with a one-line reason (exit 2) instead of
//! failing later.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, ValueEnum};
use hookd_core::retry::{RetrySchedule, DEFAULT_SCHEDULE};
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

/// Flags of `hookd serve`. Each is optional here so that "not given" can fall through to the
/// config file and then to the default.
#[derive(Debug, Clone, Default, Args)]
pub struct ServeArgs {
    /// TOML file with any of the settings below (snake_case keys, e.g. `data_dir`).
    #[arg(long, env = "HOOKD_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address for the API, dashboard and capture URLs [default: 127.0.0.1:8071].
    #[arg(long, env = "HOOKD_LISTEN", value_name = "ADDR")]
    pub listen: Option<String>,
    /// Directory of the embedded SQLite store and generated secrets [default: ./hookd-data].
    #[arg(long, env = "HOOKD_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// `postgres://…` to use PostgreSQL, or `sqlite://PATH` [default: SQLite in the data dir].
    #[arg(long, env = "HOOKD_DATABASE_URL", value_name = "URL")]
    pub database_url: Option<String>,
    /// Org-wide bearer token [default: generated on first start, kept in the data dir].
    #[arg(long, env = "HOOKD_ADMIN_TOKEN", value_name = "TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Destination range allowed past the SSRF guard; repeatable.
    #[arg(long = "allow-subnet", env = "HOOKD_ALLOW_SUBNETS", value_delimiter = ',', value_name = "CIDR")]
    pub allow_subnets: Vec<String>,
    /// Delays before each retry; total attempts = 1 + entries [default: 5s,5m,30m,2h,5h,10h,10h].
    #[arg(long, env = "HOOKD_RETRY_SCHEDULE", value_name = "LIST")]
    pub retry_schedule: Option<String>,
    /// Time limit of one delivery attempt [default: 15s].
    #[arg(long, env = "HOOKD_REQUEST_TIMEOUT", value_name = "DUR")]
    pub request_timeout: Option<String>,
    /// How long a claimed delivery stays reserved for its node; when a node dies its
    /// deliveries are taken over after this [default: request timeout + 15s].
    #[arg(long, env = "HOOKD_LEASE", value_name = "DUR")]
    pub lease: Option<String>,
    /// Attempts in flight at once to one endpoint [default: 8].
    #[arg(long, env = "HOOKD_ENDPOINT_CONCURRENCY", value_name = "N")]
    pub endpoint_concurrency: Option<usize>,
    /// Endpoints this node works at once; with the above, bounds its connections [default: 1024].
    #[arg(long, env = "HOOKD_MAX_ACTIVE_ENDPOINTS", value_name = "N")]
    pub max_active_endpoints: Option<usize>,
    /// Disable an endpoint that has failed this long without a single success [default: 5d].
    #[arg(long, env = "HOOKD_DISABLE_AFTER", value_name = "DUR")]
    pub disable_after: Option<String>,
    /// Delete messages this old, with their attempts, once every delivery of them is finished
    /// (delivered or failed for good); `off` keeps them forever [default: 90d].
    #[arg(long, env = "HOOKD_RETENTION", value_name = "DUR")]
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
    /// Largest accepted body in bytes, of API requests and of requests to capture URLs
    /// [default: 1048576].
    #[arg(long, env = "HOOKD_MAX_BODY_SIZE", value_name = "BYTES")]
    pub max_body_size: Option<usize>,
    /// Database connection pool size [default: 16].
    #[arg(long, env = "HOOKD_DB_POOL_SIZE", value_name = "N")]
    pub db_pool_size: Option<u32>,
    /// Base URL the webhook tester's capture and page URLs are built on, as senders reach this
    /// server, e.g. https://hooks.example.com [default: http://{listen}].
    #[arg(long, env = "HOOKD_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<String>,
}

/// The same settings as read from a TOML file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    admin_token: Option<String>,
    allow_subnets: Option<Vec<String>>,
    retry_schedule: Option<String>,
    request_timeout: Option<String>,
    lease: Option<String>,
    endpoint_concurrency: Option<usize>,
    max_active_endpoints: Option<usize>,
    disable_after: Option<String>,
    retention: Option<String>,
    proxy: Option<String>,
    operational_webhook_url: Option<String>,
    role: Option<Role>,
    max_body_size: Option<usize>,
    db_pool_size: Option<u32>,
    public_url: Option<String>,
}

/// Validated settings of a node.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub database: Database,
    /// `None`: use the one kept in the data dir, generating it on first start.
    pub admin_token: Option<String>,
    pub allow_subnets: Vec<IpNet>,
    pub retry_schedule: RetrySchedule,
    pub request_timeout: Duration,
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
            None => FileConfig::default(),
        };
        let listen = self.listen.or(file.listen).unwrap_or_else(|| "127.0.0.1:8071".into());
        let listen =
            listen.parse().map_err(|_| bad(format!("--listen: '{listen}' is not an address like 127.0.0.1:8071")))?;
        let data_dir = self.data_dir.or(file.data_dir).unwrap_or_else(|| PathBuf::from("./hookd-data"));
        let database = match self.database_url.or(file.database_url) {
            None => Database::Sqlite(data_dir.join("hookd.db")),
            Some(url) => parse_database_url(&url)?,
        };
        let admin_token = self.admin_token.or(file.admin_token);
        if let Some(token) = &admin_token {
            if token.len() < 16 || token.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(bad("--admin-token: must be at least 16 characters without spaces"));
            }
        }
        let subnets =
            if self.allow_subnets.is_empty() { file.allow_subnets.unwrap_or_default() } else { self.allow_subnets };
        let allow_subnets = subnets
            .iter()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .map(parse_subnet)
            .collect::<Result<Vec<_>, _>>()?;
        let schedule = self.retry_schedule.or(file.retry_schedule).unwrap_or_else(|| DEFAULT_SCHEDULE.into());
        let retry_schedule = RetrySchedule::parse(&schedule).map_err(|e| bad(format!("--retry-schedule: {e}")))?;
        let timeout = self.request_timeout.or(file.request_timeout).unwrap_or_else(|| "15s".into());
        let request_timeout =
            humantime::parse_duration(&timeout).map_err(|e| bad(format!("--request-timeout: '{timeout}': {e}")))?;
        if request_timeout.is_zero() || request_timeout > Duration::from_secs(300) {
            return Err(bad("--request-timeout: must be more than 0 and at most 5m"));
        }
        let lease = match self.lease.or(file.lease) {
            None => request_timeout + Duration::from_secs(15),
            Some(text) => humantime::parse_duration(&text).map_err(|e| bad(format!("--lease: '{text}': {e}")))?,
        };
        if lease < request_timeout + Duration::from_secs(1) {
            return Err(bad("--lease: must be at least 1s longer than --request-timeout"));
        }
        let endpoint_concurrency = self.endpoint_concurrency.or(file.endpoint_concurrency).unwrap_or(8);
        if !(1..=1000).contains(&endpoint_concurrency) {
            return Err(bad("--endpoint-concurrency: must be between 1 and 1000"));
        }
        let max_active_endpoints = self.max_active_endpoints.or(file.max_active_endpoints).unwrap_or(1024);
        if !(1..=100_000).contains(&max_active_endpoints) {
            return Err(bad("--max-active-endpoints: must be between 1 and 100000"));
        }
        let disable_after = self.disable_after.or(file.disable_after).unwrap_or_else(|| "5d".into());
        let disable_after = humantime::parse_duration(&disable_after)
            .map_err(|e| bad(format!("--disable-after: '{disable_after}': {e}")))?;
        let retention = match self.retention.or(file.retention).unwrap_or_else(|| "90d".into()).as_str() {
            "off" => None,
            text => match humantime::parse_duration(text) {
                Ok(d) if d >= Duration::from_secs(1) => Some(d),
                Ok(_) => return Err(bad("--retention: must be at least 1s, or off")),
                Err(e) => return Err(bad(format!("--retention: '{text}': {e} (or off)"))),
            },
        };
        let proxy = self
            .proxy
            .or(file.proxy)
            .map(|p| hookd_http::parse_proxy(&p))
            .transpose()
            .map_err(|e| bad(format!("--proxy: {e}")))?;
        let operational_webhook_url = self.operational_webhook_url.or(file.operational_webhook_url);
        if let Some(url) = &operational_webhook_url {
            match url::Url::parse(url) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {}
                _ => return Err(bad(format!("--operational-webhook-url: '{url}' is not an http(s) URL"))),
            }
        }
        let max_body_size = self.max_body_size.or(file.max_body_size).unwrap_or(1024 * 1024);
        if max_body_size < 1024 {
            return Err(bad("--max-body-size: must be at least 1024 bytes"));
        }
        let db_pool_size = self.db_pool_size.or(file.db_pool_size).unwrap_or(16);
        if db_pool_size == 0 {
            return Err(bad("--db-pool-size: must be at least 1"));
        }
        let public_url = self.public_url.or(file.public_url).map(|u| parse_public_url(&u)).transpose()?;
        Ok(Config {
            listen,
            data_dir,
            database,
            admin_token,
            allow_subnets,
            retry_schedule,
            request_timeout,
            lease,
            endpoint_concurrency,
            max_active_endpoints,
            disable_after,
            retention,
            idempotency_key_ttl: Duration::from_secs(24 * 3600),
            proxy,
            operational_webhook_url,
            role: self.role.or(file.role).unwrap_or(Role::All),
            max_body_size,
            db_pool_size,
            public_url,
        })
    }
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

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
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
