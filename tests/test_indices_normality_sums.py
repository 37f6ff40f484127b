"""Mardia's sums by the third-moment tensor equal the direct N x N computation."""

import numpy as np
from dancerec.indices.normality import _d_sums


def _direct(xc, s_inv):
    d = xc @ s_inv @ xc.T
    return float(np.sum(d**3)), float(np.sum(np.diag(d) ** 2))


def test_tensor_route_matches_direct_sums():
    rng = np.random.default_rng(7)
    x = rng.integers(1, 6, size=(900, 12)).astype(float) + rng.normal(size=(900, 1))
    xc = x - x.mean(axis=0)
    s_inv = np.linalg.inv(xc.T @ xc / (len(x) - 1))
    cube, diag2 = _d_sums(xc, s_inv, block=256)  # 144 < 900: tensor route, several blocks
    ref = _direct(xc, s_inv)
    assert abs(cube - ref[0]) < 1e-10 * abs(ref[0])
    assert abs(diag2 - ref[1]) < 1e-10 * abs(ref[1])


def test_block_route_matches_direct_sums():
    rng = np.random.default_rng(8)
    x = rng.normal(size=(60, 10)) ** 3  # 100 >= 60: row-block route
    xc = x - x.mean(axis=0)
    s_inv = np.linalg.inv(xc.T @ xc / (len(x) - 1))
    cube, diag2 = _d_sums(xc, s_inv, block=16)
    ref = _direct(xc, s_inv)
    assert abs(cube - ref[0]) < 1e-10 * abs(ref[0])
    assert abs(diag2 - ref[1]) < 1e-10 * abs(ref[1])
