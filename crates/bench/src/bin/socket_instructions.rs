//! `socket-instructions`: `request-instructions` over a real socket. The server listens on 127.0.0.1 as
//! deployed (its accept loop, hyper's connection, the connection's clocks and body wrappers), and one
//! keep-alive client connection sends `POST /api/v1/evaluate` with a server key a given number of times, each
//! after the previous answer has arrived in full. Counted under valgrind, it holds the work of the whole
//! request path in user space, which a busy machine does not disturb; the system calls are counted apart
//! (`strace -c`).
//!
//! ```text
//! valgrind --tool=callgrind target/release/socket-instructions all 1000
//! valgrind --tool=callgrind target/release/socket-instructions all 3000
//! ```
//!
//! `one` asks for one flag, `all` for all fifty (`http-eval`'s (b) and (c)). As with `request-instructions`,
//! run two counts and divide the difference of the totals by the difference of the counts: what the setup and
//! the client cost cancels out, and the client's part is the same for every build.

use std::io::{Read, Write};
use std::net::TcpStream;

use anyhow::{Context as _, ensure};
use clap::Parser;
use pennon_bench::pennon;

/// The `pennon` binary's allocator (see `crates/server/src/main.rs`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Sends evaluation requests to an in-process server over one keep-alive connection.
#[derive(Parser)]
struct Args {
    /// `one` (one flag) or `all` (every flag).
    request: String,
    /// How many requests.
    count: usize,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let flag = match args.request.as_str() {
        "one" => Some(pennon::flag_key(0)),
        "all" => None,
        other => anyhow::bail!("unknown request {other:?}: one or all"),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    let server = runtime.block_on(pennon::start())?;
    let requests: Vec<Vec<u8>> = pennon::bodies(64, flag.as_deref())
        .iter()
        .map(|body| {
            let head = format!(
                "POST {} HTTP/1.1\r\nhost: bench\r\nauthorization: {}\r\ncontent-type: application/json\r\n\
                 content-length: {}\r\n\r\n",
                pennon::PATH,
                server.authorization,
                body.len()
            );
            [head.as_bytes(), body].concat()
        })
        .collect();
    let mut socket = TcpStream::connect(server.server.addr)?;
    socket.set_nodelay(true)?;
    let mut buf = vec![0u8; 1 << 16];
    for i in 0..args.count {
        socket.write_all(&requests[i % requests.len()])?;
        read_answer(&mut socket, &mut buf)?;
    }
    println!("{} requests answered 200", args.count);
    // The server's tasks are not waited for: the counts are taken at exit, the same way for every build.
    std::process::exit(0);
}

/// Reads one answer (head and `content-length` body) and checks that it is a 200.
fn read_answer(socket: &mut TcpStream, buf: &mut [u8]) -> anyhow::Result<()> {
    let mut got = 0;
    let head_end = loop {
        let n = socket.read(&mut buf[got..])?;
        ensure!(n > 0, "the server closed the connection");
        got += n;
        if let Some(at) = buf[..got].windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
    };
    let head = std::str::from_utf8(&buf[..head_end])?.to_ascii_lowercase();
    ensure!(head.starts_with("http/1.1 200"), "not a 200: {head}");
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .context("no content-length")?
        .trim()
        .parse()?;
    while got < head_end + length {
        let n = socket.read(&mut buf[got..])?;
        ensure!(n > 0, "the server closed the connection");
        got += n;
    }
    Ok(())
}
