//! Monte Carlo estimate of the crash error Δ = ŷ(x) − y(x) (SPEC §3, §14).
//!
//! For N inputs and R repetitions the engine reports, per input and output k, the sample mean
//! of Δ_k, its sample standard deviation (denominator R − 1; 0 when R = 1) and the standard
//! error std/√R.
//!
//! # How the work is cut (SPEC §14)
//! The N·R (input, repetition) rows are processed in blocks of [`BLOCK_ROWS`] consecutive rows;
//! block b draws its crash pattern from its own ChaCha8 stream ([`crate::crash::block_rng`]).
//! Blocks run in parallel and their statistics are merged in block order (Chan et al.'s
//! pairwise update of mean and M2, in f64), so the same seed gives the same numbers whatever
//! the thread count, and memory stays bounded whatever R.
//!
//! With l₀ the first layer whose p is non-zero ([`Strategy::Incremental`]):
//! * the crash-free prefix up to l₀, the pre-activation `W_{l₀+1} y_{l₀}` and the clean
//!   output are computed once per input;
//! * a repetition in which nothing crashes has Δ = 0 and costs nothing;
//! * when p_{l₀} ≤ [`DELTA_MAX_P`], layer l₀+1 is updated sparsely: each crashed neuron i
//!   subtracts `W_{l₀+1}[:, i] · y_{l₀,i}` (one contiguous AXPY) from the cached
//!   pre-activation; above it, the masked rows go through one GEMM;
//! * later layers run as one GEMM over the block's affected rows (candle), followed by one
//!   fused pass of bias + activation + crash mask.
//!
//! [`Strategy::Dense`] recomputes every row from the input with full masked forward passes —
//! the naive method, with the same crash patterns — and exists to test the fast path.
//!
//! # Devices
//! This engine is host code (its GEMM tensors are on the CPU, its sparse updates and fused
//! epilogues are CPU loops). On another device (`--device cuda`) the same estimate runs on
//! [`crate::seq::SeqMonteCarlo`] with the network converted by `Sequential::from_mlp`: batched
//! masks and GEMMs in candle. The rule on every device: crash masks are drawn on the host from
//! ftnn's seeded ChaCha8 block streams and uploaded, never by a device RNG, so CPU and GPU runs
//! with the same seed use the same masks and agree within float tolerance
//! (`cargo xtask gpu-check` compares them).

use crate::crash::{block_rng, sample_crashes};
use crate::error::{ModelError, Result};
use crate::failure::FailureVector;
use crate::inputs::Inputs;
use crate::mlp::Mlp;
use rayon::prelude::*;

/// Rows (input × repetition pairs) per block; part of the definition of a seeded run.
pub const BLOCK_ROWS: usize = 256;
/// Largest p at the first crashing layer for which the sparse (AXPY) update is used.
pub const DELTA_MAX_P: f64 = 0.1;
/// Blocks handed to the thread pool at once (bounds memory and sets the progress granularity).
const CHUNK_BLOCKS: usize = 64;

/// How crashed forward passes are computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Strategy {
    /// Prefix reuse, skipped crash-free rows, sparse updates (the fast path).
    #[default]
    Incremental,
    /// Full masked forward of every row from the input (reference, naive cost).
    Dense,
}

/// Per-input, per-output statistics of Δ. Arrays are row-major `[n_inputs, n_outputs]`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DeltaStats {
    /// Number of inputs N.
    pub n_inputs: usize,
    /// Number of outputs n_L.
    pub n_outputs: usize,
    /// Repetitions R per input.
    pub repetitions: usize,
    /// Sample mean of Δ.
    pub mean: Vec<f64>,
    /// Sample standard deviation of Δ (denominator R − 1).
    pub std: Vec<f64>,
    /// Standard error of the mean, std / √R.
    pub stderr: Vec<f64>,
}

impl DeltaStats {
    /// Splits a flat `[N, n_L]` array into rows.
    pub fn rows(&self, flat: &[f64]) -> Vec<Vec<f64>> {
        flat.chunks(self.n_outputs).map(<[f64]>::to_vec).collect()
    }
}

