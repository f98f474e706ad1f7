//! One backward pass through the network: vector–Jacobian products through the layers,
//! batched over inputs (SPEC §4: the first-order Taylor bounds b3; also the derivative-decay
//! metric D of SPEC §8 and the analytic training step).
//!
//! For any scalar functions f of the network's outputs (one per column or row of `g`), with
//! `z_l = W_l y_{l−1} + b_l` and `y_l = φ(z_l) ⊙ m_l` (φ the identity at the output layer L):
//!
//! ```text
//! ∂f/∂z_l     = ∂f/∂y_l ⊙ φ'(z_l) (⊙ m_l)       the caller's `scale` (nothing at a linear output)
//! ∂f/∂y_{l−1} = (∂f/∂z_l) W_l                   one GEMM per layer, G_{l−1} = (G_l ⊙ φ'(z_l)) W_l
//! ∂f/∂W_l     = (∂f/∂z_l)ᵀ y_{l−1},  ∂f/∂b_l = Σ_rows ∂f/∂z_l     the caller's `at_z`
//! ```
//!
//! [`walk`] is the only implementation of this recursion. It walks l = from, from−1, …: at each
//! layer it hands `∂f/∂y_l` to `at_y`, turns it into `∂f/∂z_l` by `scale`, hands that to `at_z`
//! and maps it to `∂f/∂y_{l−1}` by the layer's vector–Jacobian product `vjp`, until the
//! [`Stop`]. Two layouts share it:
//!
//! * rows ([`Mlp::backward_rows`]): `G` is `[rows, n_l]`, one row per (input, function);
//!   the step is `G W_l` ([`crate::mlp::backward_rows`]);
//! * columns ([`Mlp::backward_cols`]): `Gᵀ` is `[n_l, cols]`, which keeps the GEMM's inner
//!   dimension long when there are many functions per input (b3); the step is `W_lᵀ Gᵀ`.
//!
//! The caller supplies φ′ (and crash masks, if any) in `scale`: the bounds and D compute φ′
//! from z, the training step from φ(z) with masks applied, and keeping that in the caller keeps
//! every floating-point operation where it was. The training step trains weights that are
//! not an [`Mlp`]; it calls [`walk`] with its own `vjp` (the same row-layout GEMM).
//!
//! A future network of other operations (a `Sequential` of convolutions, poolings, …) walks
//! the same way: [`walk`] only needs, per layer, the vector–Jacobian product of its linear
//! operation (`vjp`), the elementwise derivative of its nonlinearity (`scale`) and whatever
//! the caller collects (`at_z`, `at_y`); such a network supplies per-op vjps in place of the
//! dense GEMM.

use crate::error::ModelError;
use crate::mlp::Mlp;

/// Where a backward [`walk`] ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// After handing `∂f/∂y_s` to `at_y`; the walk returns it (`Y(0)`: the input gradient).
    Y(usize),
    /// After handing `∂f/∂z_s` to `at_z` (s ≥ 1), without the GEMM to y_{s−1}; the walk
    /// returns `∂f/∂z_s`. Training stops at `Z(1)`: it needs no input gradient.
    Z(usize),
}

/// The backward recursion of SPEC §4 from `g = ∂f/∂y_from` down to `stop`: for
/// l = from, from−1, …, calls `at_y(l, ∂f/∂y_l)`; then (unless the walk stops at y_l) turns
/// g into `∂f/∂z_l` in place by `scale(l, g)`, calls `at_z(l, ∂f/∂z_l)` and (unless it stops at
/// z_l) maps g to `∂f/∂y_{l−1} = vjp(l, g)`. Returns the last g. `vjp(l, g)` is the
/// vector–Jacobian product of layer l's linear map, in whatever layout g is stored.
///
/// # Panics
/// If the stop lies above `from` or is `Z(0)` (there is no z_0).
pub fn walk<E: From<ModelError>>(
    mut g: Vec<f32>,
    from: usize,
    stop: Stop,
    mut scale: impl FnMut(usize, &mut [f32]),
    mut at_z: impl FnMut(usize, &[f32]) -> Result<(), E>,
    mut at_y: impl FnMut(usize, &[f32]) -> Result<(), E>,
    mut vjp: impl FnMut(usize, Vec<f32>) -> Result<Vec<f32>, E>,
) -> Result<Vec<f32>, E> {
    let (s, at_z_end) = match stop {
        Stop::Y(s) => (s, false),
        Stop::Z(s) => (s, true),
    };
    assert!(
        s <= from,
        "a backward walk from layer {from} cannot stop at {stop:?}"
    );
    assert!(s >= 1 || !at_z_end, "there is no pre-activation z_0");
    let mut l = from;
    loop {
        at_y(l, &g)?;
        if l == s && !at_z_end {
            return Ok(g);
        }
        scale(l, &mut g);
        at_z(l, &g)?;
        if l == s {
            return Ok(g);
        }
        g = vjp(l, g)?;
        l -= 1;
    }
}

