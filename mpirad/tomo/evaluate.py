"""Validation metrics of one split: the paper's Tables 2-4 and Figure 1 inputs.

Classification (per split): the 2x2 table against the manual labels with McNemar's
test (Table 2), the nine indexes of Table 3 with 95% CIs and the AUC with DeLong's
CI (Figure 1), all from :mod:`mpirad.metrics`. Segmentation (per ischemic validation
image): Dice, IoU and Hausdorff distance (boundary pixels, in network-input pixels and
in source pixels), summarised as min/P25/median/P75/max (Table 4).

Hausdorff distances, in the style of MONAI's ``HausdorffDistanceMetric`` (boundary
points, ``percentile=95`` as the larger of the two directed 95th percentiles,
``spacing`` for physical units; :func:`mpirad.metrics.hausdorff`):

- ``HD`` and ``HD95`` of an empty prediction are undefined (NaN). The paper-style
  summary leaves those images out, which flatters the distance; the ``(empty =
  diagonal)`` rows count each of them as the diagonal of the network grid,
  ``hypot(H - 1, W - 1)`` input pixels (the largest distance between two of its pixel
  centres, so an upper bound of any defined value), over *all* ischemic images.
- In mm when the source pixel size is known: the crop of ``crop_size`` source pixels is
  resized to ``input_size``, so one network pixel is
  ``pixel_spacing_mm * crop_size / input_size`` mm.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mpirad.metrics import (
    TABLE3_LABELS,
    auc_delong,
    diagnostic_indexes_from_scores,
    dice,
    hausdorff,
    iou,
    roc_curve,
    summarize,
)

#: Table 4's metric names, in the paper's column order.
SEGMENTATION_METRICS: dict[str, str] = {"iou": "IOU", "dice": "DICE", "hausdorff": "Hausdorff"}

#: Every Hausdorff summary row: per-image column -> metric name. ``_all``: over all
#: ischemic images, an empty prediction counted as the grid's diagonal; ``_mm``: in mm
#: (NaN when the pixel size is unknown).
HAUSDORFF_METRICS: dict[str, str] = {
    "hausdorff": "Hausdorff",
    "hausdorff_all": "Hausdorff (empty = diagonal)",
    "hausdorff95": "HD95",
    "hausdorff95_all": "HD95 (empty = diagonal)",
    "hausdorff_mm": "Hausdorff (mm)",
    "hausdorff_all_mm": "Hausdorff (mm, empty = diagonal)",
    "hausdorff95_mm": "HD95 (mm)",
    "hausdorff95_all_mm": "HD95 (mm, empty = diagonal)",
}


def classification_tables(
    predictions: pd.DataFrame, *, threshold: float = 0.5, confidence: float = 0.95
) -> dict[str, pd.DataFrame]:
    """Confusion matrix, indexes with CIs, AUC and ROC points of one split.

    Args:
        predictions: one row per validation image with ``label`` (0/1) and
            ``probability`` (of ischemia, in [0, 1]).
        threshold: an image is called ischemic when ``probability >= threshold``.
        confidence: CI level.

    Returns:
        ``{"confusion": 1 row (tp, fp, fn, tn, mcnemar_statistic, mcnemar_p,
        mcnemar_method), "metrics": long table (metric, estimate, ci_low, ci_high,
        method) with SE, SP, +LR, -LR, PPV, NPV, YI, AR, Kappa (proportions as
        fractions) and AUC, "roc": (fpr, tpr, threshold) points}``.
    """
    labels = predictions["label"].to_numpy(dtype=np.int64)
    scores = predictions["probability"].to_numpy(dtype=np.float64)
    indexes = diagnostic_indexes_from_scores(labels, scores, threshold, confidence=confidence)
    counts = indexes.counts
    confusion = pd.DataFrame(
        [
            {
                "tp": counts.tp,
                "fp": counts.fp,
                "fn": counts.fn,
                "tn": counts.tn,
                "mcnemar_statistic": indexes.mcnemar.statistic,
                "mcnemar_p": indexes.mcnemar.pvalue,
                "mcnemar_method": indexes.mcnemar.method,
            }
        ]
    )
    frame = indexes.to_frame(percent=False).reset_index()
    metrics = pd.DataFrame(
        {
            "metric": frame["index"].astype(str),
            "estimate": frame["estimate"].astype(float),
            "ci_low": frame["ci_low"].astype(float),
            "ci_high": frame["ci_high"].astype(float),
            "method": frame["ci_method"].astype(str),
        }
    )
    try:
        auc = auc_delong(labels, scores, confidence=confidence)
        auc_row = [auc.auc, auc.low, auc.high, "DeLong"]
    except ValueError as exc:  # fewer than 2 cases of a class: AUC without a CI
        from sklearn.metrics import roc_auc_score

        if len(np.unique(labels)) < 2:
            raise ValueError(f"AUC undefined: {exc}") from exc
        auc_row = [float(roc_auc_score(labels, scores)), np.nan, np.nan, f"no CI ({exc})"]
    metrics.loc[len(metrics)] = ["AUC", *auc_row]
    curve = roc_curve(labels, scores)
    roc = pd.DataFrame({"fpr": curve.fpr, "tpr": curve.tpr, "threshold": curve.thresholds})
    return {"confusion": confusion, "metrics": metrics, "roc": roc}


def segmentation_per_image(
    keys: pd.DataFrame,
    manual: np.ndarray,
    predicted: np.ndarray,
    *,
    source_pixels_per_input_pixel: float = 1.0,
    pixel_spacing_mm: float | None = None,
) -> pd.DataFrame:
    """Dice, IoU and Hausdorff distances of each validation image.

    Args:
        keys: ``patient_id`` and ``image`` of each image, ``(N,)`` rows.
        manual: ``(N, H, W)`` bool manual masks.
        predicted: ``(N, H, W)`` bool predicted masks.
        source_pixels_per_input_pixel: crop size / input size, to express the
            Hausdorff distance in source-image pixels as well.
        pixel_spacing_mm: side of a (square) source pixel in mm; None when unknown.

    Returns:
        One row per image: ``patient_id``, ``image``, ``dice``, ``iou``, ``hausdorff``
        and ``hausdorff95`` (boundary-pixel HD and HD95 in network-input pixels; NaN
        when the prediction is empty), ``hausdorff_source_px``, ``hausdorff_all`` and
        ``hausdorff95_all`` (an empty prediction counted as the grid diagonal
        ``hypot(H - 1, W - 1)``), the four in mm (``hausdorff_mm``,
        ``hausdorff95_mm``, ``hausdorff_all_mm``, ``hausdorff95_all_mm``; NaN without
        ``pixel_spacing_mm``), ``manual_pixels``, ``predicted_pixels``.
    """
    manual = np.asarray(manual, dtype=bool)
    predicted = np.asarray(predicted, dtype=bool)
    if manual.shape != predicted.shape or manual.ndim != 3 or len(keys) != len(manual):
        raise ValueError(
            f"need (N, H, W) masks of one shape and N keys; got {manual.shape}, "
            f"{predicted.shape}, {len(keys)} keys"
        )
    table = keys[["patient_id", "image"]].reset_index(drop=True).copy()
    if len(table) == 0:
        for column in ("dice", "iou", "hausdorff_source_px", *HAUSDORFF_METRICS):
            table[column] = pd.Series(dtype=float)
        table["manual_pixels"] = pd.Series(dtype=np.int64)
        table["predicted_pixels"] = pd.Series(dtype=np.int64)
        return table
    table["dice"] = dice(predicted, manual, batch=True)
    table["iou"] = iou(predicted, manual, batch=True)
    table["hausdorff"] = hausdorff(predicted, manual, batch=True)
    table["hausdorff95"] = hausdorff(predicted, manual, percentile=95, batch=True)
    table["hausdorff_source_px"] = table["hausdorff"] * float(source_pixels_per_input_pixel)
    diagonal = float(np.hypot(manual.shape[1] - 1, manual.shape[2] - 1))
    table["hausdorff_all"] = table["hausdorff"].fillna(diagonal)
    table["hausdorff95_all"] = table["hausdorff95"].fillna(diagonal)
    mm = np.nan
    if pixel_spacing_mm is not None:
        mm = float(pixel_spacing_mm) * float(source_pixels_per_input_pixel)
    for column in ("hausdorff", "hausdorff_all", "hausdorff95", "hausdorff95_all"):
        table[f"{column}_mm"] = table[column] * mm
    table["manual_pixels"] = manual.sum(axis=(1, 2)).astype(np.int64)
    table["predicted_pixels"] = predicted.sum(axis=(1, 2)).astype(np.int64)
    return table


def segmentation_summary(per_image: pd.DataFrame) -> pd.DataFrame:
    """Table 4 row group of one split: min/P25/median/P75/max of IOU, DICE, Hausdorff.

    Args:
        per_image: the table of :func:`segmentation_per_image`.

    Returns:
        One row per metric (``IOU``, ``DICE``, then the :data:`HAUSDORFF_METRICS`
        present in ``per_image``) with columns ``metric``, ``min``, ``P25``,
        ``median``, ``P75``, ``max``, ``n`` (defined values) and ``n_nan`` (e.g. empty
        predictions, whose Hausdorff distance is undefined; every image when the pixel
        size is unknown for the mm rows).
    """
    rows = []
    metrics = {**SEGMENTATION_METRICS, **HAUSDORFF_METRICS}
    for column, label in metrics.items():
        if column not in per_image:
            continue
        summary = summarize(per_image[column].to_numpy(dtype=np.float64))
        rows.append({"metric": label, **summary.to_dict()})
    table = pd.DataFrame(rows)
    table[["n", "n_nan"]] = table[["n", "n_nan"]].astype(np.int64)
    return table


__all__ = [
    "HAUSDORFF_METRICS",
    "SEGMENTATION_METRICS",
    "TABLE3_LABELS",
    "classification_tables",
    "segmentation_per_image",
    "segmentation_summary",
]
