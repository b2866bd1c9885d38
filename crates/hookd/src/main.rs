//! `hookd`: see the README. This file only dispatches subcommands and maps failures to exit
//! codes: 0 ok, 1 runtime failure, 2 bad usage or configuration.

use std::io::Read;
use std::process::ExitCode;

use clap::Parser;
use hookd::app::{self, open_store, StartError};
use hookd::bench::{BenchArgs, BenchError, Progress};
use hookd::cli::{Cli, Command, MainKeyCommand, TokenCommand, VerifyArgs};
use hookd_core::signing::{verify, EndpointSecret};

/// mimalloc rather than the system allocator: hookd allocates from many threads at once
/// (tokio's workers and one thread per SQLite connection), where glibc's malloc spent about a
/// tenth of the server's CPU time in a profile of `hookd bench`, much of it contending for
/// its arenas' locks (see BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The bench's own report and progress are its output; the server it runs in-process
    // only speaks up when something is wrong.
    init_logging(if matches!(cli.command, Command::Bench(_)) { "warn" } else { "info,sqlx=warn,tower_http=warn" });
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime starts");
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(msg)) => {
            eprintln!("hookd: {msg}");
            ExitCode::from(2)
        }
        Err(Failure::Runtime(msg)) => {
            eprintln!("hookd: {msg}");
            ExitCode::from(1)
        }
    }
}

enum Failure {
    Usage(String),
    Runtime(String),
}

impl From<StartError> for Failure {
    fn from(e: StartError) -> Self {
        match e {
            StartError::Config(_) | StartError::Database { .. } => Failure::Usage(one_line(&e)),
            StartError::Io(_) => Failure::Runtime(one_line(&e)),
        }
    }
}

/// An error and its causes on one line.
fn one_line(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text.replace('\n', " ")
}

fn init_logging(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("HOOKD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // Colours only on a terminal, so logs piped to files or other programs stay plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).with_writer(std::io::stderr).init();
}

async fn run(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::Serve(args) => serve(*args).await,
        Command::Migrate(store) => {
            let database = store.database().map_err(|e| Failure::Usage(e.0))?;
            open_store(&database, 2).await?.close().await;
            println!("migrations applied ({})", database.describe());
            Ok(())
        }
        Command::Token(TokenCommand::Create { app, store }) => {
            let database = store.database().map_err(|e| Failure::Usage(e.0))?;
            let store = open_store(&database, 2).await?;
            let application = store
                .get_application(&app)
                .await
                .map_err(|_| Failure::Usage(format!("no application '{app}' in {}", database.describe())))?;
            let token = hookd_server::generate_token("sk_app_");
            store
                .create_app_token(&application.id, &hookd_server::hash_token(&token), None)
                .await
                .map_err(|e| Failure::Runtime(one_line(&e)))?;
            store.close().await;
            println!("{token}");
            eprintln!("token for application {} created; it is shown only this once", application.id);
            Ok(())
        }
        Command::MainKey(MainKeyCommand::New) => {
            println!("{}", hookd_core::sealing::new_main_key());
            Ok(())
        }
        Command::MainKey(MainKeyCommand::Rotate { main_key_file, store }) => {
            let database = store.database().map_err(|e| Failure::Usage(e.0))?;
            let path = main_key_file.unwrap_or_else(|| store.data_dir.join(hookd::config::MAIN_KEY_FILE));
            let (id, sealed) = hookd::app::rotate_main_key(&path, &database).await?;
            eprintln!(
                "main key {id} is now first in {}; {sealed} secrets sealed under it. The previous key stays in the \
                 file, still accepted; copy the file to every other node that uses this database.",
                path.display()
            );
            Ok(())
        }
        Command::Verify(args) => verify_command(args),
        Command::Keygen => {
            let pair = EndpointSecret::generate_ed25519();
            println!("secret key (the endpoint's secret): {}", pair.expose());
            println!("public key (for the receiver):      {}", pair.for_receiver());
            Ok(())
        }
        Command::Listen(args) => hookd::listen::run(args).await.map_err(|e| match e {
            hookd::listen::ListenError::Usage(msg) => Failure::Usage(msg),
            hookd::listen::ListenError::Runtime(msg) => Failure::Runtime(msg),
        }),
        Command::Bench(args) => bench(args).await,
    }
}

/// Runs the bench and prints its report; a run that lost or failed anything exits with 1.
async fn bench(args: BenchArgs) -> Result<(), Failure> {
    let json = args.json;
    let mut progress = Progress::new();
    // On Ctrl-C the run is dropped, which kills a child server and removes the scratch dir.
    let outcome = tokio::select! {
        outcome = hookd::bench::run(args, &mut progress) => outcome,
        _ = tokio::signal::ctrl_c() => Err(BenchError::Runtime("bench interrupted".into())),
    };
    let report = outcome.map_err(|e| match e {
        BenchError::Usage(m) => Failure::Usage(m),
        BenchError::Runtime(m) => Failure::Runtime(m),
    })?;
    if json {
        let text = serde_json::to_string_pretty(&report).expect("a report serializes");
        println!("{text}");
    } else {
        print!("{}", report.text());
    }
    if report.ok {
        Ok(())
    } else {
        Err(Failure::Runtime(format!(
            "bench failed: {} of {} messages accepted, {} deliveries missing{}",
            report.publish.accepted,
            report.messages,
            report.delivery.missing,
            if report.timed_out { " (timed out)" } else { "" }
        )))
    }
}

async fn serve(args: hookd::ServeArgs) -> Result<(), Failure> {
    let config = args.resolve().map_err(|e| Failure::Usage(e.0))?;
    let listen = config.listen;
    let description = config.database.describe();
    let data_dir = config.data_dir.clone();
    let node = app::build(config).await?;
    if node.generated_admin_token {
        println!("Generated admin token (kept in {}/admin-token, shown only now):", data_dir.display());
        println!("  {}", node.admin_token());
    }
    let shutdown = app::shutdown_signal();
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| Failure::Usage(format!("cannot listen on {listen}: {e}")))?;
    tracing::info!(address = %listener.local_addr().map_or(listen, |a| a), store = %description, "hookd is listening");
    node.run(listener, shutdown).await.map_err(|e| Failure::Runtime(format!("server failed: {e}")))
}

fn verify_command(args: VerifyArgs) -> Result<(), Failure> {
    let secret =
        EndpointSecret::parse_for_verifying(&args.secret).map_err(|e| Failure::Usage(format!("--secret: {e}")))?;
    let mut body = Vec::new();
    let read = if args.body.as_os_str() == "-" {
        std::io::stdin().read_to_end(&mut body).map(|_| ())
    } else {
        std::fs::read(&args.body).map(|b| body = b)
    };
    read.map_err(|e| Failure::Usage(format!("--body: {e}")))?;
    let now = chrono::Utc::now().timestamp();
    match verify(&[secret], Some(&args.id), Some(&args.timestamp), Some(&args.signature), &body, now, args.tolerance) {
        Ok(()) => {
            println!("signature verified");
            Ok(())
        }
        Err(e) => Err(Failure::Runtime(format!("signature does not verify: {e}"))),
    }
}
