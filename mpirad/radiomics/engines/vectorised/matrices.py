"""IBSI texture-matrix features computed on many matrices at once.

A texture matrix is held as its entries: ``group`` (which matrix), ``i`` (grey level) and
``j`` (second index); the features of all matrices come out of a few ``np.bincount``
passes. :func:`cooccurrence_features` serves the GLCM, :func:`zone_features` the four
families with run-length-like matrices (GLRLM, GLSZM, GLDZM, NGLDM).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def _group_sum(group: np.ndarray, values: np.ndarray, n_groups: int) -> np.ndarray:
    # float64 even when ``group`` is empty (np.bincount then returns int64)
    return np.bincount(group, weights=values, minlength=n_groups).astype(np.float64, copy=False)


@dataclass(frozen=True)
class _Cells:
    """The non-empty cells of many matrices.

    Attributes:
        g: ``(n_cells,)`` matrix index of each cell.
        i, j: ``(n_cells,)`` row and column (1-based) of each cell, as float64.
        count: ``(n_cells,)`` entries per cell.
        total: ``(n_groups,)`` entries per matrix.
        p: ``(n_cells,)`` the cell's probability within its matrix (NaN for an empty one).
        n_groups: number of matrices.
    """

    g: np.ndarray
    i: np.ndarray
    j: np.ndarray
    count: np.ndarray
    total: np.ndarray
    p: np.ndarray
    n_groups: int

    def sum(self, values: np.ndarray) -> np.ndarray:
        """Per matrix, the sum of a per-cell quantity: ``(n_groups,)``."""
        return _group_sum(self.g, values, self.n_groups)


def _cells(
    group: np.ndarray, i: np.ndarray, j: np.ndarray, n_i: int, n_j: int, n_groups: int
) -> _Cells:
    """Collapse entries (matrix ``group``, row ``i``, column ``j``) to matrix cells."""
    code = (group * n_i + (i - 1)) * n_j + (j - 1)
    unique, count = np.unique(code, return_counts=True)
    cell_j = unique % n_j + 1
    rest = unique // n_j
    g, cell_i, count = rest // n_i, rest % n_i + 1, count.astype(np.float64)
    total = _group_sum(g, count, n_groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = count / total[g]
    return _Cells(
        g, cell_i.astype(np.float64), cell_j.astype(np.float64), count, total, p, n_groups
    )


def _entropy_term(p: np.ndarray) -> np.ndarray:
    return np.where(p > 0, p * np.log2(np.where(p > 0, p, 1.0)), 0.0)


def _marginal_moments(
    g: np.ndarray, k: np.ndarray, p: np.ndarray, n_groups: int, n_k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, variance and entropy of a GLCM marginal (``|i - j|`` or ``i + j``).

    Args:
        g: ``(n,)`` matrix index of each cell.
        k: ``(n,)`` the cell's value of the marginal variable, integral in ``0..n_k-1``.
        p: ``(n,)`` the cell's joint probability.
        n_groups: number of matrices.
        n_k: number of values of ``k``.

    Returns:
        ``(average, variance, entropy)``, each ``(n_groups,)``.
    """
    values = np.arange(n_k, dtype=np.float64)
    p_k = np.bincount(g * n_k + k.astype(np.int64), weights=p, minlength=n_groups * n_k)
    p_k = p_k.reshape(n_groups, n_k)
    average = p_k @ values
    variance = np.sum(p_k * (values[None, :] - average[:, None]) ** 2, axis=1)
    entropy = -np.sum(_entropy_term(p_k), axis=1)
    return average, variance, entropy


