#!/usr/bin/env python3
"""Peer baseline for ftnn's criterion benches: the same workloads in PyTorch (CPU) and NumPy.

Prints one JSON document on stdout (progress goes to stderr):

    {"meta": {...}, "results": [{"workload", "impl", "unit", "median_s", "throughput",
                                 "throughput_unit", "reps", "times_s"}, ...],
     "checks": [{"name", "value", "tolerance", "ok"}, ...]}

`workload` is the criterion benchmark id of the ftnn bench it mirrors (group/function[/value]),
so `cargo xtask bench-peers` can pair them. Functions match ftnn's: hidden activation
sigmoid(4 z) (ftnn's `sigmoid` with K = 1), linear output layer, crashed neurons output 0 and
nothing is rescaled; weights N(0, 2/n_in), biases N(0, 1) (ftnn's `Init::Paper`); seeds differ.
See benches/peers/README.md.

    python benches/peers/peers.py [--threads N] [--quick] [--only montecarlo,bounds,epoch,hessian,cnn]
"""

import argparse
import copy
import gzip
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import warnings

import numpy as np
import torch
import torch.func as tf

warnings.filterwarnings("ignore", category=FutureWarning)  # torch.func's jit deprecation notice

P = 0.01  # crash probability of the benches
MC_INPUTS, MC_REPS = 8, 2048
BOUND_INPUTS = 1000
HESSIAN_SIZES = [784, 1500, 100, 10]
HESSIAN_SAMPLES = 10
DECAY_SAMPLES = 10_000

RESULTS = []
CHECKS = []


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Timing and bookkeeping
# ---------------------------------------------------------------------------------------------


def measure(fn, reps, warmup=1):
    """Median wall time of `fn()` over `reps` calls after `warmup` calls (time.perf_counter)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times


def record(workload, impl, fn, reps, elements=None, unit="s", warmup=1):
    """Times `fn` and appends a result; `elements` per call gives a throughput in `unit`/s."""
    med, times = measure(fn, reps, warmup)
    thr = elements / med if elements else 1.0 / med
    RESULTS.append(
        {
            "workload": workload,
            "impl": impl,
            "unit": unit,
            "median_s": med,
            "throughput": thr,
            "throughput_unit": f"{unit}/s" if elements else "1/s",
            "reps": reps,
            "times_s": times,
        }
    )
    log(f"  {workload:<48} {impl:<26} {med * 1e3:10.2f} ms  {thr:12.4g} {unit}/s")
    return med


def check(name, value, tolerance):
    """Records a numerical check: `value` (an error measure) must be ≤ `tolerance`."""
    ok = bool(np.isfinite(value) and value <= tolerance)
    CHECKS.append({"name": name, "value": float(value), "tolerance": tolerance, "ok": ok})
    log(f"  check {name}: {value:.3g} (≤ {tolerance:g}) {'ok' if ok else 'FAILED'}")


def rel_err(a, b):
    a, b = torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-300))


# ---------------------------------------------------------------------------------------------
# Networks: a list of (W [n_out, n_in], W^T contiguous, b) per layer
# ---------------------------------------------------------------------------------------------


class Net:
    def __init__(self, sizes, gen, dtype=torch.float32):
        self.sizes = list(sizes)
        self.w, self.b = [], []
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            w = torch.randn(n_out, n_in, generator=gen, dtype=torch.float64) * (2.0 / n_in) ** 0.5
            b = torch.randn(n_out, generator=gen, dtype=torch.float64)
            self.w.append(w.to(dtype))
            self.b.append(b.to(dtype))
        self.wt = [w.t().contiguous() for w in self.w]
        self.np_wt = [w.numpy() for w in self.wt]
        self.np_b = [b.numpy() for b in self.b]

    @property
    def depth(self):  # L: number of affine layers
        return len(self.w)

    def to(self, dtype):
        other = object.__new__(Net)
        other.sizes = self.sizes
        other.w = [w.to(dtype) for w in self.w]
        other.b = [b.to(dtype) for b in self.b]
        other.wt = [w.t().contiguous() for w in other.w]
        other.np_wt = [w.numpy() for w in other.wt]
        other.np_b = [b.numpy() for b in other.b]
        return other


def act(z):
    """ftnn's sigmoid, K = 1: σ(4z)."""
    return torch.sigmoid(4.0 * z)


def act_(z):
    """σ(4z) in place."""
    return z.mul_(4.0).sigmoid_()


def act_d1(s):
    """φ'(z) from s = σ(4z)."""
    return 4.0 * s * (1.0 - s)


def act_d2(s):
    """φ''(z) from s = σ(4z)."""
    return 16.0 * s * (1.0 - s) * (1.0 - 2.0 * s)


def np_act_(z):
    """σ(4z) in place, NumPy."""
    np.multiply(z, -4.0, out=z)
    np.exp(z, out=z)
    z += 1.0
    np.reciprocal(z, out=z)
    return z


def forward(net, x, start=1, stop=None):
    """Layers start..stop (1-based, y_{start-1} = x), autograd-friendly (no in-place ops)."""
    stop = net.depth if stop is None else stop
    y = x
    for l in range(start, stop + 1):
        z = torch.addmm(net.b[l - 1], y, net.wt[l - 1])
        y = act(z) if l < net.depth else z
    return y


