"""The numpy reference of fw_dictionary (float64): the authors' NoncvxSFW / SFW steps with
polar factors from numpy's SVD, and the recovery metric."""
from __future__ import annotations

import numpy as np


def initial_dictionary(dim: int, seed: int) -> np.ndarray:
    """The seeded orthogonal start: Q of the QR of a Gaussian matrix, signs fixed by R."""
    q, r = np.linalg.qr(np.random.default_rng(seed).standard_normal((dim, dim)))
    return q * np.sign(np.diag(r))


def polar(m: np.ndarray) -> np.ndarray:
    u, _, vh = np.linalg.svd(m)
    return u @ vh


def recovery_error(a: np.ndarray, d0: np.ndarray) -> float:
    """|sum((A D0)^4) / n - 1|: 0 when A D0 is a signed permutation."""
    return float(abs(np.sum((np.asarray(a, np.float64) @ d0) ** 4) / d0.shape[0] - 1))


def step(schedule, t: int) -> float:
    scale, offset, power = schedule
    return scale / (t + offset) ** power


class FrankWolfeDictionary:
    def __init__(self, config, a0=None):
        self.config = config
        self.a = initial_dictionary(config.dim, config.seed) if a0 is None else np.array(a0, np.float64)
        self.g = np.zeros((config.dim, config.dim))
        self.t = 0

    def update(self, y: np.ndarray) -> None:
        """y: (b, n), one sample per row."""
        c = self.config
        y = np.asarray(y, np.float64).T
        ay = self.a @ y
        h = ay ** 3 if c.p == 4 else np.abs(ay) * ay
        rho, gamma = step(c.rho, self.t), step(c.gamma, self.t)
        self.g = (1 - rho) * self.g + rho * (h @ y.T) / y.shape[1]
        self.a = (1 - gamma) * self.a + gamma * polar(self.g)
        if c.variant == "nonconvex":
            self.a = polar(self.a)
        self.t += 1

    def dictionary(self) -> np.ndarray:
        return self.a if self.config.variant == "nonconvex" else polar(self.a)

    def fit(self, samples: np.ndarray) -> np.ndarray:
        """samples: (T, n), consumed as T / b mini-batches."""
        b = self.config.batch
        for start in range(0, len(samples) - b + 1, b):
            self.update(samples[start:start + b])
        return self.dictionary()


def synthetic_stream(dim, samples, theta=0.3, seed=0):
    """(D0, Y): D0 orthogonal (QR of a Gaussian), Y = (D0 X)^T with X Bernoulli(theta)-Gaussian."""
    rng = np.random.default_rng(seed)
    d0 = np.linalg.qr(rng.standard_normal((dim, dim)))[0]
    x = (rng.random((dim, samples)) < theta) * rng.standard_normal((dim, samples))
    return d0, (d0 @ x).T