impl Mlp {
    /// [`walk`] in row layout: `g` is `[rows, n_from]` (row-major), one row per (input,
    /// function); each layer's step is one GEMM `G W_l` (`[rows, n_l] × [n_l, n_{l−1}]`).
    /// `scale`, `at_z` and `at_y` see `[rows, n_l]` slices.
    #[allow(clippy::too_many_arguments)]
    pub fn backward_rows<E: From<ModelError>>(
        &self,
        g: Vec<f32>,
        rows: usize,
        from: usize,
        stop: Stop,
        scale: impl FnMut(usize, &mut [f32]),
        at_z: impl FnMut(usize, &[f32]) -> Result<(), E>,
        at_y: impl FnMut(usize, &[f32]) -> Result<(), E>,
    ) -> Result<Vec<f32>, E> {
        walk(g, from, stop, scale, at_z, at_y, |l, g| {
            Ok(self.layers()[l - 1].backward_rows(g, rows)?)
        })
    }

    /// [`walk`] in column layout: `gt` is `Gᵀ`, `[n_from, cols]` (row-major), one column per
    /// (input, function); each layer's step is one GEMM `W_lᵀ Gᵀ` (`[n_{l−1}, n_l] × [n_l,
    /// cols]`). `scale` and `at_y` see `[n_l, cols]` slices. No `at_z`: nothing in column
    /// layout needs weight gradients.
    pub fn backward_cols<E: From<ModelError>>(
        &self,
        gt: Vec<f32>,
        cols: usize,
        from: usize,
        stop: Stop,
        scale: impl FnMut(usize, &mut [f32]),
        at_y: impl FnMut(usize, &[f32]) -> Result<(), E>,
    ) -> Result<Vec<f32>, E> {
        walk(
            gt,
            from,
            stop,
            scale,
            |_, _| Ok(()),
            at_y,
            |l, g| Ok(self.layers()[l - 1].backward_cols(g, cols)?),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Activation, Init};
    use rand::SeedableRng;

    type R = Result<(), ModelError>;

    /// φ'(z) for the hidden layers of a trace, `[rows, n_l]`.
    fn phi_prime(net: &Mlp, z: &[f32]) -> Vec<f32> {
        let (mut d1, mut d2) = (vec![0f32; z.len()], vec![0f32; z.len()]);
        net.activation()
            .derivatives_f32(z, net.k_lips() as f32, &mut d1, &mut d2);
        d1
    }

    /// Both layouts against central finite differences of the f64 reference forward pass:
    /// ∂(c·y_L)/∂y_l for every layer l (at_y) and ∂(c·y_L)/∂z_l, ∂/∂W_l, ∂/∂b_l (at_z).
    #[test]
    fn matches_finite_differences() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        for act in [Activation::Tanh, Activation::Sigmoid, Activation::Softplus] {
            let sizes = [3usize, 5, 4, 2];
            let net = Mlp::init(&sizes, act, 1.2, Init::Paper, &mut rng).unwrap();
            let rows = 2;
            let x: Vec<f32> = (0..rows * 3).map(|i| (i as f32 * 0.37).sin()).collect();
            let c = [0.7f32, -1.3];
            let trace = net.forward_trace(&x, rows).unwrap();
            let big_l = net.output_layer();
            let g0: Vec<f32> = (0..rows).flat_map(|_| c).collect();
            // Row layout: record ∂/∂y_l, ∂/∂z_l and ∂/∂W_l.
            let mut dy = vec![Vec::new(); big_l + 1];
            let mut dw = vec![Vec::new(); big_l + 1];
            let g_in = net
                .backward_rows::<ModelError>(
                    g0.clone(),
                    rows,
                    big_l,
                    Stop::Y(0),
                    |l, g| {
                        if l < big_l {
                            let d = phi_prime(&net, &trace.z[l]);
                            g.iter_mut().zip(&d).for_each(|(v, a)| *v *= a);
                        }
                    },
                    |l, g| {
                        // ∂/∂W_l[o, i] = Σ_rows g[r, o] y_{l−1}[r, i].
                        let (n_l, n_p) = (sizes[l], sizes[l - 1]);
                        let mut w = vec![0f32; n_l * n_p];
                        for r in 0..rows {
                            for o in 0..n_l {
                                for i in 0..n_p {
                                    w[o * n_p + i] += g[r * n_l + o] * trace.y[l - 1][r * n_p + i];
                                }
                            }
                        }
                        dw[l] = w;
                        Ok(())
                    },
                    |l, g| {
                        dy[l] = g.to_vec();
                        Ok(())
                    },
                )
                .unwrap();
            assert_eq!(g_in, dy[0]);
            // Column layout: the same derivatives, transposed.
            let mut dy_cols = vec![Vec::new(); big_l + 1];
            let gt0: Vec<f32> = c.iter().flat_map(|&v| vec![v; rows]).collect();
            net.backward_cols::<ModelError>(
                gt0,
                rows,
                big_l,
                Stop::Y(0),
                |l, gt| {
                    if l < big_l {
                        let d = phi_prime(&net, &trace.z[l]);
                        let n_l = sizes[l];
                        for i in 0..n_l {
                            for r in 0..rows {
                                gt[i * rows + r] *= d[r * n_l + i];
                            }
                        }
                    }
                },
                |l, gt| {
                    dy_cols[l] = gt.to_vec();
                    Ok(())
                },
            )
            .unwrap();
            // f(y_l) = c · y_L with y_l perturbed: forward the rest of the network in f64.
            let rest = |l: usize, y: &[f64]| -> f64 {
                let mut y = y.to_vec();
                for m in l + 1..=big_l {
                    let d = &net.layers()[m - 1];
                    y = (0..d.n_out())
                        .map(|o| {
                            let z = d.bias()[o] as f64
                                + (0..d.n_in())
                                    .map(|i| d.weight()[o * d.n_in() + i] as f64 * y[i])
                                    .sum::<f64>();
                            if m == big_l {
                                z
                            } else {
                                act.apply_f64(z, net.k_lips())
                            }
                        })
                        .collect();
                }
                y.iter().zip(&c).map(|(a, &b)| a * b as f64).sum()
            };
            let h = 1e-4;
            let close = |a: f32, b: f64, what: &str| {
                assert!(
                    (a as f64 - b).abs() < 1e-3 * (1.0 + b.abs()),
                    "{act:?} {what}: {a} vs {b}"
                );
            };
            for r in 0..rows {
                // The f64 layer values of input r.
                let mut ys = vec![trace.y[0][r * 3..(r + 1) * 3]
                    .iter()
                    .map(|&v| v as f64)
                    .collect::<Vec<_>>()];
                for m in 1..=big_l {
                    let full: Vec<f64> = ys[m - 1].clone();
                    let d = &net.layers()[m - 1];
                    let zs: Vec<f64> = (0..d.n_out())
                        .map(|o| {
                            d.bias()[o] as f64
                                + (0..d.n_in())
                                    .map(|i| d.weight()[o * d.n_in() + i] as f64 * full[i])
                                    .sum::<f64>()
                        })
                        .collect();
                    ys.push(if m == big_l {
                        zs
                    } else {
                        zs.iter().map(|&z| act.apply_f64(z, net.k_lips())).collect()
                    });
                }
                for l in 0..=big_l {
                    let n_l = sizes[l];
                    for i in 0..n_l {
                        let (mut up, mut down) = (ys[l].clone(), ys[l].clone());
                        up[i] += h;
                        down[i] -= h;
                        let fd = (rest(l, &up) - rest(l, &down)) / (2.0 * h);
                        close(dy[l][r * n_l + i], fd, &format!("dy[{l}][{r},{i}]"));
                        close(dy_cols[l][i * rows + r], fd, &format!("dyᵀ[{l}][{i},{r}]"));
                    }
                }
            }
            // ∂/∂W_l by finite differences of the summed f over the rows, on a perturbed copy.
            for l in 1..=big_l {
                let (n_l, n_p) = (sizes[l], sizes[l - 1]);
                for idx in [0, n_l * n_p / 2, n_l * n_p - 1] {
                    let f = |delta: f32| -> f64 {
                        let mut layers = net.layers().to_vec();
                        let d = &layers[l - 1];
                        let mut w = d.weight().to_vec();
                        w[idx] += delta;
                        layers[l - 1] = crate::Dense::new(w, d.bias().to_vec(), n_l, n_p).unwrap();
                        let net2 = Mlp::new(layers, act, net.k_lips()).unwrap();
                        (0..rows)
                            .map(|r| {
                                let xr: Vec<f64> =
                                    x[r * 3..(r + 1) * 3].iter().map(|&v| v as f64).collect();
                                let y = net2.forward_f64(&xr, None);
                                y.iter().zip(&c).map(|(a, &b)| a * b as f64).sum::<f64>()
                            })
                            .sum()
                    };
                    let hw = 1e-2f32;
                    let fd = (f(hw) - f(-hw)) / (2.0 * hw as f64);
                    close(dw[l][idx], fd, &format!("dW[{l}][{idx}]"));
                }
            }
        }
    }

