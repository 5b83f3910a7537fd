//! The seeded random numbers of the statistical simulations, shared by the engine's tests and the server's
//! guard tests (which include this file by path): one generator, so that a seed means the same draws everywhere.
#![allow(dead_code)] // each simulation uses its own part of it

/// SplitMix64 (Steele, Lea, Flood 2014): small, fast even unoptimised, and statistically sound for this.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform on [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1_u64 << 53) as f64)
    }

    /// Two independent standard normals, by Marsaglia's polar method.
    pub fn normal_pair(&mut self) -> (f64, f64) {
        loop {
            let u = 2.0 * self.unit() - 1.0;
            let v = 2.0 * self.unit() - 1.0;
            let s = u * u + v * v;
            if s > 0.0 && s < 1.0 {
                let f = (-2.0 * s.ln() / s).sqrt();
                return (u * f, v * f);
            }
        }
    }

    /// Binomial(n, p) by inversion of the distribution function (Kachitvichyanukul and Schmeiser's BINV):
    /// exact, and cheap when `n·p` is small.
    pub fn binomial(&mut self, trials: u64, p: f64) -> u64 {
        if p > 0.5 {
            return trials - self.binomial(trials, 1.0 - p);
        }
        let odds = p / (1.0 - p);
        let scale = (trials + 1) as f64 * odds;
        let mut mass = (1.0 - p).powi(trials as i32);
        let mut u = self.unit();
        let mut successes = 0;
        while u > mass && successes < trials {
            u -= mass;
            successes += 1;
            mass *= scale / successes as f64 - odds;
        }
        successes
    }
}
