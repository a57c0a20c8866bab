"""The model card of a Study B protocol run (``model_card.md`` beside its tables).

Written by ``mpirad outcome`` into its output folder (:func:`write_protocol_card`): the
dataset and its fingerprint, the protocol's settings, the test-set results of the
repeats' winning models per ROI x pool (median Pearson r with the 2.5-97.5 percentile
range over the repeats, Fisher's X), the intended use and the warning.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from mpirad.modelcard import (
    dataset_provenance,
    markdown_table,
    render_card,
    settings_block,
    write_card,
)

if TYPE_CHECKING:
    from mpirad.provenance import StepRecord
    from mpirad.stats.protocol import ProtocolResult

INTENDED_USE = (
    "A research protocol, not a calculator: per ROI and feature pool, 50 repeats of a "
    "stepwise linear regression of the coronary calcium (CAC) score on radiomic and "
    "clinical features, each judged on its own held-out test patients. The results say "
    "whether the features carry information on CAC in this cohort; they are not a "
    "validated CAC estimate for an individual patient."
)


def test_results(runs: pd.DataFrame) -> pd.DataFrame:
    """Per ROI x pool: repeats with a model, median test r and its 2.5-97.5% range, terms.

    Args:
        runs: :attr:`ProtocolResult.runs` (one row per ROI x pool x repeat).

    Returns:
        ``roi``, ``pool``, ``repeats``, ``with_model``, ``median_r``, ``r_p2.5``,
        ``r_p97.5``, ``median_terms``.
    """
    rows = []
    for (roi, pool), group in runs.groupby(["roi", "pool"], sort=True):
        r = group["r"].to_numpy(dtype=float)
        finite = r[np.isfinite(r)]
        low, mid, high = np.percentile(finite, [2.5, 50, 97.5]) if finite.size else [np.nan] * 3
        rows.append(
            {
                "roi": roi, "pool": pool, "repeats": len(group), "with_model": int(finite.size),
                "median_r": mid, "r_p2.5": low, "r_p97.5": high,
                "median_terms": float(np.median(group["n_terms"])),
            }
        )  # fmt: skip
    return pd.DataFrame(rows)


def write_protocol_card(
    folder: str | Path, result: ProtocolResult, record: StepRecord | None, dataset: str
) -> Path:
    """Write ``<folder>/model_card.md`` for a protocol run; the path."""
    from mpirad import __version__

    fisher = result.fisher_table()[["roi", "pool", "fisher_x", "significant", "median_abs_r"]]
    fingerprint = record.fingerprint if record is not None else "not recorded (--root run)"
    n_test = int(result.runs["n_test"].max()) if len(result.runs) else 0
    data = (
        f"- dataset: `{dataset}` (provenance: {dataset_provenance(dataset)})\n"
        f"- fingerprint: `{fingerprint}`\n"
        f"- ROIs: {result.runs['roi'].nunique()}, pools: {result.runs['pool'].nunique()}, "
        f"repeats: {result.config.n_repeats} x {result.config.n_inner} inner splits, "
        f"test patients per repeat: {n_test}"
    )
    sections = [
        ("Model", "Per ROI x pool and repeat, the winning stepwise linear model of CAC (terms "
                  "in `runs.parquet`, column `terms`; intercept and coefficients in "
                  "`models.parquet`; test predictions in `predictions.parquet`). "
                  "`mpirad predict cac --model <this folder> --dataset NAME` applies them."),
        ("Intended use", INTENDED_USE),
        ("Training data", data),
        ("Protocol settings", settings_block(asdict(result.config))),
        ("Test results", "Pearson r of prediction vs truth on each repeat's test patients "
                         "(median, 2.5-97.5 percentiles over repeats):\n\n"
                         + markdown_table(test_results(result.runs))
                         + "\n\nFisher's method over the repeats (alpha 0.01):\n\n"
                         + markdown_table(fisher)),
        ("Software", f"mpirad {record.mpirad if record is not None else __version__}."),
    ]  # fmt: skip
    return write_card(folder, render_card(f"Study B protocol: {dataset}", sections))