def tail_from_z2(net, z2):
    """y_L as a function of z_2 (the pre-activation of layer 2)."""
    y = act(z2)
    for l in range(3, net.depth + 1):
        z = torch.addmm(net.b[l - 1], y, net.wt[l - 1])
        y = act(z) if l < net.depth else z
    return y if net.depth >= 3 else z2  # depth 2: z2 is the output


def name_of(sizes):
    return "-".join(str(s) for s in sizes)


def uniform_inputs(n, gen, dtype=torch.float32):
    return torch.rand(n, 784, generator=gen, dtype=torch.float64).to(dtype)


# ---------------------------------------------------------------------------------------------
# Monte Carlo: crashed forward passes (crates/model/benches/montecarlo.rs)
# ---------------------------------------------------------------------------------------------


def mc_naive_torch(net, x, reps, p):
    """Inputs repeated R times, the full masked forward, a Bernoulli mask per crashing layer."""
    y = x.repeat_interleave(reps, 0)
    for l in range(1, net.depth + 1):
        z = torch.addmm(net.b[l - 1], y, net.wt[l - 1])
        y = act_(z) if l < net.depth else z
        if p[l] > 0:
            y.masked_fill_(torch.rand_like(y) < p[l], 0.0)
    return y


def first_crashing(p):
    return next(l for l, v in enumerate(p) if v > 0)


def mc_prefix_torch(net, x, reps, p):
    """The crash-free prefix up to the first crashing layer once per input, then repeated."""
    l0 = first_crashing(p)
    y = x
    for l in range(1, l0 + 1):
        y = act_(torch.addmm(net.b[l - 1], y, net.wt[l - 1]))
    y = y.repeat_interleave(reps, 0)
    y.masked_fill_(torch.rand_like(y) < p[l0], 0.0)
    for l in range(l0 + 1, net.depth + 1):
        z = torch.addmm(net.b[l - 1], y, net.wt[l - 1])
        y = act_(z) if l < net.depth else z
        if p[l] > 0:
            y.masked_fill_(torch.rand_like(y) < p[l], 0.0)
    return y


def mc_prefix_numpy(net, x, reps, p, rng):
    """The prefix-sharing forward in NumPy (float32, Generator.random masks)."""
    l0 = first_crashing(p)
    y = x
    for l in range(1, l0 + 1):
        y = np_act_(y @ net.np_wt[l - 1] + net.np_b[l - 1])
    y = np.repeat(y, reps, axis=0)
    y *= rng.random(y.shape, dtype=np.float32) >= p[l0]
    for l in range(l0 + 1, net.depth + 1):
        z = y @ net.np_wt[l - 1]
        z += net.np_b[l - 1]
        y = np_act_(z) if l < net.depth else z
        if p[l] > 0:
            y *= rng.random(y.shape, dtype=np.float32) >= p[l]
    return y


def bench_montecarlo(reps, gen):
    rng = np.random.default_rng(1)
    rows = MC_INPUTS * MC_REPS
    for sizes in ([784, 100, 50, 10], [784, 1000, 100, 10]):
        net = Net(sizes, gen)
        x = uniform_inputs(MC_INPUTS, gen)
        xn = x.numpy()
        group = f"montecarlo/{name_of(sizes)}"
        p_h1 = [0.0] * len(sizes)
        p_h1[1] = P
        p_hidden = [0.0] + [P] * (len(sizes) - 2) + [0.0]
        with torch.no_grad():
            # The same crash probability gives the same crash rate in every implementation.
            y = mc_naive_torch(net, x, MC_REPS, p_h1)
            y2 = mc_prefix_torch(net, x, MC_REPS, p_h1)
            crash_free = forward(net, x)
            for impl, out in (("torch-naive", y), ("torch-prefix", y2)):
                # Rows whose output equals the crash-free output ≈ (1 − p)^{n_1}.
                same = (out.view(MC_INPUTS, MC_REPS, -1) - crash_free[:, None, :]).abs()
                frac = float((same.amax(-1) < 1e-5).double().mean())
                expect = (1 - P) ** sizes[1]
                check(f"{group}/h1 {impl}: crash-free fraction − (1−p)^n1", abs(frac - expect), 0.02)
            for label, p in (("h1", p_h1), ("hidden", p_hidden)):
                w = f"{group}/{label}"
                record(w, "torch-naive", lambda: mc_naive_torch(net, x, MC_REPS, p), reps, rows, "rows")
                record(w, "torch-prefix", lambda: mc_prefix_torch(net, x, MC_REPS, p), reps, rows, "rows")
                record(w, "numpy-prefix", lambda: mc_prefix_numpy(net, xn, MC_REPS, p, rng), reps, rows, "rows")
            # The FLOP-rate yardstick: the plain GEMMs of one forward pass over the same rows.
            big = (torch.arange(rows * sizes[0]) % 7).float().div_(7.0).view(rows, sizes[0])
            bign = big.numpy()

            def sgemm_torch():
                t = big
                for wt in net.wt:
                    t = torch.mm(t, wt)
                return t

            def sgemm_numpy():
                t = bign
                for wt in net.np_wt:
                    t = t @ wt
                return t

            record(f"{group}/sgemm", "torch-mm", sgemm_torch, reps, rows, "rows")
            record(f"{group}/sgemm", "numpy-matmul", sgemm_numpy, reps, rows, "rows")


# ---------------------------------------------------------------------------------------------
# Bounds b3, b5, b4 (crates/bounds/benches/bounds.rs), p = 0.01 at hidden layer 1
# ---------------------------------------------------------------------------------------------


