//! The relay's evaluation throughput next to its server's (`relay-fanout`): the `http-eval` generator pointed
//! at each in turn, one flag, the same key.

use std::net::SocketAddr;

use anyhow::ensure;

use super::server::FLAG;
use crate::load::{self, Load, Target};

/// A relay is to evaluate at least this fraction of its server's throughput (issue 22).
pub const TARGET: f64 = 0.9;

/// The relay's and the server's evaluation throughput, measured in turn.
pub struct Evaluation {
    /// Requests per second of each round.
    pub relay: Vec<f64>,
    /// Requests per second of each round.
    pub server: Vec<f64>,
    /// Requests that failed.
    pub errors: u64,
    /// The median of the rounds' ratios relay / server.
    pub ratio: f64,
}

impl std::fmt::Display for Evaluation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let list = |v: &[f64]| v.iter().map(|x| format!("{x:.0}")).collect::<Vec<_>>().join(", ");
        writeln!(f, "| evaluate one flag | requests/s per round | median |")?;
        writeln!(f, "|---|---:|---:|")?;
        writeln!(f, "| server | {} | {:.0} |", list(&self.server), median(&self.server))?;
        writeln!(f, "| relay | {} | {:.0} |", list(&self.relay), median(&self.relay))?;
        write!(
            f,
            "\nrelay / server (median of the rounds' ratios): {:.3}; failed requests: {}",
            self.ratio, self.errors
        )
    }
}

/// Runs the `http-eval` generator ([`crate::load`]) against the relay and the server in turn, `rounds`
/// times (in reverse order every other round), after checking that both answer the same bytes. Keeps the
/// calling thread busy.
pub fn compare(
    relay: SocketAddr,
    server: SocketAddr,
    authorization: &str,
    load: Load,
    rounds: usize,
) -> anyhow::Result<Evaluation> {
    let bodies = crate::pennon::bodies(1024, Some(FLAG));
    let targets = [
        Target::new(relay, crate::pennon::PATH, &bodies, Some(authorization)),
        Target::new(server, crate::pennon::PATH, &bodies, Some(authorization)),
    ];
    let (at_relay, at_server) = (load::probe_bytes(&targets[0])?, load::probe_bytes(&targets[1])?);
    ensure!(at_relay == at_server, "the relay answered {at_relay:?}, the server {at_server:?}");
    let mut out = Evaluation { relay: Vec::new(), server: Vec::new(), errors: 0, ratio: 0.0 };
    let mut ratios = Vec::new();
    for round in 0..rounds.max(1) {
        eprintln!("evaluation round {} ...", round + 1);
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        let mut throughput = [0.0; 2];
        for i in order {
            let outcome = load::run(&targets[i], load)?;
            ensure!(outcome.ok > 0, "no evaluation succeeded");
            out.errors += outcome.errors;
            throughput[i] = outcome.throughput();
        }
        out.relay.push(throughput[0]);
        out.server.push(throughput[1]);
        ratios.push(throughput[0] / throughput[1]);
    }
    out.ratio = median(&ratios);
    Ok(out)
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or(0.0)
}
