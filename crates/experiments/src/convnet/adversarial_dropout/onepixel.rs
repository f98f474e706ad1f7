//! The one-pixel attack by differential evolution (Su et al. 2019; original notebook
//! `AE_onepixel_mnist.ipynb`, scipy's `differential_evolution` with `maxiter = 75`, a population
//! of 100, `recombination = 1`, `atol = −1`, `polish = False`, stopping early once the image is
//! misclassified).
//!
//! **Differential evolution ([`differential_evolution`]).** Strategy best/1/bin as scipy's
//! default: a Latin-hypercube initial population in the bounds; each generation draws the
//! mutation factor F ~ U[0.5, 1) (scipy's dithering `mutation = (0.5, 1)`), and for each member
//! i a trial `best + F·(x_r1 − x_r2)` with r1 ≠ r2 distinct members other than i; with
//! recombination 1 every coordinate comes from the trial; a coordinate outside its bounds is
//! redrawn uniformly inside them (scipy's rule). The trial replaces member i when its fitness
//! is ≤ member i's. Unlike scipy's default `updating = "immediate"`, the best member is updated
//! once per generation (scipy's `"deferred"`), so that a generation is one batched forward pass.
//! After each generation `stop(best)` may end the search (the notebook's callback). Seeded.
//!
//! **One-pixel attack ([`one_pixel_attack`]).** A candidate `(row, col, value)` in
//! `[0, H) × [0, W) × [0, 256)` sets pixel ⌊row⌋, ⌊col⌋ (every channel) to ⌊value⌋/255; the
//! fitness is the network's probability of the true class (minimised); the search stops once
//! the attacked image's argmax differs from the true class. Reported: the confidence drop
//! `P(true | x) − P(true | x')` and whether the attack succeeded.

use super::fgsm::outputs;
use ftnn_model::Sequential;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Settings of the differential evolution.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DeParams {
    /// Population size (≥ 4: best/1 needs the member and two others).
    pub population: usize,
    /// Generations after the initial one.
    pub max_iter: usize,
    /// Lower end of the dithered mutation factor.
    pub mutation_lo: f64,
    /// Upper end of the dithered mutation factor.
    pub mutation_hi: f64,
}

impl DeParams {
    /// The notebook's settings: population 100, 75 generations, F ~ U[0.5, 1).
    pub fn notebook() -> Self {
        Self {
            population: 100,
            max_iter: 75,
            mutation_lo: 0.5,
            mutation_hi: 1.0,
        }
    }

    /// Refuses settings outside their domain.
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.population >= 4,
            "differential evolution: population {} must be ≥ 4",
            self.population
        );
        anyhow::ensure!(
            self.mutation_lo.is_finite()
                && self.mutation_hi.is_finite()
                && 0.0 <= self.mutation_lo
                && self.mutation_lo <= self.mutation_hi,
            "differential evolution: mutation range [{}, {}] must be finite with 0 ≤ lo ≤ hi",
            self.mutation_lo,
            self.mutation_hi
        );
        Ok(())
    }
}

/// The outcome of a search.
#[derive(Debug, Clone, PartialEq)]
pub struct DeResult {
    /// The best member found.
    pub best: Vec<f64>,
    /// Its fitness.
    pub fitness: f64,
    /// Generations run (≤ `max_iter`; fewer when `stop` ended the search).
    pub generations: usize,
    /// Fitness evaluations.
    pub evaluations: usize,
}

/// Minimises `fitness` over the box `bounds` (module docs). `fitness(pop)` returns one value
/// per member; `stop(best)` is asked after every generation.
pub fn differential_evolution<F, S>(
    bounds: &[(f64, f64)],
    params: &DeParams,
    seed: u64,
    mut fitness: F,
    mut stop: S,
) -> anyhow::Result<DeResult>
where
    F: FnMut(&[Vec<f64>]) -> anyhow::Result<Vec<f64>>,
    S: FnMut(&[f64]) -> anyhow::Result<bool>,
{
    params.validate()?;
    anyhow::ensure!(!bounds.is_empty(), "differential evolution: no dimensions");
    anyhow::ensure!(
        bounds
            .iter()
            .all(|(a, b)| a.is_finite() && b.is_finite() && a <= b),
        "differential evolution: bounds must be finite with lo ≤ hi"
    );
    let np = params.population;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    // Latin hypercube: in each dimension one member per stratum of width 1/np, shuffled.
    let mut pop = vec![vec![0.0; bounds.len()]; np];
    for (d, &(lo, hi)) in bounds.iter().enumerate() {
        let mut strata: Vec<usize> = (0..np).collect();
        strata.shuffle(&mut rng);
        for (m, &s) in strata.iter().enumerate() {
            let u = (s as f64 + rng.random::<f64>()) / np as f64;
            pop[m][d] = lo + (hi - lo) * u;
        }
    }
    let check = |f: Vec<f64>, n: usize| -> anyhow::Result<Vec<f64>> {
        anyhow::ensure!(f.len() == n, "fitness returned {} values for {n}", f.len());
        Ok(f.into_iter()
            .map(|v| if v.is_nan() { f64::INFINITY } else { v })
            .collect())
    };
    let mut fit = check(fitness(&pop)?, np)?;
    let mut evaluations = np;
    let argmin = |f: &[f64]| {
        let mut b = 0;
        for (i, v) in f.iter().enumerate() {
            if *v < f[b] {
                b = i;
            }
        }
        b
    };
    let mut best = argmin(&fit);
    let mut generations = 0;
    if stop(&pop[best])? {
        return Ok(DeResult {
            best: pop[best].clone(),
            fitness: fit[best],
            generations,
            evaluations,
        });
    }
    for _ in 0..params.max_iter {
        let f =
            params.mutation_lo + (params.mutation_hi - params.mutation_lo) * rng.random::<f64>();
        let trials: Vec<Vec<f64>> = (0..np)
            .map(|i| {
                let mut pick = || loop {
                    let r = rng.random_range(0..np);
                    if r != i {
                        break r;
                    }
                };
                let r1 = pick();
                let r2 = loop {
                    let r = pick();
                    if r != r1 {
                        break r;
                    }
                };
                bounds
                    .iter()
                    .enumerate()
                    .map(|(d, &(lo, hi))| {
                        let v = pop[best][d] + f * (pop[r1][d] - pop[r2][d]);
                        if (lo..=hi).contains(&v) {
                            v
                        } else {
                            lo + (hi - lo) * rng.random::<f64>()
                        }
                    })
                    .collect()
            })
            .collect();
        let tf = check(fitness(&trials)?, np)?;
        evaluations += np;
        for (i, t) in trials.into_iter().enumerate() {
            if tf[i] <= fit[i] {
                pop[i] = t;
                fit[i] = tf[i];
            }
        }
        best = argmin(&fit);
        generations += 1;
        if stop(&pop[best])? {
            break;
        }
    }
    Ok(DeResult {
        best: pop[best].clone(),
        fitness: fit[best],
        generations,
        evaluations,
    })
}

