//! Command-line interface: `serve`, `migrate`, `token create`, `main-key`, `verify`, `listen`,
//! `bench`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::bench::BenchArgs;
use crate::config::{parse_database_url, Database, ServeArgs};

#[derive(Debug, Parser)]
#[command(
    name = "hookd",
    version,
    about = "Self-hosted webhook server: send signed webhooks with retries, and test the ones you receive."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server: API, delivery worker and webhook tester.
    Serve(Box<ServeArgs>),
    /// Apply database migrations and exit.
    Migrate(StoreArgs),
    /// Manage API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Manage the main key that seals secrets at rest.
    #[command(subcommand, name = "main-key")]
    MainKey(MainKeyCommand),
    /// Check a webhook's Standard Webhooks signature.
    Verify(VerifyArgs),
    /// Print a new ed25519 key pair for asymmetric signatures: the secret key (`whsk_…`) to
    /// give an endpoint as its `secret`, and the public key (`whpk_…`) its receiver verifies
    /// with.
    Keygen,
    /// Relay the requests a tester inbox captures to a local URL (creates the inbox if none
    /// is given).
    Listen(crate::listen::ListenArgs),
    /// Load-test a hookd end to end (publish to arrival) and print a report.
    Bench(BenchArgs),
}

/// Where the store is, for commands that only need the database.
#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// Data directory of the embedded SQLite store.
    #[arg(long, env = "HOOKD_DATA_DIR", default_value = "./hookd-data", value_name = "DIR")]
    pub data_dir: PathBuf,
    /// `postgres://…` or `sqlite://PATH`; overrides --data-dir.
    #[arg(long, env = "HOOKD_DATABASE_URL", value_name = "URL")]
    pub database_url: Option<String>,
}

impl StoreArgs {
    pub fn database(&self) -> Result<Database, crate::config::ConfigError> {
        match &self.database_url {
            Some(url) => parse_database_url(url),
            None => Ok(Database::Sqlite(self.data_dir.join("hookd.db"))),
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create an API token and print it (it is shown only this once).
    Create {
        /// Scope the token to one application (id or uid); it then reaches nothing else.
        #[arg(long, value_name = "APP_ID")]
        app: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum MainKeyCommand {
    /// Print a new main key (base64), e.g. for HOOKD_MAIN_KEY or a key file.
    New,
    /// Seal every secret under a new main key while hookd runs: writes the new key first in
    /// the key file (keeping the old one after it, still accepted), then re-seals. Running
    /// nodes that use this file read it again when they meet the new key.
    Rotate {
        /// The key file [default: `main-key` in the data dir].
        #[arg(long, env = "HOOKD_MAIN_KEY_FILE", value_name = "FILE")]
        main_key_file: Option<PathBuf>,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The endpoint secret, `whsec_…`, or for `v1a` signatures its public key `whpk_…`.
    #[arg(long, env = "HOOKD_VERIFY_SECRET", hide_env_values = true)]
    pub secret: String,
    /// Value of the webhook-id header.
    #[arg(long)]
    pub id: String,
    /// Value of the webhook-timestamp header.
    #[arg(long)]
    pub timestamp: String,
    /// Value of the webhook-signature header.
    #[arg(long)]
    pub signature: String,
    /// File holding the exact request body ("-" for standard input).
    #[arg(long, default_value = "-")]
    pub body: PathBuf,
    /// Accepted clock difference in seconds.
    #[arg(long, default_value_t = 300)]
    pub tolerance: i64,
}
