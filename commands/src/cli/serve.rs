//! `pledge serve`: the HTTP API over one ledger.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::json;

use super::common::Common;
use super::output::outln;
use crate::api::{self, AppState, Options};
use crate::app::failure::{Failure, INVALID_INPUT};

/// Serve the ledger over HTTP: reads from the projections, signed commands, a live tail.
///
/// One process owns the ledger (sled is single-process); every writer goes through this server.
/// Commands arriving together are group-committed (one fdatasync), and none is acknowledged
/// before it is durable. Reads answer with the same JSON documents as `pledge ... --json`;
/// `/api/v1/openapi.json` describes every route. The server listens on loopback by default; to
/// listen elsewhere, set a read token (then every request, whatever its method, reads and
/// writes alike, needs `Authorization: Bearer TOKEN`; `pledge --server` sends it from
/// PLEDGE_READ_TOKEN) or pass `--public` to let anyone who can reach it read. Writes always
/// need a signature from an enrolled key.
///
/// Slow and idle clients: a client has `--header-timeout` seconds (10) to send a request's
/// headers, and a keep-alive connection idle that long is closed; at most `--max-connections`
/// (512) are open at once, the rest wait in the backlog. Ctrl-C or SIGTERM stops accepting,
/// lets in-flight requests finish for up to `--shutdown-timeout` seconds (10), then drops any
/// connection still open (a half-sent header, a slow reader) and exits; every command
/// acknowledged by then is committed.
///
/// With `--log-key NAME` (a key in PLEDGE_HOME enrolled for a principal with the `log` role) it
/// signs and publishes a checkpoint of the Merkle tree every `--checkpoint-every` events or
/// `--checkpoint-interval` seconds, and at shutdown; every one is kept in
/// `<ledger>/checkpoints/` and served at `/api/v1/checkpoints`.
///
/// It serves the champions: `POST /api/v1/models/MODEL/predict` scores rows (JSON or CSV) with
/// the champion of each row's segment, else the global one; a champion change is served before
/// its command is acknowledged, and an artifact whose digest does not match is never served
/// (the previous champion keeps serving; `GET /api/v1/models/MODEL` says why).
/// Versions of an experiment in shadow testing score the same rows; their scores are logged
/// with every answer in `<ledger>/predictions/` (one file per UTC day, kept
/// `--prediction-retention` days), never returned. `POST /api/v1/models/MODEL/actuals` (or
/// `pledge actuals record --server`) joins outcomes to them, and `pledge shadow evaluate`
/// records the shadow windows measured from them. `GET /api/v1/ready` is the readiness probe.
///
/// The first line printed is the address (with `--addr 127.0.0.1:0` the system picks a port).
///
/// Examples:
///   pledge serve --ledger /srv/pledge
///   pledge serve --log-key pledge-log --checkpoint-every 500 --checkpoint-interval 30
///   pledge serve --addr 0.0.0.0:7400 --read-token "$(cat /etc/pledge/token)"
///   pledge serve --jobs jobs.json --service-key scheduler
///   PLEDGE_SERVER=http://127.0.0.1:7400 pledge champion     # any command, remotely
///   curl -N http://127.0.0.1:7400/api/v1/events/stream       # the live tail
///   curl -H 'Content-Type: text/csv' --data-binary @rows.csv \
///       http://127.0.0.1:7400/api/v1/models/taxi-tip/predict    # the champions score rows
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:7400")]
    addr: SocketAddr,
    /// Serve reads without a token on a non-loopback address.
    #[arg(long)]
    public: bool,
    /// Largest request body, in bytes.
    #[arg(long, default_value_t = 4 << 20, value_name = "BYTES")]
    body_limit: usize,
    /// Seconds a request may take (the live tail excepted).
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    timeout: u64,
    /// Seconds a client has to send a request's headers; a keep-alive connection idle that
    /// long is closed too.
    #[arg(long, default_value_t = 10, value_name = "SECONDS")]
    header_timeout: u64,
    /// Most connections open at once (keep it under the process's file-descriptor limit); more
    /// wait in the listen backlog until one closes.
    #[arg(long, default_value_t = 512, value_name = "N")]
    max_connections: usize,
    /// Whole days of the prediction log (`<ledger>/predictions/`) kept before today; older
    /// days are deleted.
    #[arg(long, default_value_t = 30, value_name = "DAYS")]
    prediction_retention: u32,
    /// The server's own identity (a key in PLEDGE_HOME enrolled for a principal with the
    /// `service` role): it signs what the server records by itself, the scheduled jobs'
    /// commands. Without it the server appends nothing of its own.
    #[arg(long, value_name = "NAME")]
    service_key: Option<String>,
    /// Run the jobs of this file when they are due (see `pledge jobs --help`), signed by
    /// `--service-key`.
    #[arg(long, value_name = "FILE", requires = "service_key")]
    jobs: Option<std::path::PathBuf>,
    /// After Ctrl-C or SIGTERM: seconds in-flight requests may take before the connections still
    /// open are dropped and the server exits.
    #[arg(long, default_value_t = 10, value_name = "SECONDS")]
    shutdown_timeout: u64,
    /// Worker threads (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
    /// Sign and publish checkpoints with this key from PLEDGE_HOME (a `log` principal's).
    #[arg(long, value_name = "NAME")]
    log_key: Option<String>,
    /// With --log-key: a checkpoint after this many new events.
    #[arg(long, default_value_t = 1000, value_name = "EVENTS", requires = "log_key")]
    checkpoint_every: u64,
    /// With --log-key: a checkpoint after this many seconds when fewer events came.
    #[arg(long, default_value_t = 60, value_name = "SECONDS", requires = "log_key")]
    checkpoint_interval: u64,
    #[command(flatten)]
    common: Common,
}

