//! Monte Carlo estimate of Δ = ŷ − y on [`Sequential`] networks (SPEC §3, crash sites §11,
//! work levers §14), with the guarantees of the MLP engine ([`crate::MonteCarlo`]): seeded,
//! streaming (memory independent of R), the same numbers whatever the thread count, mean /
//! std / standard error per input and output.
//!
//! Every element of crash site s (SPEC §11: the input, every activation's output, the output)
//! crashes — outputs 0, survivors not rescaled — independently with probability p_s; at the
//! input only the elements allowed by the crash mask may crash.
//!
//! Devices: the network's tensors may live on any candle device; the crash positions are drawn
//! on the host from the seeded streams below and uploaded as masks/indices to the network's
//! device, so a CPU and a GPU run with the same seed crash the same elements and agree within
//! float tolerance.
//!
//! How the work is cut:
//! * the N·R (input, repetition) rows run in the MLP engine's blocks of
//!   [`crate::montecarlo::BLOCK_ROWS`] rows, block b drawing its crash positions from its own
//!   ChaCha8 stream ([`crate::crash::block_rng`]), site after site in increasing order, by
//!   geometric skipping ([`crate::crash::sample_crashes`]);
//! * a repetition in which nothing crashes has Δ = 0 and costs nothing (at p = 1e-4 on a
//!   28×28 input, 92 % of repetitions);
//! * the clean network up to the first crashing site s₀ is computed once per input: a crashed
//!   row starts from the clean tensor at s₀ with its crashed elements zeroed;
//! * the crashed rows of a block go through the rest of the network as one batch
//!   ([`Sequential::forward_from_site`]), later sites multiplied by their 0/1 masks;
//! * when a skip connection (`add`) spans s₀, the clean tensor entering the skip's source
//!   layer is kept per input from the same clean pass and given to every crashed row of that
//!   input ([`Sequential::forward_from_site_with_skips`]): nothing before s₀ crashes.

use crate::crash::{block_rng, sample_crashes};
use crate::error::{ModelError, Result};
use crate::failure::FailureVector;
use crate::montecarlo::{group_by_input, stream_blocks, DeltaStats};
use crate::seq::Sequential;
use candle_core::{DType, Tensor};

/// A configured Monte Carlo run on a [`Sequential`] network. Build with
/// [`SeqMonteCarlo::new`], set options, call [`SeqMonteCarlo::run`].
#[derive(Debug, Clone)]
pub struct SeqMonteCarlo<'a> {
    net: &'a Sequential,
    p: FailureVector,
    /// Input positions that may crash (all when `None`), increasing.
    input_allowed: Option<Vec<u32>>,
    repetitions: usize,
    seed: u64,
}