def hidden1(net, x):
    return act(torch.addmm(net.b[0], x, net.wt[0]))


def b3_moments(y1, jac, p):
    """jac [n_out, N, n_1] = ∂y_L/∂y_1 → (E Δ, std Δ) [N, n_out]."""
    t = jac * y1
    mean = -p * t.sum(-1).t()
    std = (p * (1 - p) * (t * t).sum(-1)).sqrt().t()
    return mean, std


def b3_grad_batched(net, x, p=P):
    """One batched backward: grad_outputs = the n_L unit vectors (is_grads_batched, vmap)."""
    y1 = hidden1(net, x).detach().requires_grad_(True)
    out = forward(net, y1, start=2)
    n_out = out.shape[1]
    eye = torch.eye(n_out, dtype=out.dtype)[:, None, :].expand(n_out, *out.shape)
    (jac,) = torch.autograd.grad(out, y1, eye, is_grads_batched=True)
    return b3_moments(y1.detach(), jac, p)


def b3_backward_loop(net, x, p=P):
    """n_L backward passes through one retained graph."""
    y1 = hidden1(net, x).detach().requires_grad_(True)
    out = forward(net, y1, start=2)
    jac = torch.stack(
        [
            torch.autograd.grad(out[:, k].sum(), y1, retain_graph=k + 1 < out.shape[1])[0]
            for k in range(out.shape[1])
        ]
    )
    return b3_moments(y1.detach(), jac, p)


def b3_func(net, x, p=P):
    """torch.func: vmap over inputs of jacrev of the per-input map y_1 ↦ y_L."""
    y1 = hidden1(net, x)

    def f(v):
        return forward(net, v[None, :], start=2)[0]

    jac = tf.vmap(tf.jacrev(f))(y1)  # [N, n_out, n_1]
    return b3_moments(y1, jac.permute(1, 0, 2), p)


