//! MT19937 and numpy's legacy `RandomState.shuffle`, bit for bit.
//!
//! `numpy.random.RandomState(seed)` with an integer seed initialises MT19937 with
//! `init_genrand(seed)`; `shuffle` of a 1-D array walks `i` from `n − 1` down to 1 and swaps
//! element `i` with element `j`, where `j` is drawn uniformly from `0..=i` by masked rejection
//! sampling (`mask` = smallest `2^k − 1 ≥ i`; draw 32-bit outputs `& mask` until `≤ i`).
//! This reproduces Keras' `boston_housing.load_data(seed=113)` split.

/// The 32-bit Mersenne Twister (Matsumoto & Nishimura 1998).
#[derive(Clone)]
pub struct Mt19937 {
    state: [u32; N],
    index: usize,
}

const N: usize = 624;
const M: usize = 397;
const MATRIX_A: u32 = 0x9908_b0df;
const UPPER_MASK: u32 = 0x8000_0000;
const LOWER_MASK: u32 = 0x7fff_ffff;

impl std::fmt::Debug for Mt19937 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mt19937")
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}

impl Mt19937 {
    /// Seeds like `init_genrand(seed)` (and numpy's `RandomState(seed)`).
    pub fn new(seed: u32) -> Self {
        let mut state = [0u32; N];
        state[0] = seed;
        for i in 1..N {
            let prev = state[i - 1];
            state[i] = 1_812_433_253u32
                .wrapping_mul(prev ^ (prev >> 30))
                .wrapping_add(i as u32);
        }
        Mt19937 { state, index: N }
    }

    fn twist(&mut self) {
        for i in 0..N {
            let y = (self.state[i] & UPPER_MASK) | (self.state[(i + 1) % N] & LOWER_MASK);
            let mut next = self.state[(i + M) % N] ^ (y >> 1);
            if y & 1 != 0 {
                next ^= MATRIX_A;
            }
            self.state[i] = next;
        }
        self.index = 0;
    }

    /// Next 32-bit output (`genrand_int32`).
    pub fn next_u32(&mut self) -> u32 {
        if self.index >= N {
            self.twist();
        }
        let mut y = self.state[self.index];
        self.index += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^= y >> 18;
        y
    }

    /// Uniform integer in `0..=max` by numpy's masked rejection sampling
    /// (`random_interval`, 32-bit branch).
    pub fn interval(&mut self, max: u32) -> u32 {
        if max == 0 {
            return 0;
        }
        let mut mask = max;
        mask |= mask >> 1;
        mask |= mask >> 2;
        mask |= mask >> 4;
        mask |= mask >> 8;
        mask |= mask >> 16;
        loop {
            let v = self.next_u32() & mask;
            if v <= max {
                return v;
            }
        }
    }

    /// Shuffles in place exactly like numpy's legacy `RandomState.shuffle` of a 1-D array.
    ///
    /// Panics if the slice has more than `u32::MAX` elements.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let max = u32::try_from(i).expect("shuffle: more than u32::MAX elements");
            let j = self.interval(max) as usize;
            items.swap(i, j);
        }
    }
}

/// numpy's `RandomState(seed).shuffle(arange(n))`: a permutation of `0..n`.
pub fn numpy_legacy_permutation(seed: u32, n: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..n).collect();
    Mt19937::new(seed).shuffle(&mut idx);
    idx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_outputs_of_init_genrand_5489() {
        // The reference implementation's default seed; the 10 000th output is 4123659995
        // (C++ std::mt19937 requirement).
        let mut mt = Mt19937::new(5489);
        assert_eq!(mt.next_u32(), 3_499_211_612);
        assert_eq!(mt.next_u32(), 581_869_302);
        let mut mt = Mt19937::new(5489);
        let mut last = 0;
        for _ in 0..10_000 {
            last = mt.next_u32();
        }
        assert_eq!(last, 4_123_659_995);
    }

    #[test]
    fn interval_stays_in_range() {
        let mut mt = Mt19937::new(1);
        for max in [0u32, 1, 2, 3, 5, 100, 1 << 31, u32::MAX] {
            for _ in 0..50 {
                assert!(mt.interval(max) <= max);
            }
        }
    }

    #[test]
    fn permutation_is_a_permutation() {
        let mut p = numpy_legacy_permutation(113, 506);
        p.sort_unstable();
        assert_eq!(p, (0..506).collect::<Vec<_>>());
        assert!(numpy_legacy_permutation(0, 0).is_empty());
        assert_eq!(numpy_legacy_permutation(0, 1), vec![0]);
    }
}
