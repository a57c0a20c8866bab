"""First-order IBSI families: intensity statistics, intensity histogram, intensity-volume
histogram.
"""

from __future__ import annotations

import numpy as np

from mpirad.radiomics.settings import ExtractionSettings


def _percentile(x: np.ndarray, q: float) -> float:
    return float(np.percentile(x, q))


def _distribution_features(x: np.ndarray) -> dict[str, float]:
    """Statistics shared by ``stat`` and ``ih`` (x: values of the ROI voxels)."""
    mean = float(x.mean())
    deviation = x - mean
    var = float(np.mean(deviation**2))
    if var > 0:
        skew = float(np.mean(deviation**3) / var**1.5)
        kurt = float(np.mean(deviation**4) / var**2 - 3.0)
    else:
        skew = kurt = 0.0
    p10, p25, p75, p90 = (_percentile(x, q) for q in (10, 25, 75, 90))
    median = float(np.median(x))
    robust = x[(x >= p10) & (x <= p90)]
    return {
        "mean": mean,
        "var": var,
        "skew": skew,
        "kurt": kurt,
        "median": median,
        "min": float(x.min()),
        "p10": p10,
        "p90": p90,
        "max": float(x.max()),
        "iqr": p75 - p25,
        "range": float(x.max() - x.min()),
        "mad": float(np.mean(np.abs(deviation))),
        # NaN (as mirp) when no voxel lies within [p10, p90], e.g. two distinct values
        "rmad": float(np.mean(np.abs(robust - robust.mean()))) if robust.size else np.nan,
        "medad": float(np.mean(np.abs(x - median))),
        "cov": float(np.sqrt(var) / mean) if mean != 0 else np.nan,
        "qcod": (p75 - p25) / (p75 + p25) if (p75 + p25) != 0 else np.nan,
    }


def statistics_features(intensities: np.ndarray) -> dict[str, float]:
    """IBSI intensity-based statistical features (18) of raw ROI intensities."""
    x = np.asarray(intensities, dtype=np.float64)
    features = _distribution_features(x)
    features["energy"] = float(np.sum(x**2))
    features["rms"] = float(np.sqrt(np.mean(x**2)))
    order = (
        "mean var skew kurt median min p10 p90 max iqr range mad rmad medad cov qcod energy rms"
    ).split()
    return {name: features[name] for name in order}


def intensity_histogram_features(levels: np.ndarray, n_levels: int) -> dict[str, float]:
    """IBSI intensity histogram features (23) of discretised levels ``1..n_levels``."""
    x = levels.astype(np.float64)
    features = _distribution_features(x)
    counts = np.bincount(levels - 1, minlength=n_levels).astype(np.float64)
    p = counts / counts.sum()
    nonzero = p[p > 0]
    grey = np.arange(1, n_levels + 1, dtype=np.float64)
    modes = grey[counts == counts.max()]
    mode = float(modes[np.argmin(np.abs(modes - features["mean"]))])
    if n_levels > 1:
        gradient = np.gradient(counts)
    else:
        gradient = np.zeros(1)
    features.update(
        {
            "mode": mode,
            "entropy": float(-np.sum(nonzero * np.log2(nonzero))),
            "uniformity": float(np.sum(p**2)),
            "max_grad": float(gradient.max()),
            "max_grad_g": float(grey[int(np.argmax(gradient))]),
            "min_grad": float(gradient.min()),
            "min_grad_g": float(grey[int(np.argmin(gradient))]),
        }
    )
    order = (
        "mean var skew kurt median min p10 p90 max mode iqr range mad rmad medad cov qcod "
        "entropy uniformity max_grad max_grad_g min_grad min_grad_g"
    ).split()
    return {name: features[name] for name in order}


def intensity_volume_histogram_features(
    intensities: np.ndarray, levels: np.ndarray, n_levels: int, settings: ExtractionSettings
) -> dict[str, float]:
    """IBSI intensity-volume histogram features (7).

    With ``settings.ivh_discretise`` the histogram is over the same bins as the intensity
    histogram (FBN: levels ``1..N_g``; FBS: bin centres, ``ceil((max - lower) / w) + 1``
    bins as in mirp); otherwise over the integer intensities from the ROI minimum to
    maximum (IBSI digital phantom).
    """
    if settings.ivh_discretise and settings.n_bins is not None:
        grey = np.arange(1, n_levels + 1, dtype=np.float64)
        counts = np.bincount(levels - 1, minlength=n_levels).astype(np.float64)
        next_above = n_levels + 1.0
    elif settings.ivh_discretise and settings.bin_width is not None:
        width = float(settings.bin_width)
        low = (
            float(intensities.min())
            if settings.bin_lower_bound is None
            else float(settings.bin_lower_bound)
        )
        # bins cover [low, max]: ceil((max - low) / w) + 1 of them (mirp's convention)
        n_ivh = max(int(np.ceil((float(intensities.max()) - low) / width)) + 1, n_levels)
        grey = low + (np.arange(1, n_ivh + 1) - 0.5) * width
        counts = np.bincount(levels - 1, minlength=n_ivh).astype(np.float64)
        next_above = grey[-1] + width
    else:
        rounded = np.round(intensities)
        if not np.allclose(rounded, intensities):
            raise ValueError("undiscretised intensity-volume histograms need integer intensities")
        low, high = int(rounded.min()), int(rounded.max())
        grey = np.arange(low, high + 1, dtype=np.float64)
        counts = np.bincount((rounded - low).astype(np.int64), minlength=high - low + 1).astype(
            np.float64
        )
        next_above = high + 1.0
    span = grey[-1] - grey[0]
    gamma = (grey - grey[0]) / span if span > 0 else np.zeros_like(grey)
    volume = 1.0 - np.concatenate(([0.0], np.cumsum(counts)[:-1])) / counts.sum()

    def volume_at(fraction: float) -> float:
        selected = volume[gamma >= fraction]
        return float(selected.max()) if selected.size else np.nan

    def intensity_at(fraction: float) -> float:
        selected = grey[volume <= fraction]
        return float(selected.min()) if selected.size else float(next_above)

    return {
        "v10": volume_at(0.10),
        "v90": volume_at(0.90),
        "i10": intensity_at(0.10),
        "i90": intensity_at(0.90),
        "diff_v10_v90": volume_at(0.10) - volume_at(0.90),
        "diff_i10_i90": intensity_at(0.10) - intensity_at(0.90),
        "auc": float(np.trapezoid(volume, gamma)),
    }