/// A configured Monte Carlo run. Build with [`MonteCarlo::new`], set options, call
/// [`MonteCarlo::run`].
///
/// ```
/// use ftnn_model::{Activation, FailureVector, Init, Inputs, Mlp, MonteCarlo};
/// use rand::SeedableRng;
/// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
/// let net = Mlp::init(&[4, 8, 2], Activation::Sigmoid, 1.0, Init::Paper, &mut rng).unwrap();
/// let p = FailureVector::new(vec![0.0, 0.1, 0.0]).unwrap();
/// let x = Inputs::new(vec![0.5; 4], 1, 4).unwrap();
/// let stats = MonteCarlo::new(&net, p).unwrap().repetitions(1000).seed(7).run(&x).unwrap();
/// assert_eq!(stats.mean.len(), 2);
/// ```
#[derive(Debug, Clone)]
pub struct MonteCarlo<'a> {
    net: &'a Mlp,
    p: FailureVector,
    repetitions: usize,
    seed: u64,
    strategy: Strategy,
}

impl<'a> MonteCarlo<'a> {
    /// A run on `net` with failure vector `p` (checked against the network's depth);
    /// defaults: 10 000 repetitions, seed 0, [`Strategy::Incremental`].
    pub fn new(net: &'a Mlp, p: FailureVector) -> Result<Self> {
        p.check_len(net.n_neuron_layers())?;
        Ok(Self {
            net,
            p,
            repetitions: 10_000,
            seed: 0,
            strategy: Strategy::Incremental,
        })
    }
    /// Number of crash patterns drawn per input.
    pub fn repetitions(mut self, r: usize) -> Self {
        self.repetitions = r;
        self
    }
    /// Seed of the crash patterns.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
    /// How crashed passes are computed (results agree up to rounding).
    pub fn strategy(mut self, strategy: Strategy) -> Self {
        self.strategy = strategy;
        self
    }

    /// Total rows N·R a run on `n_inputs` inputs evaluates (for progress bars).
    pub fn total_rows(&self, n_inputs: usize) -> u64 {
        (n_inputs * self.repetitions) as u64
    }

    /// Runs without progress reporting.
    pub fn run(&self, inputs: &Inputs) -> Result<DeltaStats> {
        self.run_with_progress(inputs, |_| {})
    }

    /// Runs, calling `progress(rows_done)` after each chunk of blocks.
    pub fn run_with_progress(
        &self,
        inputs: &Inputs,
        progress: impl Fn(u64) + Sync,
    ) -> Result<DeltaStats> {
        if self.repetitions == 0 {
            return Err(ModelError::ZeroRepetitions);
        }
        inputs.check_width(self.net.n_inputs())?;
        let plan = Plan::new(self.net, &self.p, inputs, self.strategy)?;
        stream_blocks(
            inputs.rows(),
            self.repetitions,
            self.net.n_outputs(),
            progress,
            |b, rows| plan.block(b as u64, rows, self.repetitions, self.seed),
        )
    }
}

/// The block driver shared by every Monte Carlo engine: the N·R rows (row t = input·R +
/// repetition) in blocks of [`BLOCK_ROWS`], [`CHUNK_BLOCKS`] blocks at a time in parallel,
/// `block(b, rows)` returning the moments of its rows grouped by input; merged in block order
/// (so the result does not depend on the thread count), `progress(rows_done)` after each chunk.
pub(crate) fn stream_blocks(
    n: usize,
    reps: usize,
    n_out: usize,
    progress: impl Fn(u64) + Sync,
    block: impl Fn(usize, std::ops::Range<usize>) -> Result<Vec<(usize, Moments)>> + Sync,
) -> Result<DeltaStats> {
    let mut acc: Vec<Moments> = vec![Moments::zero(n_out); n];
    let total = n * reps;
    let n_blocks = total.div_ceil(BLOCK_ROWS);
    let mut done = 0u64;
    for chunk_start in (0..n_blocks).step_by(CHUNK_BLOCKS) {
        let chunk_end = (chunk_start + CHUNK_BLOCKS).min(n_blocks);
        let partials: Vec<Vec<(usize, Moments)>> = (chunk_start..chunk_end)
            .into_par_iter()
            .map(|b| block(b, b * BLOCK_ROWS..((b + 1) * BLOCK_ROWS).min(total)))
            .collect::<Result<_>>()?;
        for (input, m) in partials.into_iter().flatten() {
            acc[input].merge(&m);
        }
        done += ((chunk_end * BLOCK_ROWS).min(total) - chunk_start * BLOCK_ROWS) as u64;
        progress(done);
    }
    let r = reps as f64;
    let mut stats = DeltaStats {
        n_inputs: n,
        n_outputs: n_out,
        repetitions: reps,
        mean: Vec::with_capacity(n * n_out),
        std: Vec::with_capacity(n * n_out),
        stderr: Vec::with_capacity(n * n_out),
    };
    for m in &acc {
        for k in 0..n_out {
            let var = if reps > 1 {
                (m.m2[k] / (r - 1.0)).max(0.0)
            } else {
                0.0
            };
            stats.mean.push(m.mean[k]);
            stats.std.push(var.sqrt());
            stats.stderr.push((var / r).sqrt());
        }
    }
    Ok(stats)
}

