//! The jitter source: xorshift64* seeded by the host.
//!
//! Jitter only has to spread reconnecting clients apart, not resist prediction, so a few lines
//! of PRNG replace the `rand` crate (which would pull `getrandom` and its wasm feature flags
//! into the module). The host seeds it from `Math.random()` or the clock.

/// xorshift64* (Vigna, 2016): 64 bits of state, passes BigCrush except for the lowest bits,
/// which [`Rng::next_unit`] discards.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        // A splitmix64 round first: xorshift's state must not be zero, and neighbouring seeds
        // (page-load timestamps) would otherwise start from neighbouring states.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        Self(if z == 0 { 0x9E37_79B9_7F4A_7C15 } else { z })
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `[0, 1)`: the top 53 bits fill an `f64` mantissa exactly.
    pub(crate) fn next_unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_seed_still_produces_numbers() {
        let mut r = Rng::new(0);
        let a = r.next_u64();
        let b = r.next_u64();
        assert_ne!(a, 0);
        assert_ne!(a, b);
    }

    #[test]
    fn same_seed_same_sequence_different_seed_different_sequence() {
        let mut a = Rng::new(42);
        let mut b = Rng::new(42);
        let mut c = Rng::new(43);
        let xs: Vec<u64> = (0..8).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..8).map(|_| b.next_u64()).collect();
        let zs: Vec<u64> = (0..8).map(|_| c.next_u64()).collect();
        assert_eq!(xs, ys);
        assert_ne!(xs, zs);
    }

    #[test]
    fn unit_is_in_range_and_spread() {
        let mut r = Rng::new(7);
        let (mut low, mut high) = (0, 0);
        for _ in 0..10_000 {
            let u = r.next_unit();
            assert!((0.0..1.0).contains(&u), "{u}");
            if u < 0.5 {
                low += 1;
            } else {
                high += 1;
            }
        }
        // A fair coin over 10 000 throws stays within a few percent of half.
        assert!((4_500..=5_500).contains(&low), "{low} / {high}");
    }
}