impl<'a> SeqMonteCarlo<'a> {
    /// A run on `net` with one crash probability per site (checked against the number of
    /// sites); defaults: 10 000 repetitions, seed 0, every input element crashable.
    pub fn new(net: &'a Sequential, p: FailureVector) -> Result<Self> {
        check_sites(net, &p)?;
        Ok(Self {
            net,
            p,
            input_allowed: None,
            repetitions: 10_000,
            seed: 0,
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
    /// Restricts input crashes to the elements where `mask` (one example's input, flattened
    /// row-major) is 1; entries must be 0 or 1.
    pub fn crash_mask(mut self, mask: &[f32]) -> Result<Self> {
        self.input_allowed = Some(allowed_positions(self.net, mask)?);
        Ok(self)
    }

    /// Total rows N·R a run on `n_inputs` inputs evaluates (for progress bars).
    pub fn total_rows(&self, n_inputs: usize) -> u64 {
        (n_inputs * self.repetitions) as u64
    }

    /// Runs on a batch `[N, *input_shape]` without progress reporting.
    pub fn run(&self, x: &Tensor) -> Result<DeltaStats> {
        self.run_with_progress(x, |_| {})
    }

    /// Runs, calling `progress(rows_done)` after each chunk of blocks.
    pub fn run_with_progress(
        &self,
        x: &Tensor,
        progress: impl Fn(u64) + Sync,
    ) -> Result<DeltaStats> {
        if self.repetitions == 0 {
            return Err(ModelError::ZeroRepetitions);
        }
        let plan = SeqPlan::new(self.net, &self.p, self.input_allowed.as_deref(), x)?;
        let reps = self.repetitions;
        stream_blocks(plan.n, reps, plan.n_out, progress, |b, rows| {
            let crashed = plan.sample(b as u64, &rows, reps, self.seed);
            let active: Vec<usize> = crashed.iter().map(|c| c.row).collect();
            let deltas = plan.deltas(&crashed)?;
            Ok(group_by_input(&rows, reps, &active, &deltas, plan.n_out))
        })
    }
}

/// Checks one probability per crash site.
pub(crate) fn check_sites(net: &Sequential, p: &FailureVector) -> Result<()> {
    let n_sites = net.sites().len();
    if p.len() != n_sites {
        return Err(ModelError::SiteCount {
            expected: n_sites,
            got: p.len(),
        });
    }
    Ok(())
}

/// The input positions where a 0/1 crash mask is 1.
pub(crate) fn allowed_positions(net: &Sequential, mask: &[f32]) -> Result<Vec<u32>> {
    let size = net.sites()[0].size;
    crate::error::check_len("crash mask", mask.len(), size, "one example's input shape")?;
    let mut allowed = Vec::new();
    for (i, &m) in mask.iter().enumerate() {
        if m == 1.0 {
            allowed.push(i as u32);
        } else if m != 0.0 {
            return Err(ModelError::Shape {
                what: format!("crash mask entry {i}"),
                expected: "0 or 1".into(),
                got: m.to_string(),
            });
        }
    }
    Ok(allowed)
}

/// The crash positions of one crashed row: `sites[j]` = (site, sorted element indices).
pub(crate) struct CrashedRow {
    /// Block-relative row index.
    pub row: usize,
    /// Input index.
    pub input: usize,
    /// Crashed elements per site (sites in increasing order, only those with crashes).
    pub sites: Vec<(usize, Vec<u32>)>,
}

/// What a block needs that does not depend on the crash pattern.
pub(crate) struct SeqPlan<'a> {
    net: &'a Sequential,
    p: &'a [f64],
    allowed: Option<&'a [u32]>,
    /// Number of inputs and outputs.
    pub n: usize,
    pub n_out: usize,
    /// First crashing site (None: nothing can crash).
    s0: Option<usize>,
    /// Clean tensor at s₀, `[N, size_{s₀}]` flattened.
    at_s0: Vec<f32>,
    /// Clean outputs `[N, n_out]`.
    y_out: Vec<f32>,
    /// Clean tensors `[N, *shape]` entering the layers [`Sequential::site_skip_inputs`]`(s₀)`
    /// (empty unless a skip connection spans s₀).
    skips: Vec<Tensor>,
}

impl<'a> SeqPlan<'a> {
    pub(crate) fn new(
        net: &'a Sequential,
        p: &'a FailureVector,
        allowed: Option<&'a [u32]>,
        x: &Tensor,
    ) -> Result<Self> {
        check_sites(net, p)?;
        let sites = net.sites();
        let n = x.dims().first().copied().unwrap_or(0);
        if n == 0 {
            return Err(ModelError::NoInputs);
        }
        let p = p.as_slice();
        let can_crash = |s: usize| p[s] > 0.0 && (s > 0 || allowed.is_none_or(|a| !a.is_empty()));
        let s0 = (0..sites.len()).find(|&s| can_crash(s));
        let skip_layers = s0.map(|s| net.site_skip_inputs(s)).unwrap_or_default();
        let (trace, skips) = net.forward_trace_with_inputs(x, &skip_layers)?;
        let flat = |t: &Tensor| -> Result<Vec<f32>> {
            Ok(t.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?)
        };
        let y_out = flat(trace.last().expect("a network has an output site"))?;
        let n_out = y_out.len() / n;
        let at_s0 = match s0 {
            Some(s) => flat(&trace[s])?,
            None => Vec::new(),
        };
        Ok(Self {
            net,
            p,
            allowed,
            n,
            n_out,
            s0,
            at_s0,
            y_out,
            skips,
        })
    }

    /// The crashed rows of block `b` (rows `rows`, row t = input·R + repetition).
    pub(crate) fn sample(
        &self,
        b: u64,
        rows: &std::ops::Range<usize>,
        reps: usize,
        seed: u64,
    ) -> Vec<CrashedRow> {
        let Some(s0) = self.s0 else {
            return Vec::new();
        };
        let sites = self.net.sites();
        let mut rng = block_rng(seed, b);
        let mut out = Vec::new();
        let mut pos = Vec::new();
        for (r, t) in rows.clone().enumerate() {
            let mut crashed = Vec::new();
            for s in s0..sites.len() {
                if self.p[s] <= 0.0 {
                    continue;
                }
                pos.clear();
                match (s, self.allowed) {
                    (0, Some(allowed)) => {
                        sample_crashes(&mut rng, self.p[0], allowed.len(), &mut pos);
                        for v in pos.iter_mut() {
                            *v = allowed[*v as usize];
                        }
                    }
                    _ => sample_crashes(&mut rng, self.p[s], sites[s].size, &mut pos),
                }
                if !pos.is_empty() {
                    crashed.push((s, pos.clone()));
                }
            }
            if !crashed.is_empty() {
                out.push(CrashedRow {
                    row: r,
                    input: t / reps,
                    sites: crashed,
                });
            }
        }
        out
    }

    /// Δ `[rows.len(), n_out]` of crashed rows: one batched pass from s₀ with every row's
    /// crashed elements zeroed.
    pub(crate) fn deltas(&self, rows: &[CrashedRow]) -> Result<Vec<f32>> {
        let (Some(s0), false) = (self.s0, rows.is_empty()) else {
            return Ok(Vec::new());
        };
        let sites = self.net.sites();
        let a = rows.len();
        let size0 = sites[s0].size;
        let mut value = Vec::with_capacity(a * size0);
        for row in rows {
            value.extend_from_slice(&self.at_s0[row.input * size0..(row.input + 1) * size0]);
        }
        let mut masks: Vec<Option<Vec<f32>>> = vec![None; sites.len()];
        for (j, row) in rows.iter().enumerate() {
            for (s, pos) in &row.sites {
                if *s == s0 {
                    let v = &mut value[j * size0..(j + 1) * size0];
                    pos.iter().for_each(|&i| v[i as usize] = 0.0);
                } else {
                    let size = sites[*s].size;
                    let m = masks[*s].get_or_insert_with(|| vec![1f32; a * size]);
                    let m = &mut m[j * size..(j + 1) * size];
                    pos.iter().for_each(|&i| m[i as usize] = 0.0);
                }
            }
        }
        let device = self.net.device();
        let shaped = |v: Vec<f32>, s: usize| -> Result<Tensor> {
            let mut dims = vec![a];
            dims.extend_from_slice(&sites[s].shape);
            Ok(Tensor::from_vec(v, dims, device)?)
        };
        let value = shaped(value, s0)?;
        let masks: Vec<Option<Tensor>> = masks
            .into_iter()
            .enumerate()
            .map(|(s, m)| m.map(|m| shaped(m, s)).transpose())
            .collect::<Result<_>>()?;
        let skips = if self.skips.is_empty() {
            Vec::new()
        } else {
            let idx: Vec<u32> = rows.iter().map(|r| r.input as u32).collect();
            let idx = Tensor::from_vec(idx, a, device)?;
            self.skips
                .iter()
                .map(|t| t.index_select(&idx, 0))
                .collect::<candle_core::Result<Vec<_>>>()?
        };
        let y = self
            .net
            .forward_from_site_with_skips(s0, &value, &masks, &skips)?
            .to_dtype(DType::F32)?
            .flatten_all()?
            .to_vec1::<f32>()?;
        let n_out = self.n_out;
        let mut d = y;
        for (j, row) in rows.iter().enumerate() {
            let clean = &self.y_out[row.input * n_out..(row.input + 1) * n_out];
            d[j * n_out..(j + 1) * n_out]
                .iter_mut()
                .zip(clean)
                .for_each(|(v, &c)| *v -= c);
        }
        Ok(d)
    }
}