/// The moments of a block's rows `rows` grouped by input (rows of one input are contiguous),
/// given Δ (`[a, n_out]`) of its `active` rows (block-relative, increasing; every other row
/// has Δ = 0).
pub(crate) fn group_by_input(
    rows: &std::ops::Range<usize>,
    reps: usize,
    active: &[usize],
    deltas: &[f32],
    n_out: usize,
) -> Vec<(usize, Moments)> {
    let nb = rows.len();
    let a = active.len();
    let mut out = Vec::new();
    let (mut r, mut j) = (0usize, 0usize);
    while r < nb {
        let i = (rows.start + r) / reps;
        let r_end = ((i + 1) * reps - rows.start).min(nb);
        let j_start = j;
        while j < a && active[j] < r_end && !deltas.is_empty() {
            j += 1;
        }
        out.push((
            i,
            Moments::of_rows(r_end - r, &deltas[j_start * n_out..j * n_out], n_out),
        ));
        r = r_end;
    }
    out
}

/// Count, mean and sum of squared deviations of a set of Δ vectors.
#[derive(Debug, Clone)]
pub(crate) struct Moments {
    count: f64,
    mean: Vec<f64>,
    m2: Vec<f64>,
}

impl Moments {
    fn zero(n: usize) -> Self {
        Self {
            count: 0.0,
            mean: vec![0.0; n],
            m2: vec![0.0; n],
        }
    }

    /// Chan, Golub & LeVeque's pairwise update.
    fn merge(&mut self, other: &Moments) {
        if other.count == 0.0 {
            return;
        }
        let n = self.count + other.count;
        for k in 0..self.mean.len() {
            let d = other.mean[k] - self.mean[k];
            self.mean[k] += d * other.count / n;
            self.m2[k] += other.m2[k] + d * d * self.count * other.count / n;
        }
        self.count = n;
    }

    /// Moments of `count` rows of which only `deltas` (row-major `[_, n]`) may be non-zero.
    fn of_rows(count: usize, deltas: &[f32], n: usize) -> Self {
        let mut m = Moments::zero(n);
        m.count = count as f64;
        for row in deltas.chunks_exact(n) {
            for (s, &d) in m.mean.iter_mut().zip(row) {
                *s += d as f64;
            }
        }
        for s in &mut m.mean {
            *s /= count as f64;
        }
        let zeros = (count - deltas.len() / n) as f64;
        for k in 0..n {
            m.m2[k] = zeros * m.mean[k] * m.mean[k];
        }
        for row in deltas.chunks_exact(n) {
            for k in 0..n {
                let e = row[k] as f64 - m.mean[k];
                m.m2[k] += e * e;
            }
        }
        m
    }
}

/// Everything a block needs that does not depend on the crash pattern.
struct Plan<'a> {
    net: &'a Mlp,
    p: &'a [f64],
    strategy: Strategy,
    /// First crashing layer, or None when nothing can crash.
    l0: Option<usize>,
    /// Inputs `[N, n_0]`.
    x: &'a [f32],
    /// Clean `y_{l₀}` `[N, n_{l₀}]` (Incremental only).
    y_l0: Vec<f32>,
    /// Clean `W_{l₀+1} y_{l₀}` without bias `[N, n_{l₀+1}]` (Incremental, l₀ < L).
    z_next: Vec<f32>,
    /// Clean `y_{L−1}` `[N, n_{L−1}]` (Incremental, l₀ + 1 < L).
    y_penultimate: Vec<f32>,
    /// Clean outputs `[N, n_L]`.
    y_out: Vec<f32>,
}

impl<'a> Plan<'a> {
    fn new(
        net: &'a Mlp,
        p: &'a FailureVector,
        inputs: &'a Inputs,
        strategy: Strategy,
    ) -> Result<Self> {
        let n = inputs.rows();
        let ys = net.forward_layers(inputs.data(), n)?;
        let l0 = p.first_crashing_layer();
        let big_l = net.output_layer();
        let (mut y_l0, mut z_next, mut y_penultimate) = (Vec::new(), Vec::new(), Vec::new());
        if let (Some(l0), Strategy::Incremental) = (l0, strategy) {
            y_l0 = ys[l0].clone();
            if l0 + 1 < big_l {
                z_next = net.layers()[l0].matmul_rows(y_l0.clone(), n)?;
                y_penultimate = ys[big_l - 1].clone();
            }
        }
        let y_out = ys[big_l].clone();
        Ok(Self {
            net,
            p: p.as_slice(),
            strategy,
            l0,
            x: inputs.data(),
            y_l0,
            z_next,
            y_penultimate,
            y_out,
        })
    }

