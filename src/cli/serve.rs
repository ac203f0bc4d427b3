//! `serve` and `migrate`.

use std::process::ExitCode;

use anyhow::Context;
use axum::serve::{ListenerExt, TapIo};
use tokio::net::{TcpListener, TcpStream};

use crate::config::Config;
use crate::db::{self, Database};
use crate::state::AppState;

/// Runs the service until SIGINT/SIGTERM, then drains requests and stops the embedded database.
pub async fn serve(config: Config, demo: bool) -> anyhow::Result<ExitCode> {
    let database = Database::open(&config).await?;
    db::migrate(&database.pool).await.context("applying migrations")?;
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let local = listener.local_addr()?;
    let listener = without_delay(listener);
    let state = AppState::new(config.clone(), database.pool.clone())?;
    state.start_runners().await;
    let checkpoints = (!config.audit_checkpoint_interval.is_zero()).then(|| {
        tokio::spawn(crate::audit::checkpoint::run_periodically(
            state.pool().clone(),
            state.store().clone(),
            state.keys().audit.clone(),
            state.clock_arc(),
            config.audit_checkpoint_interval,
        ))
    });
    if demo {
        use crate::service::demo;
        if demo::seed_if_new(&state).await? {
            eprintln!("created the demo enterprise `demo`: Alice (admin) and Bob, a few files, one share");
        }
        if demo::exists(&state).await? {
            eprintln!("one-time sign-in links (valid for a day; open one in a browser):");
            for (name, url) in demo::signin_links(&state).await? {
                eprintln!("  {name}: {url}");
            }
        } else {
            eprintln!("--demo: this data directory already has data and no demo enterprise; nothing seeded");
        }
    }
    let app = crate::http::app(state.clone());
    tracing::info!(listen = %local, public_url = %config.public_url, "shareledger is serving");
    eprintln!(
        "shareledger listening on http://{local} (links use {})",
        config.public_url
    );
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await
    .context("HTTP server failed")?;
    tracing::info!("shutting down");
    state.runners().stop();
    if let Some(task) = checkpoints {
        task.abort();
    }
    drop(state);
    database.close().await;
    Ok(ExitCode::SUCCESS)
}

/// The listener with `TCP_NODELAY` on every connection it accepts: a response goes out as it is
/// written (headers, then the body), not held back by Nagle's algorithm until the client has
/// acknowledged the part before, which a client delaying its ACKs (Linux: up to 40 ms) did for
/// every download's body. Downloads over 32 connections went from 750/s (p50 48 ms) to
/// 1,470-2,050/s (p50 15-22 ms) in `bench http --quick --scenario download`.
pub fn without_delay(listener: TcpListener) -> TapIo<TcpListener, fn(&mut TcpStream)> {
    listener.tap_io(set_nodelay)
}

fn set_nodelay(tcp: &mut TcpStream) {
    if let Err(e) = tcp.set_nodelay(true) {
        tracing::debug!(error = %e, "could not set TCP_NODELAY on a connection");
    }
}

/// Applies migrations and exits.
pub async fn migrate_only(config: Config) -> anyhow::Result<ExitCode> {
    let database = Database::open(&config).await?;
    let result = db::migrate(&database.pool).await;
    database.close().await;
    result.context("applying migrations")?;
    eprintln!("migrations applied");
    Ok(ExitCode::SUCCESS)
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
}

#[cfg(test)]
mod tests {
    use axum::serve::Listener;

    #[tokio::test]
    async fn accepted_connections_send_without_delay() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut listener = super::without_delay(listener);
        let _client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (accepted, _) = listener.accept().await;
        assert!(
            accepted.nodelay().unwrap(),
            "Nagle's algorithm is off on the server's side"
        );
    }
}