/// `image` (one example, `[C, H, W]` flattened) with pixel (⌊row⌋, ⌊col⌋) of every channel set
/// to ⌊value⌋/255; coordinates are clamped into the image and the value into [0, 255].
pub fn perturb(image: &[f32], shape: &[usize], candidate: &[f64]) -> Vec<f32> {
    let (c, h, w) = (shape[0], shape[1], shape[2]);
    let r = (candidate[0].floor().max(0.0) as usize).min(h - 1);
    let q = (candidate[1].floor().max(0.0) as usize).min(w - 1);
    let v = candidate[2].floor().clamp(0.0, 255.0) as f32 / 255.0;
    let mut out = image.to_vec();
    for ch in 0..c {
        out[ch * h * w + r * w + q] = v;
    }
    out
}

/// One image's attack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PixelAttack {
    /// Test image index.
    pub index: usize,
    /// True class.
    pub label: u32,
    /// P(true class) before the attack.
    pub prior: f64,
    /// P(true class) after it.
    pub after: f64,
    /// Whether the clean image was classified correctly.
    pub clean_correct: bool,
    /// Whether the attacked image is misclassified.
    pub misclassified: bool,
    /// The pixel `(row, col, value 0..255)` chosen.
    pub pixel: (usize, usize, u8),
    /// Generations run.
    pub generations: usize,
}

/// The one-pixel attack of the module docs on one image `[C, H, W]` (flattened) of class
/// `label`; `net` must output probabilities (end in softmax).
pub fn one_pixel_attack(
    net: &Sequential,
    image: &[f32],
    index: usize,
    label: u32,
    params: &DeParams,
    seed: u64,
) -> anyhow::Result<PixelAttack> {
    let shape = net.input_shape().to_vec();
    anyhow::ensure!(
        shape.len() == 3 && image.len() == shape.iter().product::<usize>(),
        "one-pixel attack: the network's input must be [C, H, W] and the image fit it"
    );
    let k = net.n_outputs();
    anyhow::ensure!(
        (label as usize) < k,
        "one-pixel attack: label {label} ≥ {k} outputs"
    );
    let bounds = [(0.0, shape[1] as f64), (0.0, shape[2] as f64), (0.0, 256.0)];
    let prob = |cands: &[Vec<f64>]| -> anyhow::Result<Vec<Vec<f32>>> {
        let x: Vec<f32> = cands
            .iter()
            .flat_map(|c| perturb(image, &shape, c))
            .collect();
        Ok(outputs(net, &x)?
            .chunks_exact(k)
            .map(<[f32]>::to_vec)
            .collect())
    };
    let argmax = |r: &[f32]| {
        let mut b = 0;
        for (i, v) in r.iter().enumerate() {
            if *v > r[b] {
                b = i;
            }
        }
        b as u32
    };
    let clean = outputs(net, image)?;
    let res = differential_evolution(
        &bounds,
        params,
        seed,
        |c| Ok(prob(c)?.iter().map(|r| r[label as usize] as f64).collect()),
        |b| Ok(argmax(&prob(&[b.to_vec()])?[0]) != label),
    )?;
    let after = prob(std::slice::from_ref(&res.best))?.remove(0);
    let px = perturb(image, &shape, &res.best);
    let r = (res.best[0].floor().max(0.0) as usize).min(shape[1] - 1);
    let q = (res.best[1].floor().max(0.0) as usize).min(shape[2] - 1);
    Ok(PixelAttack {
        index,
        label,
        prior: clean[label as usize] as f64,
        after: after[label as usize] as f64,
        clean_correct: argmax(&clean) == label,
        misclassified: argmax(&after) != label,
        pixel: (r, q, (px[r * shape[2] + q] * 255.0).round() as u8),
        generations: res.generations,
    })
}
