//! Seeded crash patterns (SPEC §1, §14).
//!
//! All randomness of a Monte Carlo run comes from ChaCha8 generators owned by ftnn: block b of
//! a run with seed s uses `ChaCha8Rng::seed_from_u64(s)` on stream b, so the crash pattern of
//! each (input, repetition) row depends only on the seed and the fixed block size — never on
//! the thread count.
//!
//! Crash positions are drawn by **geometric skipping**: in a sequence of Bernoulli(p) trials
//! the gap G before the next success is geometric, `G = ⌊ln U / ln(1 − p)⌋` with U uniform on
//! (0, 1], so a layer of n neurons over B rows costs O(p·n·B) random numbers instead of n·B.
//! Above [`DENSE_SAMPLING_P`] one 32-bit draw per position is cheaper and is used instead.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Probability above which crashes are drawn position by position rather than by skipping.
pub const DENSE_SAMPLING_P: f64 = 0.25;

/// The generator of block `block` of a run seeded with `seed`.
pub fn block_rng(seed: u64, block: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(block);
    rng
}

/// Appends to `out` the sorted positions in `0..len` that crash, each independently with
/// probability `p` ∈ [0, 1].
pub fn sample_crashes<R: Rng>(rng: &mut R, p: f64, len: usize, out: &mut Vec<u32>) {
    if p <= 0.0 || len == 0 {
        return;
    }
    if p >= 1.0 {
        out.extend(0..len as u32);
        return;
    }
    if p > DENSE_SAMPLING_P {
        // One 32-bit draw per position: P(crash) = ⌈p·2³²⌉/2³², within 2⁻³² of p.
        let threshold = (p * 4_294_967_296.0).ceil() as u64;
        out.extend((0..len as u32).filter(|_| (rng.random::<u32>() as u64) < threshold));
        return;
    }
    let inv_log_q = 1.0 / (-p).ln_1p();
    let mut pos = 0usize;
    loop {
        let u = 1.0 - rng.random::<f64>(); // uniform on (0, 1]
        let skip = (u.ln() * inv_log_q).floor();
        if skip >= (len - pos) as f64 {
            return;
        }
        pos += skip as usize;
        out.push(pos as u32);
        pos += 1;
        if pos >= len {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extremes() {
        let mut rng = block_rng(0, 0);
        let mut v = Vec::new();
        sample_crashes(&mut rng, 0.0, 100, &mut v);
        assert!(v.is_empty());
        sample_crashes(&mut rng, 1.0, 5, &mut v);
        assert_eq!(v, vec![0, 1, 2, 3, 4]);
    }

    #[test]
    fn positions_are_sorted_unique_and_in_range() {
        let mut rng = block_rng(1, 2);
        for p in [0.001, 0.05, 0.2, 0.5, 0.9] {
            let mut v = Vec::new();
            sample_crashes(&mut rng, p, 1000, &mut v);
            assert!(v.windows(2).all(|w| w[0] < w[1]));
            assert!(v.iter().all(|&x| x < 1000));
        }
    }

    /// Each position must crash with probability p, independently of where it is: compare
    /// per-position frequencies and the count's variance with the binomial values.
    #[test]
    fn frequencies_match_bernoulli() {
        for &p in &[0.01, 0.1, 0.3] {
            let (len, trials) = (50usize, 40_000usize);
            let mut hits = vec![0u32; len];
            let mut counts = Vec::with_capacity(trials);
            let mut rng = block_rng(7, 0);
            let mut v = Vec::new();
            for _ in 0..trials {
                v.clear();
                sample_crashes(&mut rng, p, len, &mut v);
                counts.push(v.len() as f64);
                for &i in &v {
                    hits[i as usize] += 1;
                }
            }
            let se = (p * (1.0 - p) / trials as f64).sqrt();
            for (i, &h) in hits.iter().enumerate() {
                let f = h as f64 / trials as f64;
                // 50 positions: 4.5 standard errors keeps the family-wise false alarm < 1e-3.
                assert!((f - p).abs() < 4.5 * se, "p={p} pos={i}: {f}");
            }
            let mean = counts.iter().sum::<f64>() / trials as f64;
            let var = counts.iter().map(|c| (c - mean).powi(2)).sum::<f64>() / (trials - 1) as f64;
            let expected = len as f64 * p * (1.0 - p);
            // relative standard error of a sample variance ≈ sqrt(2/trials) ≈ 0.7 %.
            assert!(
                (var / expected - 1.0).abs() < 0.05,
                "p={p}: var {var} vs {expected}"
            );
        }
    }

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let draw = |s, b| {
            let mut v = Vec::new();
            sample_crashes(&mut block_rng(s, b), 0.1, 500, &mut v);
            v
        };
        assert_eq!(draw(3, 4), draw(3, 4));
        assert_ne!(draw(3, 4), draw(3, 5));
        assert_ne!(draw(3, 4), draw(4, 4));
    }
}
