"""The numpy reference of sinkhorn_newton_sparse (float64): the same log-domain Sinkhorn
steps (eta rising at first) and sparsified, Levenberg-Marquardt-shifted Newton steps, with numpy's dense
linear algebra for the Newton system,
plus the entropic objective and the test problems."""
from __future__ import annotations

import numpy as np
from scipy.special import logsumexp


def objective(p, cost, eta):
    """<C, P> + (1/eta) sum P log P."""
    p = np.asarray(p, np.float64)
    positive = p > 0
    return float(np.sum(cost * p) + np.sum(p[positive] * np.log(p[positive])) / eta)


def marginal_error(p, r, c):
    p = np.asarray(p, np.float64)
    return float(np.abs(p.sum(1) - r).sum() + np.abs(p.sum(0) - c).sum())


def solve(cost, r, c, config):
    """(P, newton_steps) by the same method, in float64."""
    eta, n, m = config.eta, config.n, config.m
    x, y = np.zeros(n), np.zeros(m)

    def plan(x, y):
        return np.exp(eta * (x[:, None] + y[None, :] - cost) - 1)

    def sinkhorn(x, y, eta):
        x = (np.log(r) + 1 - logsumexp(eta * (y[None, :] - cost), axis=1)) / eta
        y = (np.log(c) + 1 - logsumexp(eta * (x[:, None] - cost), axis=0)) / eta
        return x, y

    def dual(x, y):
        return float(r @ x + c @ y - plan(x, y).sum() / eta)

    for step_eta in warm_start_etas(cost, config):
        x, y = sinkhorn(x, y, step_eta)
    newton, damping = 0, 0.01
    for newton in range(config.max_newton_steps):
        p = plan(x, y)
        if marginal_error(p, r, c) <= config.tolerance:
            break
        grad = np.concatenate([r - p.sum(1), c - p.sum(0)])
        kept = np.where(p >= np.sort(p, axis=None)[-min(config.capacity, p.size)], p, 0)
        hessian = eta * np.block([[np.diag(p.sum(1)), kept], [kept.T, np.diag(p.sum(0))]])
        start, error = dual(x, y), marginal_error(p, r, c)
        shift = damping * eta * np.linalg.norm(grad)  # Levenberg-Marquardt, as the C solver
        step = np.linalg.solve(hessian + shift * np.eye(n + m), grad)
        slope, predicted = grad @ step, grad @ step - step @ hessian @ step / 2
        alpha, ratio = 1.0, (dual(x + step[:n], y + step[n:]) - start) / predicted
        for _ in range(20):  # the backtracking line search
            trial_x, trial_y = x + alpha * step[:n], y + alpha * step[n:]
            trial_error = marginal_error(plan(trial_x, trial_y), r, c)
            if dual(trial_x, trial_y) >= start + 1e-4 * alpha * slope or trial_error < 0.5 * error:
                break
            alpha /= 2
        else:
            break  # no ascent: the C solver falls back to Sinkhorn steps here
        if ratio > 0.75 or (alpha == 1 and trial_error < 0.25 * error):
            damping = max(damping / 2, 1e-8)
        elif ratio < 0.25:
            damping *= 4
        x, y = trial_x, trial_y
    return plan(x, y), newton


def warm_start_etas(cost, config, spread_at_start=50.0):
    """The first Sinkhorn steps' eta: rising geometrically over three quarters of them from
    spread_at_start over the spread of the reduced costs, then at eta (the C solver's schedule)."""
    reduced = cost - cost.min(1, keepdims=True)
    spread = float((reduced - reduced.min(0, keepdims=True)).max())
    start = spread_at_start / spread if spread * config.eta > spread_at_start else config.eta
    rising = 3 * config.sinkhorn_steps // 4
    return [start * (config.eta / start) ** (k / rising) if k < rising else config.eta
            for k in range(config.sinkhorn_steps)]


def random_assignment(n, m=None, seed=0):
    """C uniform in [0, 1): the random-assignment costs of the paper's Table 1."""
    m = m or n
    rng = np.random.default_rng(seed)
    return rng.random((n, m)), np.full(n, 1 / n), np.full(m, 1 / m)


def point_clouds(n, m=None, seed=0):
    """Squared distances between two Gaussian point clouds in 2-D, scaled to [0, 1]."""
    m = m or n
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal((n, 2)), rng.standard_normal((m, 2)) + 0.5
    cost = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
    weights_r, weights_c = rng.random(n) + 0.5, rng.random(m) + 0.5
    return cost / cost.max(), weights_r / weights_r.sum(), weights_c / weights_c.sum()
