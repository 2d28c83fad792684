//! Reconnect delays: capped exponential backoff with full jitter.
//!
//! "Full jitter" (AWS Architecture Blog, *Exponential Backoff and Jitter*, 2015) picks the delay
//! uniformly in `[0, min(cap, base * 2^attempt)]`. When a relay restarts, every client loses its
//! socket at the same instant; spreading their returns over the whole window, rather than
//! around its end, keeps them from arriving as one wave. The cap is applied *before*
//! randomising so late attempts still spread over `[0, cap]` instead of all waiting `cap`.

/// The upper end of the window for `attempt` (0-based): `min(cap, base * 2^attempt)`, without
/// overflow for any attempt number.
pub fn ceiling_ms(attempt: u32, base: u64, cap: u64) -> u64 {
    // A shift where it cannot overflow, else saturated: `saturating_mul` would link a 128-bit
    // multiplication into the wasm module (wasm32 has no 64-bit overflow flag).
    let ceiling = if base.leading_zeros() >= attempt {
        // Only `base` 0 shifts by 64 here.
        base.checked_shl(attempt).unwrap_or(0)
    } else {
        u64::MAX
    };
    ceiling.min(cap)
}

/// The delay before reconnect `attempt` (0-based) given `unit_random` in `[0, 1)`.
///
/// The result is in `[0, ceiling_ms(attempt, base, cap)]`, both ends included. Values of
/// `unit_random` outside `[0, 1]` (or NaN) are clamped rather than trusted, since the host may
/// supply them.
pub fn delay_ms(attempt: u32, base: u64, cap: u64, unit_random: f64) -> u64 {
    let ceiling = ceiling_ms(attempt, base, cap);
    let u = if unit_random.is_nan() {
        0.0
    } else {
        unit_random.clamp(0.0, 1.0)
    };
    // `+ 1` makes the ceiling itself reachable; `min` covers u == 1.0 and float rounding.
    let delay = (u * (ceiling as f64 + 1.0)) as u64;
    delay.min(ceiling)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceiling_doubles_then_caps() {
        let c: Vec<u64> = (0..7).map(|n| ceiling_ms(n, 1000, 30_000)).collect();
        assert_eq!(c, [1000, 2000, 4000, 8000, 16_000, 30_000, 30_000]);
    }

    #[test]
    fn ceiling_never_overflows() {
        assert_eq!(ceiling_ms(63, 1000, 30_000), 30_000);
        assert_eq!(ceiling_ms(64, 1000, 30_000), 30_000);
        assert_eq!(ceiling_ms(u32::MAX, u64::MAX, u64::MAX), u64::MAX);
        assert_eq!(ceiling_ms(0, 0, 30_000), 0);
    }

    proptest::proptest! {
        /// Equal to `min(cap, base * 2^attempt)` computed without overflow.
        #[test]
        fn ceiling_is_the_saturated_product(attempt in 0u32..80, base: u64, cap: u64) {
            let exact = if attempt >= 64 {
                if base == 0 { 0 } else { u128::MAX }
            } else {
                u128::from(base) << attempt
            };
            let expected = exact.min(u128::from(u64::MAX)).min(u128::from(cap));
            proptest::prop_assert_eq!(u128::from(ceiling_ms(attempt, base, cap)), expected);
        }
    }

    #[test]
    fn delay_spans_the_whole_window() {
        assert_eq!(delay_ms(0, 1000, 30_000, 0.0), 0);
        assert_eq!(delay_ms(0, 1000, 30_000, 0.5), 500);
        assert_eq!(delay_ms(0, 1000, 30_000, 0.999_999_9), 1000);
        assert_eq!(delay_ms(3, 1000, 30_000, 0.5), 4000);
        // Capped before randomising: a late attempt is spread over [0, cap], not pinned to it.
        assert_eq!(delay_ms(20, 1000, 30_000, 0.5), 15_000);
    }

    #[test]
    fn host_supplied_randomness_is_clamped() {
        assert_eq!(delay_ms(2, 1000, 30_000, f64::NAN), 0);
        assert_eq!(delay_ms(2, 1000, 30_000, -3.0), 0);
        assert_eq!(delay_ms(2, 1000, 30_000, 1.0), 4000);
        assert_eq!(delay_ms(2, 1000, 30_000, 7.0), 4000);
    }

    #[test]
    fn delay_never_exceeds_ceiling() {
        for attempt in 0..70 {
            for i in 0..=100 {
                let u = f64::from(i) / 100.0;
                let ceiling = ceiling_ms(attempt, 1000, 30_000);
                assert!(delay_ms(attempt, 1000, 30_000, u) <= ceiling);
            }
        }
    }
}
