//! A TCP proxy between a server under test and PostgreSQL, so that a test can take the database away and
//! bring it back while the server keeps running.
//!
//! - [`DbProxy::cut`]: every proxied connection is closed and the port stops listening, so new connections
//!   are refused — what a server sees when PostgreSQL stops or restarts.
//! - [`DbProxy::blackhole`]: connections stay open but nothing goes through any more, and new ones are
//!   accepted and then left silent — a network partition, where only timeouts help.
//! - [`DbProxy::restore`]: connections are proxied again (the ones held silent are closed first, as a
//!   partition that lasted long enough would have them).
//! - [`DbProxy::retarget`]: after a cut, the restored proxy leads to another upstream (a load balancer that
//!   sends clients to another server).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{Mutex, watch};
use tokio::task::JoinHandle;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Open,
    Refuse,
    Blackhole,
}

/// A proxy on 127.0.0.1 in front of one upstream address.
pub struct DbProxy {
    addr: SocketAddr,
    upstream: std::sync::Mutex<SocketAddr>,
    mode: watch::Sender<Mode>,
    /// Connections being proxied or held silent.
    live: Arc<AtomicUsize>,
    /// Connections being held silent.
    held: Arc<AtomicUsize>,
    acceptor: Mutex<Option<JoinHandle<()>>>,
}

impl DbProxy {
    /// Starts a proxy in front of the database a `postgres://` URL names; returns it and the URL that goes
    /// through it.
    pub async fn in_front_of(url: &str) -> (DbProxy, String) {
        let (scheme, rest) = url.split_once("://").expect("a URL with a scheme");
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (credentials, host_port) = match authority.rsplit_once('@') {
            Some((credentials, host_port)) => (format!("{credentials}@"), host_port),
            None => (String::new(), authority),
        };
        let host_port = if host_port.contains(':') { host_port.to_owned() } else { format!("{host_port}:5432") };
        let upstream = tokio::net::lookup_host(&host_port)
            .await
            .ok()
            .and_then(|mut addrs| addrs.find(SocketAddr::is_ipv4))
            .unwrap_or_else(|| panic!("cannot resolve the database address {host_port}"));
        let proxy = DbProxy::start(upstream).await;
        let proxied = format!("{scheme}://{credentials}{}/{path}", proxy.addr());
        (proxy, proxied)
    }

    /// Starts proxying connections on an ephemeral port to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = listen(SocketAddr::from(([127, 0, 0, 1], 0))).expect("proxy binds");
        let addr = listener.local_addr().expect("proxy address");
        let (mode, _) = watch::channel(Mode::Open);
        let proxy = DbProxy {
            addr,
            upstream: std::sync::Mutex::new(upstream),
            mode,
            live: Arc::new(AtomicUsize::new(0)),
            held: Arc::new(AtomicUsize::new(0)),
            acceptor: Mutex::new(None),
        };
        *proxy.acceptor.lock().await = Some(proxy.spawn_acceptor(listener));
        proxy
    }

    /// The address to give the server instead of the database's.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Closes every proxied connection and refuses new ones. Returns when all are closed.
    pub async fn cut(&self) {
        self.mode.send_replace(Mode::Refuse);
        if let Some(acceptor) = self.acceptor.lock().await.take() {
            let _ = acceptor.await;
        }
        wait_for_zero(&self.live).await;
    }

    /// Stops forwarding bytes on every connection, and accepts new ones only to leave them silent.
    pub fn blackhole(&self) {
        self.mode.send_replace(Mode::Blackhole);
    }

    /// Sets the upstream of the connections accepted after the next [`restore`](Self::restore) that follows a
    /// [`cut`](Self::cut).
    pub fn retarget(&self, upstream: SocketAddr) {
        *self.upstream.lock().expect("the upstream") = upstream;
    }

    /// Proxies again, on the same port.
    pub async fn restore(&self) {
        let previous = self.mode.send_replace(Mode::Open);
        if previous == Mode::Blackhole {
            // The connections held silent were closed; wait for that so the server sees it before it tries again.
            wait_for_zero(&self.held).await;
        }
        let mut acceptor = self.acceptor.lock().await;
        if acceptor.is_none() {
            let listener = rebind(self.addr).await;
            *acceptor = Some(self.spawn_acceptor(listener));
        }
    }

    fn spawn_acceptor(&self, listener: TcpListener) -> JoinHandle<()> {
        let mut mode = self.mode.subscribe();
        let upstream = *self.upstream.lock().expect("the upstream");
        let (live, held) = (self.live.clone(), self.held.clone());
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    accepted = listener.accept() => accepted,
                    _ = mode.wait_for(|m| *m == Mode::Refuse) => return,
                };
                let Ok((client, _)) = accepted else { continue };
                let mode = mode.clone();
                live.fetch_add(1, Ordering::SeqCst);
                let (live, held) = (live.clone(), held.clone());
                tokio::spawn(async move {
                    relay(client, upstream, mode, &held).await;
                    live.fetch_sub(1, Ordering::SeqCst);
                });
            }
        })
    }
}

/// Forwards one connection until either side closes it or the mode leaves `Open`.
async fn relay(mut client: TcpStream, upstream: SocketAddr, mut mode: watch::Receiver<Mode>, held: &AtomicUsize) {
    if *mode.borrow_and_update() == Mode::Open {
        let Ok(mut server) = TcpStream::connect(upstream).await else { return };
        tokio::select! {
            _ = tokio::io::copy_bidirectional(&mut client, &mut server) => return,
            _ = mode.wait_for(|m| *m != Mode::Open) => {}
        }
        // Keep the upstream side open while held silent, as a partition would.
        hold_while_blackholed(&mut mode, held).await;
        drop(server);
    } else {
        hold_while_blackholed(&mut mode, held).await;
    }
    drop(client);
}

async fn hold_while_blackholed(mode: &mut watch::Receiver<Mode>, held: &AtomicUsize) {
    held.fetch_add(1, Ordering::SeqCst);
    let _ = mode.wait_for(|m| *m != Mode::Blackhole).await;
    held.fetch_sub(1, Ordering::SeqCst);
}

async fn wait_for_zero(count: &AtomicUsize) {
    for _ in 0..500 {
        if count.load(Ordering::SeqCst) == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("proxied connections did not close");
}

fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(128)
}

/// Binds the proxy's port again. Another socket may hold it for a moment; a test should not pass or fail on that.
async fn rebind(addr: SocketAddr) -> TcpListener {
    let mut last = None;
    for _ in 0..100 {
        match listen(addr) {
            Ok(listener) => return listener,
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the proxy could not listen on {addr} again: {last:?}");
}
