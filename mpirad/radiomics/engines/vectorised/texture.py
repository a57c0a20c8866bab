"""The texture families of one discretised ROI: GLCM, GLRLM, GLSZM, GLDZM, NGTDM, NGLDM.

Each function takes the :class:`~mpirad.radiomics.engines.vectorised.roi.RoiGeometry`
and the grey levels of its voxels, and returns feature name -> value (per aggregation for
GLCM and GLRLM).
"""

from __future__ import annotations

import numpy as np
import skimage.measure

from mpirad.radiomics.engines.vectorised.matrices import cooccurrence_features, zone_features
from mpirad.radiomics.engines.vectorised.roi import N_DIRECTIONS, RoiGeometry
from mpirad.radiomics.ibsi import AGG_3D_AVERAGED, AGG_3D_MERGED

#: The generic names of :func:`zone_features`, in output order.
_GENERIC_ZONE_NAMES: tuple[str, ...] = tuple(
    (
        "small large low_grey high_grey small_low small_high large_low large_high glnu "
        "glnu_norm jnu jnu_norm percentage gl_var j_var entropy energy"
    ).split()
)

#: Family -> IBSI names of the generic zone features, in :data:`_GENERIC_ZONE_NAMES` order
#: (only NGLDM keeps the last one, ``energy``).
_ZONE_NAMES: dict[str, dict[str, str]] = {
    family: dict(zip(_GENERIC_ZONE_NAMES, names.split(), strict=False))
    for family, names in {
        "rlm": "sre lre lgre hgre srlge srhge lrlge lrhge glnu glnu_norm rlnu rlnu_norm "
        "r_perc gl_var rl_var rl_entr",
        "szm": "sze lze lgze hgze szlge szhge lzlge lzhge glnu glnu_norm zsnu zsnu_norm "
        "z_perc gl_var zs_var zs_entr",
        "dzm": "sde lde lgze hgze sdlge sdhge ldlge ldhge glnu glnu_norm zdnu zdnu_norm "
        "z_perc gl_var zd_var zd_entr",
        "ngl": "lde hde lgce hgce ldlge ldhge hdlge hdhge glnu glnu_norm dcnu dcnu_norm "
        "dc_perc gl_var dc_var dc_entr dc_energy",
    }.items()
}


