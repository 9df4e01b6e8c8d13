//! A TCP relay on 127.0.0.1 for fault tests: it forwards connections to an
//! upstream address, and on command stalls them (stops reading, keeps them
//! open), closes them (a FIN) or resets them (an RST).

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What the relay does with its connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Forward bytes both ways.
    Forward,
    /// Stop reading from either side, leaving every connection open: a
    /// blackholed link. New connections are accepted and stalled too.
    Stall,
}

/// A running relay; dropping it stops it and closes its connections.
pub(crate) struct Relay {
    addr: SocketAddr,
    mode: watch::Sender<Mode>,
    /// Bumped to drop every open connection; the flag says with an RST
    /// (else a FIN).
    resets: watch::Sender<(u64, bool)>,
    /// Connections being relayed now.
    open: watch::Sender<usize>,
    task: tokio::task::JoinHandle<()>,
}

impl Relay {
    /// Listens on 127.0.0.1 (a free port) and relays to `upstream`, which
    /// must be on 127.0.0.1 too.
    pub(crate) async fn start(upstream: SocketAddr) -> Relay {
        assert!(
            upstream.ip().is_loopback(),
            "the relay only talks to 127.0.0.1"
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("relay bind");
        let addr = listener.local_addr().expect("relay address");
        let (mode, mode_rx) = watch::channel(Mode::Forward);
        let (resets, resets_rx) = watch::channel((0u64, true));
        let open = watch::Sender::new(0usize);
        let counted = open.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                let mode = mode_rx.clone();
                let resets = resets_rx.clone();
                // Counted from the accept, so that a connection is never
                // missed while its upstream side is being made.
                counted.send_modify(|n| *n += 1);
                let counted = counted.clone();
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(upstream).await {
                        pipe(client, server, mode, resets).await;
                    }
                    counted.send_modify(|n| *n -= 1);
                });
            }
        });
        Relay {
            addr,
            mode,
            resets,
            open,
            task,
        }
    }

    /// `tcp://127.0.0.1:PORT` of the relay.
    pub(crate) fn endpoint(&self) -> String {
        format!("tcp://{}", self.addr)
    }

    pub(crate) fn set_mode(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }

    /// Resolves once the relay forwards no connection (both sockets of
    /// each one it had are closed).
    pub(crate) async fn all_closed(&self) {
        let mut open = self.open.subscribe();
        // The sender lives in `self`: the wait cannot fail.
        let _ = open.wait_for(|n| *n == 0).await;
    }

    /// Resets every connection open now (RST to both sides).
    pub(crate) fn reset(&self) {
        self.resets
            .send_modify(|(n, rst)| (*n, *rst) = (*n + 1, true));
    }

    /// Closes every connection open now with a FIN to both sides, as a
    /// peer that goes away cleanly.
    pub(crate) fn close_all(&self) {
        self.resets
            .send_modify(|(n, rst)| (*n, *rst) = (*n + 1, false));
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
        self.reset();
    }
}

/// Relays one connection until either side closes or a reset comes.
async fn pipe(
    client: TcpStream,
    server: TcpStream,
    mode: watch::Receiver<Mode>,
    mut resets: watch::Receiver<(u64, bool)>,
) {
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let client = Arc::new(client);
    let server = Arc::new(server);
    resets.mark_unchanged();
    let up = copy(client.clone(), server.clone(), mode.clone());
    let down = copy(server.clone(), client.clone(), mode);
    // A side that closes is passed on as a FIN, as a proxy would: an RST
    // only on `reset`. (An RST reaching a receiver whose input is stopped
    // can abort libzmq 4.3.4, issue #4841: only the tests that ask for
    // one should meet it.)
    let rst = tokio::select! {
        _ = up => false,
        _ = down => false,
        _ = resets.changed() => resets.borrow().1,
    };
    if rst {
        // SO_LINGER 0: the close sends an RST instead of a FIN.
        for stream in [&client, &server] {
            let _ = stream.set_zero_linger();
        }
    }
}

/// Copies `from` to `to` while the mode is `Forward`; in `Stall` it stops
/// reading (so the sender's buffers fill) until the mode changes back.
async fn copy(from: Arc<TcpStream>, to: Arc<TcpStream>, mut mode: watch::Receiver<Mode>) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        while *mode.borrow_and_update() == Mode::Stall {
            if mode.changed().await.is_err() {
                return;
            }
        }
        let n = tokio::select! {
            r = read(&from, &mut buf) => match r {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            },
            _ = mode.changed() => continue,
        };
        if write_all(&to, &buf[..n]).await.is_err() {
            return;
        }
    }
}

async fn read(stream: &TcpStream, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        stream.readable().await?;
        match stream.try_read(buf) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
}

async fn write_all(stream: &TcpStream, mut buf: &[u8]) -> std::io::Result<()> {
    while !buf.is_empty() {
        stream.writable().await?;
        match stream.try_write(buf) {
            Ok(n) => buf = &buf[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