    /// Statistics of rows `rows` (global row t = input·R + repetition) for block `b`,
    /// grouped by input in increasing order.
    fn block(
        &self,
        b: u64,
        rows: std::ops::Range<usize>,
        reps: usize,
        seed: u64,
    ) -> Result<Vec<(usize, Moments)>> {
        let net = self.net;
        let n_out = net.n_outputs();
        let nb = rows.len();
        let sizes = net.sizes();
        let mut rng = block_rng(seed, b);
        let crashes = BlockCrashes::sample(&mut rng, self.p, &sizes, nb);

        // Rows whose Δ must be computed.
        let active: Vec<usize> = match self.strategy {
            Strategy::Incremental => (0..nb).filter(|&r| crashes.any[r]).collect(),
            Strategy::Dense => (0..nb).collect(),
        };
        let a = active.len();
        let deltas = match self.l0.filter(|_| a > 0) {
            None => Vec::new(),
            Some(l0) => {
                let ctx = BlockRows {
                    active: &active,
                    crashes: &crashes,
                    first_row: rows.start,
                    reps,
                };
                match self.strategy {
                    Strategy::Dense => self.dense_deltas(&ctx)?,
                    Strategy::Incremental => self.incremental_deltas(&ctx, l0)?,
                }
            }
        };
        Ok(group_by_input(&rows, reps, &active, &deltas, n_out))
    }

    /// Δ of the active rows by full masked forward passes from the input (naive cost).
    fn dense_deltas(&self, b: &BlockRows<'_>) -> Result<Vec<f32>> {
        let net = self.net;
        let sizes = net.sizes();
        let (n0, n_out, a) = (sizes[0], net.n_outputs(), b.active.len());
        let mut y = Vec::with_capacity(a * n0);
        for &r in b.active {
            let i = b.input_of(r);
            y.extend_from_slice(&self.x[i * n0..(i + 1) * n0]);
        }
        b.crashes.mask(&mut y, n0, b.active, 0);
        for l in 1..=net.output_layer() {
            let mut z = net.layers()[l - 1].matmul_rows(y, a)?;
            net.bias_activate(l, &mut z);
            b.crashes.mask(&mut z, sizes[l], b.active, l);
            y = z;
        }
        for (j, &r) in b.active.iter().enumerate() {
            let i = b.input_of(r);
            for (d, &yc) in y[j * n_out..(j + 1) * n_out]
                .iter_mut()
                .zip(&self.y_out[i * n_out..(i + 1) * n_out])
            {
                *d -= yc;
            }
        }
        Ok(y)
    }

