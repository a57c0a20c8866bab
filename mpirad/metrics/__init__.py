"""Study A's evaluation metrics, one module per family (after MONAI's ``monai/metrics``).

- :mod:`mpirad.metrics.diagnostic`: Table 3 indexes with CIs, McNemar's test.
- :mod:`mpirad.metrics.roc`: ROC curve, AUC with DeLong's CI.
- :mod:`mpirad.metrics.segmentation`: Dice, IoU, Hausdorff/HD95, Table 4 summaries.
- :mod:`mpirad.metrics.paper_a`: the paper's Tables 2-4 and misprints, as data.
"""

from __future__ import annotations

from mpirad.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "mpirad.metrics.diagnostic": (
            "TABLE3_LABELS",
            "ConfusionCounts",
            "DiagnosticIndexes",
            "Estimate",
            "McNemarResult",
            "confusion_counts",
            "diagnostic_indexes",
            "diagnostic_indexes_from_scores",
            "diagnostic_table",
            "kappa_agreement",
            "mcnemar_test",
        ),
        "mpirad.metrics.roc": (
            "AucResult",
            "RocCurve",
            "auc_delong",
            "roc_curve",
        ),
        "mpirad.metrics.segmentation": (
            "SUMMARY_LABELS",
            "dice",
            "format_summary",
            "hausdorff",
            "iou",
            "summarize",
            "surface_points",
        ),
    },
)