def cooccurrence_features(
    group: np.ndarray, i: np.ndarray, j: np.ndarray, n_groups: int, n_levels: int
) -> dict[str, np.ndarray]:
    """IBSI GLCM features (25) of symmetric co-occurrence matrices.

    Args:
        group: ``(n,)`` matrix index of each voxel pair.
        i, j: ``(n,)`` grey levels of the pair (each unordered pair once; the matrix is
            made symmetric here).
        n_groups: number of matrices.
        n_levels: number of grey levels ``N_g``.

    Returns:
        Feature name -> ``(n_groups,)`` values (NaN for an empty matrix).
    """
    ng = n_levels
    cells = _cells(
        np.concatenate([group, group]),
        np.concatenate([i, j]),
        np.concatenate([j, i]),
        ng,
        ng,
        n_groups,
    )
    g, a, b, p, total, gsum = cells.g, cells.i, cells.j, cells.p, cells.total, cells.sum
    with np.errstate(invalid="ignore", divide="ignore"):
        joint_max = np.zeros(n_groups)
        np.maximum.at(joint_max, g, p)
        mu = gsum(a * p)
        dev = a - mu[g]
        joint_var = gsum(dev**2 * p)
        joint_entr = -gsum(_entropy_term(p))
        diff = np.abs(a - b)
        diff_avg, diff_var, diff_entr = _marginal_moments(g, diff, p, n_groups, ng)
        sum_avg, sum_var, sum_entr = _marginal_moments(g, a + b, p, n_groups, 2 * ng + 1)
        marginal = np.bincount(
            g * ng + (a.astype(np.int64) - 1), weights=p, minlength=n_groups * ng
        )
        marginal = marginal.reshape(n_groups, ng)
        hx = -np.sum(_entropy_term(marginal), axis=1)
        hxy1 = -gsum(
            p * np.log2(marginal[g, a.astype(np.int64) - 1] * marginal[g, b.astype(np.int64) - 1])
        )
        hxy2 = 2.0 * hx  # sum_ij p_i p_j log(p_i p_j) = 2 sum_i p_i log p_i (symmetric)
        cluster = a + b - 2.0 * mu[g]
        features = {
            "joint_max": joint_max,
            "joint_avg": mu,
            "joint_var": joint_var,
            "joint_entr": joint_entr,
            "diff_avg": diff_avg,
            "diff_var": diff_var,
            "diff_entr": diff_entr,
            "sum_avg": sum_avg,
            "sum_var": sum_var,
            "sum_entr": sum_entr,
            "energy": gsum(p**2),
            "contrast": gsum(diff**2 * p),
            "dissimilarity": gsum(diff * p),
            "inv_diff": gsum(p / (1.0 + diff)),
            "inv_diff_norm": gsum(p / (1.0 + diff / ng)),
            "inv_diff_mom": gsum(p / (1.0 + diff**2)),
            "inv_diff_mom_norm": gsum(p / (1.0 + diff**2 / ng**2)),
            "inv_var": gsum(np.where(diff > 0, p / np.where(diff > 0, diff, 1.0) ** 2, 0.0)),
            "corr": gsum(dev * (b - mu[g]) * p) / joint_var,
            "auto_corr": gsum(a * b * p),
            "clust_tend": gsum(cluster**2 * p),
            "clust_shade": gsum(cluster**3 * p),
            "clust_prom": gsum(cluster**4 * p),
            "info_corr1": np.where(hx > 0, (joint_entr - hxy1) / np.where(hx > 0, hx, 1.0), 0.0),
            "info_corr2": np.sqrt(np.clip(1.0 - np.exp(-2.0 * (hxy2 - joint_entr)), 0.0, None)),
        }
    empty = total == 0
    for values in features.values():
        values[empty] = np.nan
    return features


def zone_features(
    group: np.ndarray,
    i: np.ndarray,
    j: np.ndarray,
    n_groups: int,
    n_levels: int,
    n_voxels: np.ndarray,
) -> dict[str, np.ndarray]:
    """Features of run-length / size-zone / distance-zone / dependence matrices.

    All four IBSI families share the same formulas on a matrix ``m_ij`` (grey level
    ``i``, run length / zone size / distance / dependence ``j``).

    Args:
        group: ``(n,)`` matrix index of each entry (run, zone or voxel).
        i: ``(n,)`` grey level of each entry.
        j: ``(n,)`` second index (>= 1) of each entry.
        n_groups: number of matrices.
        n_levels: number of grey levels ``N_g``.
        n_voxels: ``(n_groups,)`` voxel count for the percentage feature.

    Returns:
        Generic feature name -> ``(n_groups,)`` values; generic names are
        ``small, large, low_grey, high_grey, small_low, small_high, large_low,
        large_high, glnu, glnu_norm, jnu, jnu_norm, percentage, gl_var, j_var,
        entropy, energy``.
    """
    n_j = int(j.max())
    cells = _cells(group, i, j, n_levels, n_j, n_groups)
    g, a, b, p, total, gsum = cells.g, cells.i, cells.j, cells.p, cells.total, cells.sum
    count = cells.count
    with np.errstate(invalid="ignore", divide="ignore"):
        per_level = np.bincount(
            g * n_levels + (a.astype(np.int64) - 1), weights=count, minlength=n_groups * n_levels
        )
        per_j = np.bincount(
            g * n_j + (b.astype(np.int64) - 1), weights=count, minlength=n_groups * n_j
        )
        glnu = np.sum(per_level.reshape(n_groups, n_levels) ** 2, axis=1) / total
        jnu = np.sum(per_j.reshape(n_groups, n_j) ** 2, axis=1) / total
        mu_i = gsum(a * p)
        mu_j = gsum(b * p)
        features = {
            "small": gsum(p / b**2),
            "large": gsum(p * b**2),
            "low_grey": gsum(p / a**2),
            "high_grey": gsum(p * a**2),
            "small_low": gsum(p / (a**2 * b**2)),
            "small_high": gsum(p * a**2 / b**2),
            "large_low": gsum(p * b**2 / a**2),
            "large_high": gsum(p * a**2 * b**2),
            "glnu": glnu,
            "glnu_norm": glnu / total,
            "jnu": jnu,
            "jnu_norm": jnu / total,
            "percentage": total / n_voxels,
            "gl_var": gsum((a - mu_i[g]) ** 2 * p),
            "j_var": gsum((b - mu_j[g]) ** 2 * p),
            "entropy": -gsum(_entropy_term(p)),
            "energy": gsum(p**2),
        }
    empty = total == 0
    for values in features.values():
        values[empty] = np.nan
    return features
