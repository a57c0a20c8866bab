"""Study A's evaluation metrics, one module per family (after MONAI's ``monai/metrics``).

- :mod:`mpirad.metrics.diagnostic`: Table 3 indexes with CIs, McNemar's test.
- :mod:`mpirad.metrics.roc`: ROC curve, AUC with DeLong's CI.
- :mod:`mpirad.metrics.segmentation`: Dice, IoU, Hausdorff/HD95, Table 4 summaries.
- :mod:`mpirad.metrics.paper_a`: the paper's Tables 2-4 and misprints, as data.
"""

from __future__ import annotations

from mpirad.metrics.diagnostic import (
    TABLE3_LABELS,
    ConfusionCounts,
    DiagnosticIndexes,
    Estimate,
    McNemarResult,
    confusion_counts,
    diagnostic_indexes,
    diagnostic_indexes_from_scores,
    diagnostic_table,
    kappa_agreement,
    mcnemar_test,
)
from mpirad.metrics.roc import AucResult, RocCurve, auc_delong, roc_curve
from mpirad.metrics.segmentation import (
    SUMMARY_LABELS,
    dice,
    format_summary,
    hausdorff,
    iou,
    summarize,
    surface_points,
)

__all__ = [
    "SUMMARY_LABELS",
    "TABLE3_LABELS",
    "AucResult",
    "ConfusionCounts",
    "DiagnosticIndexes",
    "Estimate",
    "McNemarResult",
    "RocCurve",
    "auc_delong",
    "confusion_counts",
    "diagnostic_indexes",
    "diagnostic_indexes_from_scores",
    "diagnostic_table",
    "dice",
    "format_summary",
    "hausdorff",
    "iou",
    "kappa_agreement",
    "mcnemar_test",
    "roc_curve",
    "summarize",
    "surface_points",
]