/// Runs `pledge serve`.
pub fn run(args: Args) -> Result<(), Failure> {
    let c = &args.common;
    if c.server.is_some() {
        return Err(Failure::new(
            INVALID_INPUT,
            "`pledge serve` serves a local ledger; drop --server / PLEDGE_SERVER",
        ));
    }
    if !args.addr.ip().is_loopback() && c.read_token.is_none() && !args.public {
        return Err(Failure::new(
            INVALID_INPUT,
            format!("`{}` is not a loopback address and no read token is set", args.addr),
        )
        .hint("pass --read-token TOKEN (or PLEDGE_READ_TOKEN), or --public to serve reads to anyone who can connect"));
    }
    if c.read_token.as_deref().is_some_and(|t| t.len() < 16) {
        return Err(Failure::new(INVALID_INPUT, "the read token is shorter than 16 characters"));
    }
    if args.timeout == 0 || args.header_timeout == 0 || args.body_limit < 1024 || args.max_connections == 0 {
        return Err(Failure::new(
            INVALID_INPUT,
            "--timeout and --header-timeout must be at least 1 second, --body-limit at least 1024 bytes and --max-connections at least 1",
        ));
    }
    if args.checkpoint_every == 0 || args.checkpoint_interval == 0 {
        return Err(Failure::new(
            INVALID_INPUT,
            "--checkpoint-every and --checkpoint-interval must be at least 1",
        ));
    }
    let checkpoints = match &args.log_key {
        None => None,
        Some(name) => Some(crate::api::Publishing {
            key: std::sync::Arc::new(crate::app::keystore::load(&c.home()?, name)?),
            every: args.checkpoint_every,
            interval: Duration::from_secs(args.checkpoint_interval),
        }),
    };
    let jobs = match (&args.jobs, &args.service_key) {
        (Some(file), Some(name)) => Some(api::Jobs {
            file: std::sync::Arc::new(crate::app::jobs::JobsFile::read(file)?),
            signer: std::sync::Arc::new(crate::app::backend::Signer::load(&c.home()?, name)?),
        }),
        _ => None,
    };
    let options = Options {
        read_token: c.read_token.clone(),
        body_limit: args.body_limit,
        request_timeout: Duration::from_secs(args.timeout),
        header_timeout: Duration::from_secs(args.header_timeout),
        max_connections: args.max_connections,
        shutdown_timeout: Duration::from_secs(args.shutdown_timeout),
        prediction_retention_days: args.prediction_retention,
        jobs,
        checkpoints,
        ..Options::default()
    };
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = args.threads {
        rt.worker_threads(n.max(1));
    }
    let rt = rt.enable_all().build().map_err(Failure::internal)?;
    let (state, writer) = AppState::open(&c.ledger, options)?;
    if let Some(name) = &args.service_key {
        if let Err(f) = state.check_jobs(name) {
            drop(state);
            writer.join();
            return Err(f);
        }
    }
    if let (Some(name), Some(p)) = (&args.log_key, &state.options().checkpoints) {
        let refused = crate::app::transparency::check_log_key(&state.trust(), &p.key, name);
        if let Err(f) = refused {
            drop(state);
            writer.join();
            return Err(f);
        }
    }
    let result = rt.block_on(serve(state, args.addr, c.json));
    // Connections dropped at the shutdown deadline may still have tasks (holding the state)
    // on the runtime: end them, so that the writer sees the last handle go and stops.
    rt.shutdown_timeout(Duration::from_millis(500));
    writer.join();
    result
}

async fn serve(state: AppState, addr: SocketAddr, json_out: bool) -> Result<(), Failure> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| Failure::new(INVALID_INPUT, format!("cannot listen on `{addr}`: {e}")))?;
    let bound = listener.local_addr().map_err(Failure::internal)?;
    if json_out {
        outln!("{}", json!({"listening": format!("http://{bound}"), "events": state.committed()}));
    } else {
        outln!("listening on http://{bound} ({} events)", state.committed());
    }
    use std::io::Write;
    let _ = std::io::stdout().flush();
    api::serve_on(listener, state, shutdown_signal()).await.map_err(Failure::internal)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
