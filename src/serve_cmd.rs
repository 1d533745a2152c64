//! `labrys serve`: the run store in a browser, read-only (`labrys_serve` does the work).
//!
//! It listens on this machine only unless `--bind` names another address: a store holds
//! node logs and cluster addresses, and nobody should publish them by accident. Reaching it
//! from elsewhere is better done with an SSH tunnel than by binding to the network.

use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Args)]
pub struct ServeArgs {
    /// Store folder to serve (the one `labrys test` writes to).
    #[arg(long, default_value = "store")]
    pub store: PathBuf,
    /// Address to listen on. The default serves this machine only; another address (such as
    /// 0.0.0.0:8080) lets anyone who reaches it read the whole store.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,
}

pub fn run(a: &ServeArgs) -> u8 {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eout!("error: cannot start the async runtime: {e}");
            return 3;
        }
    };
    rt.block_on(async {
        let server = match labrys_serve::Server::bind(a.bind, &a.store).await {
            Ok(s) => s,
            Err(e) => {
                eout!("error: {e}");
                return 3;
            }
        };
        let addr = server.local_addr();
        if !addr.ip().is_loopback() {
            eout!(
                "warning: listening on {addr}, not only on this machine: anyone who can reach \
                 it can read every file in {}",
                a.store.display()
            );
        }
        sout!(
            "serving {} at http://{addr}/ (Ctrl-C stops)",
            a.store.display()
        );
        let stop = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        match server.run(stop).await {
            Ok(()) => 0,
            Err(e) => {
                eout!("error: {e}");
                3
            }
        }
    })
}