def _rename(family: str, generic: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    names = _ZONE_NAMES[family]
    return {names[key]: generic[key] for key in names}


def _split_directions_and_merged(features: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """Group 0..12 are the directional matrices, group 13 their merged sum.

    Returns:
        aggregation -> name -> value: the mean over non-empty directional matrices (3D
        averaged) and the merged matrix's value (3D merged).
    """
    names = list(features)
    table = np.vstack([features[name] for name in names])  # (n_features, 14)
    directional = table[:, :N_DIRECTIONS]
    finite = np.isfinite(directional)
    counts = finite.sum(axis=1)
    with np.errstate(invalid="ignore"):
        averaged = np.where(finite, directional, 0.0).sum(axis=1) / counts
    return {
        AGG_3D_AVERAGED: dict(zip(names, averaged.tolist(), strict=True)),
        AGG_3D_MERGED: dict(zip(names, table[:, N_DIRECTIONS].tolist(), strict=True)),
    }


# ---------------------------------------------------------------------------------------
# per-family computation on a discretised ROI


def glcm_features(
    geometry: RoiGeometry, levels: np.ndarray, n_levels: int
) -> dict[str, dict[str, float]]:
    """GLCM features, 3D averaged and 3D merged: aggregation -> name -> value."""
    i = levels[geometry.edge_from]
    j = levels[geometry.edge_to]
    group = np.concatenate([geometry.edge_direction, np.full(i.size, N_DIRECTIONS)])
    features = cooccurrence_features(
        group, np.tile(i, 2), np.tile(j, 2), N_DIRECTIONS + 1, n_levels
    )
    return _split_directions_and_merged(features)


def glrlm_features(
    geometry: RoiGeometry, levels: np.ndarray, n_levels: int
) -> dict[str, dict[str, float]]:
    """GLRLM features, 3D averaged and 3D merged: aggregation -> name -> value."""
    ordered = levels[geometry.line_order]
    previous = np.concatenate(([0], ordered[:-1]))
    starts = ~geometry.has_predecessor | (ordered != previous)
    run_id = np.cumsum(starts) - 1
    run_length = np.bincount(run_id)
    run_level = ordered[starts]
    run_direction = geometry.line_direction[starts]
    n_voxels = float(geometry.n_voxels)
    voxels = np.append(np.full(N_DIRECTIONS, n_voxels), n_voxels * N_DIRECTIONS)
    features = zone_features(
        np.concatenate([run_direction, np.full(run_level.size, N_DIRECTIONS)]),
        np.tile(run_level, 2),
        np.tile(run_length, 2),
        N_DIRECTIONS + 1,
        n_levels,
        voxels,
    )
    return _split_directions_and_merged(_rename("rlm", features))


def zone_labels(geometry: RoiGeometry, levels: np.ndarray) -> np.ndarray:
    """26-connected zones of equal grey level: ``(n_voxels,)`` zone number ``0..n_zones-1``."""
    box = np.zeros(geometry.box_shape, dtype=np.int64)
    box.ravel()[geometry.box_index] = levels
    labelled = skimage.measure.label(box, background=0, connectivity=3)
    return labelled.ravel()[geometry.box_index] - 1


def glszm_gldzm_features(
    geometry: RoiGeometry, levels: np.ndarray, n_levels: int, families: tuple[str, ...]
) -> dict[str, dict[str, float]]:
    """GLSZM and/or GLDZM features (3D): family -> name -> value."""
    zone = zone_labels(geometry, levels)
    n_zones = int(zone.max()) + 1
    zone_size = np.bincount(zone, minlength=n_zones)
    zone_level = np.zeros(n_zones, dtype=np.int64)
    zone_level[zone] = levels
    n_voxels = np.array([float(geometry.n_voxels)])
    result: dict[str, dict[str, float]] = {}
    single = np.zeros(n_zones, dtype=np.int64)
    if "szm" in families:
        generic = zone_features(single, zone_level, zone_size, 1, n_levels, n_voxels)
        result["szm"] = {k: float(v[0]) for k, v in _rename("szm", generic).items()}
    if "dzm" in families:
        zone_distance = np.full(n_zones, np.iinfo(np.int64).max)
        np.minimum.at(zone_distance, zone, geometry.border_distance)
        generic = zone_features(single, zone_level, zone_distance, 1, n_levels, n_voxels)
        result["dzm"] = {k: float(v[0]) for k, v in _rename("dzm", generic).items()}
    return result


def ngtdm_features(geometry: RoiGeometry, levels: np.ndarray, n_levels: int) -> dict[str, float]:
    """NGTDM features (3D, 26-neighbourhood inside the ROI)."""
    values = levels.astype(np.float64)
    n = geometry.n_voxels
    neighbour_sum = np.bincount(
        geometry.edge_from, weights=values[geometry.edge_to], minlength=n
    ) + np.bincount(geometry.edge_to, weights=values[geometry.edge_from], minlength=n)
    valid = geometry.n_neighbours > 0
    grey = values[valid]
    average = neighbour_sum[valid] / geometry.n_neighbours[valid]
    level_index = levels[valid] - 1
    s = np.bincount(level_index, weights=np.abs(grey - average), minlength=n_levels)
    counts = np.bincount(level_index, minlength=n_levels).astype(np.float64)
    n_valid = counts.sum()
    if n_valid == 0:
        return dict.fromkeys(
            ("coarseness", "contrast", "busyness", "complexity", "strength"), np.nan
        )
    p = counts / n_valid
    present = p > 0
    pi, si = p[present], s[present]
    gi = np.arange(1, n_levels + 1, dtype=np.float64)[present]
    n_present = int(present.sum())
    level_diff = gi[:, None] - gi[None, :]
    weighted_s = float(np.sum(pi * si))
    coarseness = 1.0 / weighted_s if weighted_s >= 1.0e-6 else 1.0e6
    if n_present > 1:
        contrast = (
            float(np.sum(pi[:, None] * pi[None, :] * level_diff**2))
            / (n_present * (n_present - 1.0))
            * float(s.sum())
            / n_valid
        )
        busy_denominator = float(np.sum(np.abs((gi * pi)[:, None] - (gi * pi)[None, :])))
        busyness = weighted_s / busy_denominator if busy_denominator > 0 else 0.0
    else:
        contrast = busyness = 0.0
    complexity = float(
        np.sum(
            np.abs(level_diff)
            * ((pi * si)[:, None] + (pi * si)[None, :])
            / (pi[:, None] + pi[None, :])
        )
        / n_valid
    )
    strength = (
        float(np.sum((pi[:, None] + pi[None, :]) * level_diff**2)) / float(s.sum())
        if s.sum() > 0
        else 0.0
    )
    return {
        "coarseness": coarseness,
        "contrast": contrast,
        "busyness": busyness,
        "complexity": complexity,
        "strength": strength,
    }


def ngldm_features(
    geometry: RoiGeometry, levels: np.ndarray, n_levels: int, alpha: float
) -> dict[str, float]:
    """NGLDM features (3D, 26-neighbourhood, coarseness ``alpha``)."""
    n = geometry.n_voxels
    dependent = (np.abs(levels[geometry.edge_from] - levels[geometry.edge_to]) <= alpha).astype(
        np.float64
    )
    k = np.bincount(geometry.edge_from, weights=dependent, minlength=n) + np.bincount(
        geometry.edge_to, weights=dependent, minlength=n
    )
    dependence = k.astype(np.int64) + 1
    generic = zone_features(
        np.zeros(n, dtype=np.int64), levels, dependence, 1, n_levels, np.array([float(n)])
    )
    return {name: float(v[0]) for name, v in _rename("ngl", generic).items()}