    /// The stops by hand on the 2 → 2 → 1 ReLU net of `mlp::tests` at x = (1, 2):
    /// z_1 = (−1, 3.5), W_2 = (3, −2), W_1 = [[1, −1], [0.5, 2]].
    #[test]
    fn stops_by_hand() {
        let l1 = crate::Dense::new(vec![1.0, -1.0, 0.5, 2.0], vec![0.0, -1.0], 2, 2).unwrap();
        let l2 = crate::Dense::new(vec![3.0, -2.0], vec![0.5], 1, 2).unwrap();
        let net = Mlp::new(vec![l1, l2], Activation::Relu, 1.0).unwrap();
        let trace = net.forward_trace(&[1.0, 2.0], 1).unwrap();
        let relu = |l: usize, g: &mut [f32]| {
            if l == 1 {
                g.iter_mut()
                    .zip(&trace.z[1])
                    .for_each(|(v, &z)| *v *= if z > 0.0 { 1.0 } else { 0.0 });
            }
        };
        let ok = |_: usize, _: &[f32]| -> R { Ok(()) };
        // ∂y_2/∂y_1 = W_2 = (3, −2).
        let g = net
            .backward_rows(vec![1.0], 1, 2, Stop::Y(1), relu, ok, ok)
            .unwrap();
        assert_eq!(g, vec![3.0, -2.0]);
        // ∂y_2/∂z_1 = (0, −2).
        let g = net
            .backward_rows(vec![1.0], 1, 2, Stop::Z(1), relu, ok, ok)
            .unwrap();
        assert_eq!(g, vec![0.0, -2.0]);
        // ∂y_2/∂x = (0, −2) W_1 = (−1, −4), in both layouts.
        let g = net
            .backward_rows(vec![1.0], 1, 2, Stop::Y(0), relu, ok, ok)
            .unwrap();
        assert_eq!(g, vec![-1.0, -4.0]);
        let g = net
            .backward_cols(vec![1.0], 1, 2, Stop::Y(0), relu, ok)
            .unwrap();
        assert_eq!(g, vec![-1.0, -4.0]);
        // Y(2) from 2: only at_y(2), g unchanged.
        let mut seen = Vec::new();
        let g = net
            .backward_rows(vec![1.0], 1, 2, Stop::Y(2), relu, ok, |l, _| -> R {
                seen.push(l);
                Ok(())
            })
            .unwrap();
        assert_eq!((g, seen), (vec![1.0], vec![2]));
    }
}