def b5_second_term(net, y1, chunk=None):
    """Σ_i y_i² ∂²y_L/∂y_{1,i}² per input and output [N, n_L], by forward-over-forward
    (torch.func.jvp of jvp) along each neuron's direction. A crash of neuron i moves z_2 by
    t·W_2[:, i], so the directional derivatives are taken of z_2 ↦ y_L along the columns of W_2
    (the generic jvp along e_i would add an n_1 × n_1 × n_2 GEMM per input)."""
    n, n1 = y1.shape
    w2t = net.wt[1]  # [n_1, n_2]: row i = W_2[:, i]
    z2 = torch.addmm(net.b[1], y1, w2t)
    chunk = chunk or max(1, (1 << 22) // (n1 * w2t.shape[1]))

    def g(z):
        return tail_from_z2(net, z)

    out = []
    for s in range(0, n, chunk):
        zc = z2[s : s + chunk]
        c = zc.shape[0]
        zs = zc[:, None, :].expand(c, n1, zc.shape[1]).reshape(c * n1, -1).contiguous()
        u = w2t[None].expand(c, n1, w2t.shape[1]).reshape(c * n1, -1).contiguous()
        _, d2 = tf.jvp(lambda z: tf.jvp(g, (z,), (u,))[1], (zs,), (u,))
        yy = y1[s : s + chunk] ** 2
        out.append(torch.einsum("ci,cik->ck", yy, d2.view(c, n1, -1)))
    return torch.cat(out)


def b5_second_term_manual(net, y1):
    """The same sum with the tangents propagated by hand (what ftnn does): per input and
    neuron i, u' = ∂z/∂t and u'' = ∂²z/∂t² start at (W_2[:, i], 0) on z_2; through φ:
    (φ' u', φ'' u'² + φ' u''); through a linear layer: both multiplied by W."""
    n, n1 = y1.shape
    w2t = net.wt[1]
    z2 = torch.addmm(net.b[1], y1, w2t)
    n2 = w2t.shape[1]
    chunk = max(1, (1 << 22) // (n1 * n2))
    out = []
    for s in range(0, n, chunk):
        c = min(chunk, n - s)
        z = z2[s : s + c]
        u1 = w2t[None].expand(c, n1, n2)  # [c, n_1, n_2]
        u2 = None
        for m in range(2, net.depth):
            sg = act(z)
            d1, d2 = act_d1(sg)[:, None, :], act_d2(sg)[:, None, :]
            u2 = d2 * u1 * u1 if u2 is None else d2 * u1 * u1 + d1 * u2
            u1 = d1 * u1
            z = torch.addmm(net.b[m], sg, net.wt[m])
            u1 = torch.matmul(u1, net.wt[m])
            u2 = torch.matmul(u2, net.wt[m])
        yy = y1[s : s + c] ** 2
        out.append(torch.einsum("ci,cik->ck", yy, u2))
    return torch.cat(out)


def b5_second_term_summed(net, y1):
    """The same sum without per-neuron tangents (what ftnn does since issue 11): the sum over
    neurons moves inside, Σ_i y_i² ∂²y_L/∂y_{1,i}² = J_2 · (φ''(z_2) ⊙ (W_2 ⊙ W_2)(y_1 ⊙ y_1)),
    J_2 = ∂y_L/∂y_2 applied by one jvp. Exact when layer 2 is the last hidden layer (depth 3,
    both benchmark networks); deeper networks add terms for layers 3, … that this omits."""
    assert net.depth == 3, "the summed form here covers one hidden layer above the crashes"
    w2t = net.wt[1]
    s2 = act(torch.addmm(net.b[1], y1, w2t))
    c = act_d2(s2) * ((y1 * y1) @ (w2t * w2t))
    _, term = tf.jvp(lambda v: forward(net, v, start=3), (s2,), (c,))
    return term


def b5_summed(net, x, p=P):
    """b5 = b3 (batched grad) + ½ p Σ_i y_i² ∂²y_L/∂y_i² (summed form)."""
    mean, _ = b3_grad_batched(net, x, p)
    with torch.no_grad():
        y1 = hidden1(net, x)
        return mean + 0.5 * p * b5_second_term_summed(net, y1)


def b5_manual(net, x, p=P):
    """b5 = b3 (batched grad) + ½ p Σ_i y_i² ∂²y_L/∂y_i² (tangents by hand)."""
    mean, _ = b3_grad_batched(net, x, p)
    with torch.no_grad():
        y1 = hidden1(net, x)
        return mean + 0.5 * p * b5_second_term_manual(net, y1)


def b5_func(net, x, p=P):
    """b5 = b3 (batched grad) + ½ p Σ_i y_i² ∂²y_L/∂y_i² (forward-over-forward)."""
    mean, _ = b3_grad_batched(net, x, p)
    with torch.no_grad():
        y1 = hidden1(net, x)
    return mean + 0.5 * p * b5_second_term(net, y1)


def b4_effects_torch(net, x, chunk=None):
    """e_i = f(x with neuron i of layer 1 crashed) − f(x) for all i: [N, n_1, n_L], batched:
    z_2 − y_{1,i} W_2[:, i] for every i at once, in chunks of inputs."""
    y1 = hidden1(net, x)
    z2 = torch.addmm(net.b[1], y1, net.wt[1])
    base = tail_from_z2(net, z2)
    n, n1 = y1.shape
    n2 = z2.shape[1]
    chunk = chunk or max(1, (1 << 22) // (n1 * n2))
    for s in range(0, n, chunk):
        zc, yc = z2[s : s + chunk], y1[s : s + chunk]
        z = zc[:, None, :] - yc[:, :, None] * net.wt[1][None]
        yield s, tail_from_z2(net, z.view(-1, n2)).view(zc.shape[0], n1, -1) - base[
            s : s + chunk, None, :
        ]


def b4_torch(net, x, p=P):
    mean, var = [], []
    for _, e in b4_effects_torch(net, x):
        mean.append(p * e.sum(1))
        var.append(p * (1 - p) * (e * e).sum(1))
    return torch.cat(mean), torch.cat(var).sqrt()


def b4_numpy(net, x, p=P):
    wt, b = net.np_wt, net.np_b
    y1 = np_act_(x @ wt[0] + b[0])
    z2 = y1 @ wt[1] + b[1]

    def tail(z):
        y = np_act_(z)
        for l in range(3, net.depth + 1):
            z = y @ wt[l - 1]
            z += b[l - 1]
            y = np_act_(z) if l < net.depth else z
        return y

    base = tail(z2.copy())
    n, n1 = y1.shape
    n2 = z2.shape[1]
    chunk = max(1, (1 << 22) // (n1 * n2))
    mean = np.empty((n, base.shape[1]), np.float32)
    var = np.empty_like(mean)
    for s in range(0, n, chunk):
        zc, yc = z2[s : s + chunk], y1[s : s + chunk]
        z = zc[:, None, :] - yc[:, :, None] * wt[1][None]
        e = tail(z.reshape(-1, n2)).reshape(zc.shape[0], n1, -1) - base[s : s + chunk, None, :]
        mean[s : s + chunk] = p * e.sum(1)
        var[s : s + chunk] = p * (1 - p) * (e * e).sum(1)
    return mean, np.sqrt(var)


def validate_bounds(net, x):
    """On one input in float64: autograd b3 against central differences, the b5 second
    derivatives against second differences, b4's batched effects against explicit crashes."""
    n64 = net.to(torch.float64)
    x1 = x[:1].to(torch.float64)
    name = name_of(net.sizes)
    y1 = hidden1(n64, x1).detach()
    mean, std = b3_grad_batched(n64, x1)
    mean_loop, _ = b3_backward_loop(n64, x1)
    mean_func, std_func = b3_func(n64, x1)
    check(f"bounds/{name}: b3 backward-loop vs batched grad", rel_err(mean_loop, mean), 1e-12)
    check(f"bounds/{name}: b3 func.jacrev vs batched grad", rel_err(std_func, std), 1e-12)
    # E Δ = −p Σ y_i ∂f/∂y_i is −p times the derivative of f(y_1 (1 + t)) at t = 0.
    h = 1e-5

    def f(v):
        return forward(n64, v, start=2)

    fd_mean = -P * (f(y1 * (1 + h)) - f(y1 * (1 - h))) / (2 * h)
    check(f"bounds/{name}: b3 mean vs central difference", rel_err(mean, fd_mean), 1e-6)
    # Jacobian columns of five neurons by central differences.
    y1g = y1.clone().requires_grad_(True)
    out = f(y1g)
    eye = torch.eye(out.shape[1], dtype=out.dtype)[:, None, :]
    (jac,) = torch.autograd.grad(out, y1g, eye, is_grads_batched=True)
    idx = [0, 3, 17, net.sizes[1] // 2, net.sizes[1] - 1]
    fd, ad, fd2 = [], [], []
    for i in idx:
        e = torch.zeros_like(y1)
        e[0, i] = 1.0
        fp, fm, f0 = f(y1 + h * e), f(y1 - h * e), f(y1)
        fd.append(((fp - fm) / (2 * h))[0])
        ad.append(jac[:, 0, i])
        h2 = 1e-4
        fd2.append(((f(y1 + h2 * e) - 2 * f0 + f(y1 - h2 * e)) / h2**2)[0])
    check(f"bounds/{name}: ∂y_L/∂y_1 vs central differences", rel_err(torch.stack(ad), torch.stack(fd)), 1e-6)
    # b5: the second derivatives along e_i of the same neurons.
    w2t = n64.wt[1]
    z2 = torch.addmm(n64.b[1], y1, w2t)
    u = w2t[idx]
    _, d2 = tf.jvp(
        lambda z: tf.jvp(lambda v: tail_from_z2(n64, v), (z,), (u,))[1],
        (z2.expand(len(idx), -1).contiguous(),),
        (u,),
    )
    check(f"bounds/{name}: b5 ∂²y_L/∂y_1,i² vs second differences", rel_err(d2, torch.stack(fd2)), 1e-4)
    # The chunked b5 term against the same sum from second differences of every neuron (on
    # the small network only: n_1 + 1 forward passes).
    if net.sizes[1] <= 200:
        term = b5_second_term(n64, y1)
        f0 = f(y1)
        eye1 = torch.eye(net.sizes[1], dtype=torch.float64)
        h2 = 1e-4
        d2_all = (f(y1 + h2 * eye1) - 2 * f0 + f(y1 - h2 * eye1)) / h2**2
        direct = (y1[0, :, None] ** 2 * d2_all).sum(0)
        check(f"bounds/{name}: b5 Σ y_i² ∂²y_L/∂y_i² vs second differences", rel_err(term[0], direct), 1e-4)
    x4 = x[:4].to(torch.float64)
    y4 = hidden1(n64, x4)
    check(
        f"bounds/{name}: b5 tangents by hand vs func.jvp2",
        rel_err(b5_second_term_manual(n64, y4), b5_second_term(n64, y4)),
        1e-10,
    )
    check(
        f"bounds/{name}: b5 summed form vs func.jvp2",
        rel_err(b5_second_term_summed(n64, y4), b5_second_term(n64, y4)),
        1e-10,
    )
    # b4: explicit crashes of the same neurons.
    (_, eff), = list(b4_effects_torch(n64, x1))
    for j, i in enumerate(idx):
        yc = y1.clone()
        yc[0, i] = 0.0
        e = (f(yc) - f(y1))[0]
        fd[j] = e
    check(f"bounds/{name}: b4 batched effects vs explicit crashes", rel_err(eff[0, idx], torch.stack(fd)), 1e-9)
    # b4 and b3 estimate the same moments; how far apart they are (information).
    m4, s4 = b4_torch(n64, x1)
    CHECKS.append(
        {"name": f"bounds/{name}: |b4 − b3| / |b3| on the std (information)", "value": rel_err(s4, std), "tolerance": None, "ok": True}
    )
    # float32 NumPy against float32 torch.
    m_np, s_np = b4_numpy(net, x[:4].numpy())
    m_t, s_t = b4_torch(net, x[:4])
    check(f"bounds/{name}: b4 numpy vs torch (float32)", rel_err(torch.from_numpy(s_np), s_t), 1e-3)


def bench_bounds(reps, gen):
    for sizes in ([784, 200, 50, 10], [784, 1000, 100, 10]):
        net = Net(sizes, gen)
        x = uniform_inputs(BOUND_INPUTS, gen)
        xn = x.numpy()
        validate_bounds(net, x)
        group = f"bounds/{name_of(sizes)}"
        n = BOUND_INPUTS
        b3w = f"{group}/b3/1000 inputs"
        record(b3w, "torch-grad-batched", lambda: b3_grad_batched(net, x), reps, n, "inputs")
        record(b3w, "torch-backward-loop", lambda: b3_backward_loop(net, x), reps, n, "inputs")
        record(b3w, "torch-func-vmap-jacrev", lambda: b3_func(net, x), reps, n, "inputs")
        b5w = f"{group}/b5/1000 inputs"
        # Seconds per call on the large network and always slower than the tangents by hand:
        # at most 3 repetitions.
        record(b5w, "torch-grad+func-jvp2", lambda: b5_func(net, x), min(reps, 3), n, "inputs")
        record(b5w, "torch-grad+manual-tangents", lambda: b5_manual(net, x), reps, n, "inputs")
        record(b5w, "torch-grad+summed", lambda: b5_summed(net, x), reps, n, "inputs")
        with torch.no_grad():
            b4w = f"{group}/b4/single crashes"
            record(b4w, "torch-batched", lambda: b4_torch(net, x), reps, n * sizes[1], "crashes")
            record(b4w, "numpy-batched", lambda: b4_numpy(net, xn), reps, n * sizes[1], "crashes")


# ---------------------------------------------------------------------------------------------
# One MNIST epoch (crates/train/benches/epoch.rs)
# ---------------------------------------------------------------------------------------------


def read_idx(path, magic, header):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    got = int.from_bytes(raw[:4], "big")
    if got != magic:
        raise SystemExit(f"{path}: magic {got}, expected {magic} (a corrupt file? `cargo xtask data verify`)")
    return np.frombuffer(raw, dtype=np.uint8, offset=header)


def load_mnist_train(data_dir):
    d = Path(data_dir) / "mnist"
    img = read_idx(d / "train-images-idx3-ubyte.gz", 2051, 16).reshape(-1, 784)
    lab = read_idx(d / "train-labels-idx1-ubyte.gz", 2049, 8)
    if img.shape[0] != 60000 or lab.shape[0] != 60000:
        raise SystemExit(f"{d}: expected 60 000 training images and labels")
    x = torch.from_numpy(img.astype(np.float32) / 255.0)
    t = torch.zeros(60000, 10)
    t[torch.arange(60000), torch.from_numpy(lab.astype(np.int64))] = 1.0
    return x, t


def bench_epoch(reps, gen, data_dir):
    x, t = load_mnist_train(data_dir)
    n = x.shape[0]
    for sizes, batch in (([784, 100, 50, 10], 100), ([784, 1000, 100, 10], 1000)):
        net = Net(sizes, gen)
        params = []
        for w, b in zip(net.wt, net.b):
            params += [w.requires_grad_(True), b.requires_grad_(True)]
        opt = torch.optim.Adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-7)
        losses = []

        def epoch():
            perm = torch.randperm(n, generator=gen)
            total = 0.0
            for s in range(0, n, batch):
                idx = perm[s : s + batch]
                out = forward(net, x[idx])
                loss = ((out - t[idx]) ** 2).mean()  # Keras MSE: mean over outputs and batch
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += loss.detach()
            losses.append(float(total) / (n // batch))

        w = f"mnist_epoch/{name_of(sizes)}_batch{batch}"
        record(w, "torch-adam", epoch, reps, None, "epochs")
        check(f"{w}: training loss decreases over the timed epochs", losses[-1] - losses[0], 0.0)


# ---------------------------------------------------------------------------------------------
# Loss Hessian and D (crates/decay/benches/hessian.rs)
# ---------------------------------------------------------------------------------------------


def mse(out, t):
    """Keras MSE per sample: mean over outputs."""
    return ((out - t) ** 2).mean(-1)


def hessians_autograd(net, x, t):
    """torch.autograd.functional.hessian (vectorized) of the per-sample loss w.r.t. y_1."""
    y1 = hidden1(net, x)
    return [
        torch.autograd.functional.hessian(
            lambda v, s=s: mse(forward(net, v[None], start=2)[0], t[s]), y1[s], vectorize=True
        )
        for s in range(x.shape[0])
    ]


def hessians_func(net, x, t):
    """torch.func.hessian (forward-over-reverse), vmapped over the samples."""
    y1 = hidden1(net, x)

    def loss(v, ts):
        return mse(forward(net, v[None], start=2)[0], ts)

    return tf.vmap(tf.hessian(loss))(y1, t)


def hessians_analytic(net, x, t):
    """The recursion of crates/decay/src/hessian.rs, batched over samples (torch.bmm):
    H_{m−1} = W_mᵀ [diag(φ') H_m diag(φ') + diag(φ'' ⊙ g_m)] W_m."""
    ys = [x]
    for l in range(1, net.depth + 1):
        z = torch.addmm(net.b[l - 1], ys[-1], net.wt[l - 1])
        ys.append(act(z) if l < net.depth else z)
    n_out = ys[-1].shape[1]
    g = 2.0 * (ys[-1] - t) / n_out  # ∂L/∂y_L
    h = (2.0 / n_out) * torch.eye(n_out, dtype=x.dtype).expand(x.shape[0], n_out, n_out)
    for m in range(net.depth, 1, -1):
        if m < net.depth:
            s = ys[m]
            d1 = act_d1(s)
            h = h * d1[:, :, None] * d1[:, None, :] + torch.diag_embed(act_d2(s) * g)
            g = g * d1
        w = net.w[m - 1]  # [n_m, n_{m-1}]
        h = torch.matmul(w.t(), torch.matmul(h, w))
        g = g @ w
    return h


def hessian_stats(hs):
    diag = statistics.fmean(float(h.diagonal().abs().mean()) for h in hs)
    alls = statistics.fmean(float(h.abs().mean()) for h in hs)
    return diag, alls


def derivative_decay(net, x, t):
    """D = mean over samples of mean_i |∂L/∂y_{1,i}|: one batched forward and backward."""
    y1 = hidden1(net, x).detach().requires_grad_(True)
    loss = mse(forward(net, y1, start=2), t).sum()
    (g,) = torch.autograd.grad(loss, y1)
    return float(g.abs().mean())


def bench_hessian(reps, gen):
    net32 = Net(HESSIAN_SIZES, gen)
    net = net32.to(torch.float64)  # ftnn computes the Hessians in f64
    x32 = uniform_inputs(DECAY_SAMPLES, gen)
    labels = torch.randint(0, 10, (DECAY_SAMPLES,), generator=gen)
    t32 = torch.nn.functional.one_hot(labels, 10).float()
    xs, ts = x32[:HESSIAN_SAMPLES].double(), t32[:HESSIAN_SAMPLES].double()
    # Validation: the three Hessians agree; the analytic gradient matches autograd.
    ha = hessians_autograd(net, xs, ts)
    hf = hessians_func(net, xs, ts)
    hn = hessians_analytic(net, xs, ts)
    check("decay: H autograd.functional vs analytic recursion", rel_err(torch.stack(ha), hn), 1e-10)
    check("decay: H torch.func.hessian vs analytic recursion", rel_err(hf, hn), 1e-10)
    # Rows of H against central differences of the autograd gradient (sample 0, three rows).
    y1 = hidden1(net, xs[:1]).detach()

    def grad_at(v):
        v = v.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(mse(forward(net, v, start=2), ts[:1]).sum(), v)
        return g[0]

    hh = 1e-5
    rows, fd = [0, 700, HESSIAN_SIZES[1] - 1], []
    for i in rows:
        e = torch.zeros_like(y1)
        e[0, i] = hh
        fd.append((grad_at(y1 + e) - grad_at(y1 - e)) / (2 * hh))
    check("decay: rows of H vs central differences of the gradient", rel_err(hn[0, rows], torch.stack(fd)), 1e-6)
    d_diag, d_all = hessian_stats(hn)
    CHECKS.append({"name": "decay: H_diag, H_all (information)", "value": [d_diag, d_all], "tolerance": None, "ok": True})
    w = "decay_784_1500_100_10/hessian_stats/10"
    record(w, "torch-autograd-hessian", lambda: hessian_stats(hessians_autograd(net, xs, ts)), reps, HESSIAN_SAMPLES, "samples")
    record(w, "torch-func-hessian", lambda: hessian_stats(hessians_func(net, xs, ts)), reps, HESSIAN_SAMPLES, "samples")
    record(w, "torch-analytic-bmm", lambda: hessian_stats(hessians_analytic(net, xs, ts)), reps, HESSIAN_SAMPLES, "samples")
    w = "decay_784_1500_100_10/derivative_decay/10000"
    record(w, "torch-autograd", lambda: derivative_decay(net32, x32, t32), reps, DECAY_SAMPLES, "samples")


# ---------------------------------------------------------------------------------------------


def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


# ---------------------------------------------------------------------------------------------
# CNN Monte Carlo on the shipped MNIST CNN (crates/model/benches/seq_montecarlo.rs)
# ---------------------------------------------------------------------------------------------

CNN_INPUTS, CNN_REPS = 4, 256


def mnist_cnn(data_dir):
    """data/models/mnist-cnn.pth as the nn.Sequential of data/models/mnist-cnn.arch.json."""
    sd = torch.load(Path(data_dir) / "models" / "mnist-cnn.pth", map_location="cpu", weights_only=True)
    conv = [torch.nn.Conv2d(1, 32, 3, padding=1), torch.nn.Conv2d(32, 64, 3, padding=1), torch.nn.Conv2d(64, 128, 3, padding=1)]
    fc = [torch.nn.Linear(1152, 256), torch.nn.Linear(256, 10)]
    with torch.no_grad():
        for m, key in zip(conv + fc, ["conv_layers.0", "conv_layers.3", "conv_layers.6", "fc_layers.0", "fc_layers.2"]):
            m.weight.copy_(sd[f"{key}.weight"])
            m.bias.copy_(sd[f"{key}.bias"])
    # Crash sites (SPEC §11): the input, every ReLU's output, the output.
    stages = [
        torch.nn.Sequential(conv[0], torch.nn.ReLU()),
        torch.nn.Sequential(torch.nn.MaxPool2d(2), conv[1], torch.nn.ReLU()),
        torch.nn.Sequential(torch.nn.MaxPool2d(2), conv[2], torch.nn.ReLU()),
        torch.nn.Sequential(torch.nn.MaxPool2d(2), torch.nn.Flatten(), fc[0], torch.nn.ReLU()),
        torch.nn.Sequential(fc[1]),
    ]
    return [m.eval() for m in stages]


def cnn_masked_forward(stages, x, p, gen):
    """The naive masked forward: a Bernoulli(1 − p_s) mask on every element of every crashing
    site, the whole network on every row."""
    def crash(t, ps):
        if ps <= 0:
            return t
        keep = torch.rand(t.shape, generator=gen) >= ps
        return t * keep
    t = crash(x, p[0])
    for s, stage in enumerate(stages, start=1):
        t = crash(stage(t), p[s])
    return t


def cnn_forward(stages, x):
    t = x
    for stage in stages:
        t = stage(t)
    return t


def cnn_b3_batched(stages, x, p=P):
    """b3 at the input: one batched backward over the n_out unit vectors (is_grads_batched)."""
    x = x.detach().requires_grad_(True)
    y = cnn_forward(stages, x)
    n_out = y.shape[1]
    eye = torch.eye(n_out)[:, None, :].expand(n_out, y.shape[0], n_out)
    (g,) = torch.autograd.grad(y, x, grad_outputs=eye, is_grads_batched=True)
    d = (g * x.detach()).flatten(2)  # [n_out, N, size]
    return (-p * d.sum(-1)).t(), (p * (1 - p) * (d * d).sum(-1)).sqrt().t()


def cnn_b3_loop(stages, x, p=P):
    """b3 at the input: n_out backward passes through one retained graph."""
    x = x.detach().requires_grad_(True)
    y = cnn_forward(stages, x)
    means, stds = [], []
    for k in range(y.shape[1]):
        (g,) = torch.autograd.grad(y[:, k].sum(), x, retain_graph=True)
        d = (g * x.detach()).flatten(1)
        means.append(-p * d.sum(-1))
        stds.append((p * (1 - p) * (d * d).sum(-1)).sqrt())
    return torch.stack(means, 1), torch.stack(stds, 1)


def bench_cnn(reps, gen, data_dir):
    stages = mnist_cnn(data_dir)
    d = Path(data_dir) / "mnist"
    img = read_idx(d / "t10k-images-idx3-ubyte.gz", 2051, 16).reshape(-1, 1, 28, 28)[:CNN_INPUTS]
    lab = read_idx(d / "t10k-labels-idx1-ubyte.gz", 2049, 8)[:CNN_INPUTS]
    x = torch.from_numpy((img.astype(np.float32) / 255.0 - 0.1307) / 0.3081)
    rows = CNN_INPUTS * CNN_REPS
    xr = x.repeat_interleave(CNN_REPS, 0)
    group = "seq_montecarlo/mnist-cnn"
    with torch.no_grad():
        clean = cnn_masked_forward(stages, x, [0.0] * 6, gen)
        check(f"{group}: the 4 test digits classified as labelled", float((clean.argmax(1).numpy() != lab).sum()), 0)
        for label, p in (("input", [P] + [0.0] * 5), ("every", [P] * 6)):
            record(f"{group}/{label}", "torch-naive", lambda: cnn_masked_forward(stages, xr, p, gen), reps, rows, "rows")
        record(f"{group}/clean_forward", "torch-forward", lambda: cnn_masked_forward(stages, xr, [0.0] * 6, gen), reps, rows, "rows")
    # b3 at the input for 100 digits (crates/bounds/benches/seq_bounds.rs).
    img = read_idx(d / "t10k-images-idx3-ubyte.gz", 2051, 16).reshape(-1, 1, 28, 28)[:100]
    xb = torch.from_numpy((img.astype(np.float32) / 255.0 - 0.1307) / 0.3081)
    m1, s1 = cnn_b3_batched(stages, xb)
    m2, s2 = cnn_b3_loop(stages, xb)
    check("seq_bounds/mnist-cnn: b3 backward-loop vs batched grad", max(rel_err(m2, m1), rel_err(s2, s1)), 1e-5)
    # E Δ = −p Σ x_i ∂f/∂x_i = −p d/dt f(x(1 + t)) at t = 0, in float64 on one digit.
    s64 = [copy.deepcopy(st).double() for st in stages]
    x64 = xb[:1].double()
    h = 1e-6
    with torch.no_grad():
        fd = (cnn_forward(s64, x64 * (1 + h)) - cnn_forward(s64, x64 * (1 - h))) / (2 * h)
    m64, _ = cnn_b3_batched(s64, x64)
    check("seq_bounds/mnist-cnn: b3 mean vs central difference", rel_err(m64[0], -P * fd[0]), 1e-6)
    w = "seq_bounds/mnist-cnn/b3/input p=0.01, 100 digits"
    record(w, "torch-grad-batched", lambda: cnn_b3_batched(stages, xb), reps, 100, "inputs")
    record(w, "torch-backward-loop", lambda: cnn_b3_loop(stages, xb), reps, 100, "inputs")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="torch.set_num_threads (default: all cores)")
    ap.add_argument("--quick", action="store_true", help="fewer repetitions")
    ap.add_argument("--reps", type=int, help="repetitions per workload (default 7, --quick 3; epochs 5 / 2)")
    ap.add_argument("--only", default="montecarlo,bounds,epoch,hessian,cnn", help="comma-separated workloads")
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "data"), help="ftnn's data/ directory")
    ap.add_argument("--output", help="also write the JSON document to this file")
    a = ap.parse_args()
    only = [s.strip() for s in a.only.split(",") if s.strip()]
    unknown = set(only) - {"montecarlo", "bounds", "epoch", "hessian", "cnn"}
    if unknown:
        ap.error(f"unknown workload(s) {sorted(unknown)}")
    torch.set_num_threads(a.threads)
    reps = a.reps or (3 if a.quick else 7)
    epoch_reps = a.reps or (2 if a.quick else 5)
    gen = torch.Generator().manual_seed(0)
    log(f"peers.py: torch {torch.__version__}, numpy {np.__version__}, {a.threads} thread(s), reps {reps}")
    started = time.time()
    if "montecarlo" in only:
        bench_montecarlo(reps, gen)
    if "bounds" in only:
        bench_bounds(reps, gen)
    if "epoch" in only:
        bench_epoch(epoch_reps, gen, a.data)
    if "hessian" in only:
        bench_hessian(reps, gen)
    if "cnn" in only:
        bench_cnn(reps, gen, a.data)
    doc = {
        "meta": {
            "torch": torch.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
            "threads": a.threads,
            "torch_threads": torch.get_num_threads(),
            "cpu": cpu_model(),
            "quick": a.quick,
            "reps": reps,
            "epoch_reps": epoch_reps,
            "only": only,
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "wall_s": time.time() - started,
        },
        "results": RESULTS,
        "checks": CHECKS,
    }
    text = json.dumps(doc, indent=1)
    if a.output:
        Path(a.output).write_text(text + "\n")
    print(text)
    failed = [c["name"] for c in CHECKS if not c["ok"]]
    if failed:
        log(f"peers.py: {len(failed)} check(s) failed: {failed}")
        sys.exit(3)


if __name__ == "__main__":
    main()