    /// Δ of the active rows from the cached crash-free prefix, propagating differences where
    /// the network is linear in them (SPEC §14):
    /// * the change of layer l₀ is `d_{l₀} = −y_{l₀} ⊙ crashed`, so the change of the next
    ///   pre-activation is `Δz = W_{l₀+1} d_{l₀}` — sparse AXPYs or one GEMM, computed from zero
    ///   (no cancellation against the clean value);
    /// * layers l₀+1 … L−1 are recomputed (GEMM, fused bias + activation + mask) and their
    ///   change taken at L−1;
    /// * the output changes by `W_L d_{L−1}` (bias cancels), except crashed outputs, which
    ///   change by −y_L.
    fn incremental_deltas(&self, b: &BlockRows<'_>, l0: usize) -> Result<Vec<f32>> {
        let net = self.net;
        let sizes = net.sizes();
        let big_l = net.output_layer();
        let (n_out, a) = (net.n_outputs(), b.active.len());
        let mut delta = if l0 == big_l {
            vec![0f32; a * n_out]
        } else {
            let (n_l0, n_next) = (sizes[l0], sizes[l0 + 1]);
            let layer = &net.layers()[l0];
            let mut dz = vec![0f32; a * n_next];
            if self.p[l0] <= DELTA_MAX_P {
                for (j, &r) in b.active.iter().enumerate() {
                    let y_in = &self.y_l0[b.input_of(r) * n_l0..];
                    let row = &mut dz[j * n_next..(j + 1) * n_next];
                    for &c in b.crashes.of(l0, r) {
                        let v = y_in[c as usize];
                        for (zk, &w) in row.iter_mut().zip(layer.column(c as usize)) {
                            *zk -= w * v;
                        }
                    }
                }
            } else {
                let mut d = vec![0f32; a * n_l0];
                for (j, &r) in b.active.iter().enumerate() {
                    let y_in = &self.y_l0[b.input_of(r) * n_l0..];
                    for &c in b.crashes.of(l0, r) {
                        d[j * n_l0 + c as usize] = -y_in[c as usize];
                    }
                }
                dz = layer.matmul_rows(d, a)?;
            }
            if l0 + 1 == big_l {
                dz
            } else {
                // Absolute values of layer l₀+1 … L−1, then their change at L−1.
                let mut y = dz;
                for (j, &r) in b.active.iter().enumerate() {
                    let zc = &self.z_next[b.input_of(r) * n_next..(b.input_of(r) + 1) * n_next];
                    for (v, &c) in y[j * n_next..(j + 1) * n_next].iter_mut().zip(zc) {
                        *v += c;
                    }
                }
                net.bias_activate(l0 + 1, &mut y);
                b.crashes.mask(&mut y, n_next, b.active, l0 + 1);
                for l in l0 + 2..big_l {
                    let mut z = net.layers()[l - 1].matmul_rows(y, a)?;
                    net.bias_activate(l, &mut z);
                    b.crashes.mask(&mut z, sizes[l], b.active, l);
                    y = z;
                }
                let n_pen = sizes[big_l - 1];
                for (j, &r) in b.active.iter().enumerate() {
                    let i = b.input_of(r);
                    let clean = &self.y_penultimate[i * n_pen..(i + 1) * n_pen];
                    for (v, &c) in y[j * n_pen..(j + 1) * n_pen].iter_mut().zip(clean) {
                        *v -= c;
                    }
                }
                net.layers()[big_l - 1].matmul_rows(y, a)?
            }
        };
        // Crashed outputs lose their whole value.
        for (j, &r) in b.active.iter().enumerate() {
            let i = b.input_of(r);
            for &c in b.crashes.of(big_l, r) {
                delta[j * n_out + c as usize] = -self.y_out[i * n_out + c as usize];
            }
        }
        Ok(delta)
    }
}

/// The rows of a block that are evaluated, with their crashes.
struct BlockRows<'a> {
    /// Block rows whose Δ is computed (stacked in this order).
    active: &'a [usize],
    crashes: &'a BlockCrashes,
    /// Global index of block row 0.
    first_row: usize,
    /// Repetitions per input.
    reps: usize,
}

impl BlockRows<'_> {
    /// The input of block row `r`.
    #[inline]
    fn input_of(&self, r: usize) -> usize {
        (self.first_row + r) / self.reps
    }
}

/// The crashed neurons of one block: per layer, a CSR list of crashed positions per row.
struct BlockCrashes {
    crashed: Vec<Vec<u32>>,
    starts: Vec<Vec<usize>>,
    /// Whether anything crashed in each row.
    any: Vec<bool>,
}

impl BlockCrashes {
    /// Draws the crashes of `rows` rows, layer by layer in increasing order.
    fn sample<R: rand::Rng>(rng: &mut R, p: &[f64], sizes: &[usize], rows: usize) -> Self {
        let mut crashed = vec![Vec::new(); sizes.len()];
        let mut starts = vec![Vec::new(); sizes.len()];
        let mut any = vec![false; rows];
        for (l, &width) in sizes.iter().enumerate() {
            if p[l] == 0.0 {
                continue;
            }
            let mut pos = Vec::new();
            sample_crashes(rng, p[l], rows * width, &mut pos);
            let mut st = vec![0usize; rows + 1];
            for &q in &pos {
                st[q as usize / width + 1] += 1;
            }
            for r in 0..rows {
                st[r + 1] += st[r];
                any[r] |= st[r + 1] > st[r];
            }
            crashed[l] = pos.into_iter().map(|q| q % width as u32).collect();
            starts[l] = st;
        }
        Self {
            crashed,
            starts,
            any,
        }
    }

    /// Crashed neurons of layer `l` in block row `r`.
    #[inline]
    fn of(&self, l: usize, r: usize) -> &[u32] {
        match self.starts[l].as_slice() {
            [] => &[],
            st => &self.crashed[l][st[r]..st[r + 1]],
        }
    }

    /// Zeroes the crashed neurons of layer `l` in stacked rows `y` (row j is block row
    /// `active[j]`).
    #[inline]
    fn mask(&self, y: &mut [f32], width: usize, active: &[usize], l: usize) {
        if self.starts[l].is_empty() {
            return;
        }
        for (j, &r) in active.iter().enumerate() {
            let row = &mut y[j * width..(j + 1) * width];
            for &c in self.of(l, r) {
                row[c as usize] = 0.0;
            }
        }
    }
}
