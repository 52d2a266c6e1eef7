"""Known vectors for the runtime's on-target tests (test/test_runtime/ of emulated-board
projects), each from a reference independent of the C: the PyPI crc and cobs packages, numpy,
and TFLite's requantization in Python integers."""
from __future__ import annotations

import numpy as np

from edgeopt.codegen.literals import f32
from edgeopt.ops.linear import pack_dense
from edgeopt.simulator.reference import tflite_requantize


def runtime_vectors(seed: int = 0) -> dict:
    from cobs import cobs

    from edgeopt.hil.protocol import crc16

    rng = np.random.default_rng(seed)
    crc_data = [bytes(rng.integers(0, 256, n, dtype=np.uint8)) for n in (1, 7, 64, 300)]
    cobs_data = [b"", b"\0", b"\x11\0\0\x22", bytes(range(1, 256)) + b"\0\x05", bytes(rng.integers(0, 256, 40, dtype=np.uint8))]
    x = np.float32(np.concatenate([np.linspace(-9.5, 9.5, 39), [0.0, 1e-6, -1e-6, 30.0, -30.0]]))
    requantize = [(int(a), int(m), int(s)) for a, m, s in zip(
        rng.integers(-2 ** 24, 2 ** 24, 24), rng.integers(2 ** 30, 2 ** 31 - 1, 24), rng.integers(-12, 2, 24))]
    requantize += [(2 ** 31 - 1, 2 ** 31 - 1, 0), (-2 ** 31, 2 ** 30, -1), (7, 1518500250, -1), (-7, 1518500250, -1)]
    w = rng.standard_normal((11, 8)).astype(np.float32)
    bias = rng.standard_normal(11).astype(np.float32)
    inputs = rng.standard_normal((2, 8)).astype(np.float32)
    return dict(
        crc=[dict(bytes=", ".join(str(b) for b in d), length=len(d), crc=crc16(d)) for d in crc_data],
        cobs=[dict(bytes=", ".join(str(b) for b in d) or "0", length=len(d),
                   encoded=", ".join(str(b) for b in cobs.encode(d)), encoded_length=len(cobs.encode(d)))
              for d in cobs_data],
        activations=[dict(x=f32(v), tanh=f32(np.tanh(np.float64(v))), sigmoid=f32(1 / (1 + np.exp(-np.float64(v)))))
                     for v in x],
        requantize=[dict(acc=a, multiplier=m, shift=s, expected=tflite_requantize(a, m, s)) for a, m, s in requantize],
        dense=dict(weights=", ".join(f32(v) for v in pack_dense(w)), bias=", ".join(f32(v) for v in bias),
                   x=", ".join(f32(v) for v in inputs.reshape(-1)),
                   y=", ".join(f32(v) for v in (inputs.astype(np.float64) @ w.T.astype(np.float64) + bias).reshape(-1)),
                   rows=2, outs=11, ins=8),
    )
