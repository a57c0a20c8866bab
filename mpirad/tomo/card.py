"""The model card of one trained Study A split (``model_card.md`` beside ``run.json``).

Everything in it is read back from the split's folder (``run.json``, its provenance
record, ``classification_metrics.parquet`` and ``segmentation_summary.parquet``), so a
card can be written for a split trained before cards existed
(:func:`ensure_split_card`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from mpirad.io import read_parquet
from mpirad.modelcard import (
    CARD_NAME,
    dataset_provenance,
    markdown_table,
    render_card,
    settings_block,
    write_card,
)
from mpirad.provenance import read_record

INTENDED_USE = (
    "Auxiliary reading of D-SPECT left-ventricular tomograms (PNG slices exported as in "
    "the training data): the classifier gives the probability that a slice shows "
    "ischemia, the segmenter outlines the ischemic area of slices called ischemic. "
    "Inputs must come from the same kind of acquisition and export, with the same pixel "
    "grid, as the training images; the model was validated only on the split below."
)


def _validation(directory: Path) -> str:
    """Classification metrics with 95% CIs and the segmentation summary, as markdown."""
    parts = []
    metrics = directory / "classification_metrics.parquet"
    if metrics.is_file():
        table = read_parquet(metrics)
        keep = [c for c in ("metric", "estimate", "ci_low", "ci_high", "method") if c in table]
        parts += ["Classification (validation images, 95% CIs):", "", markdown_table(table[keep])]
    summary = directory / "segmentation_summary.parquet"
    if summary.is_file():
        table = read_parquet(summary).drop(columns=["split", "unit"], errors="ignore")
        parts += ["", "Segmentation (ischemic validation images):", "", markdown_table(table)]
    return "\n".join(parts) or "(no validation tables found)"


def validation_summary(directory: str | Path) -> tuple[str, list[str]]:
    """A split's validation results in one line, and warnings about its AUC.

    Read from the split's ``classification_metrics.parquet`` (the card's "Validation
    results"). The AUC is warned about when it is below 0.5 (worse than chance) or its
    95% CI includes 0.5 (not distinguishable from chance), or when it has no CI.

    Args:
        directory: the split folder.

    Returns:
        ``(line, warnings)``, e.g. ``("split 1 (patient level): validation AUC 0.812
        (95% CI 0.701-0.923), SE 0.750, SP 0.800", [])``.
    """
    directory = Path(directory)
    name = directory.name.replace("_", " ")
    metrics_path = directory / "classification_metrics.parquet"
    if not metrics_path.is_file():
        return f"{name}: no validation results recorded", [
            f"{name}: its validation results are missing ({metrics_path.name}); its "
            "performance is unknown"
        ]
    table = read_parquet(metrics_path).set_index("metric")
    parts, warnings = [], []
    if "AUC" in table.index:
        auc, low, high = (float(table.loc["AUC", c]) for c in ("estimate", "ci_low", "ci_high"))
        has_ci = pd.notna(low) and pd.notna(high)
        ci = f" (95% CI {low:.3f}-{high:.3f})" if has_ci else " (no CI)"
        parts.append(f"validation AUC {auc:.3f}{ci}")
        if auc < 0.5:
            warnings.append(
                f"{name}: validation AUC {auc:.3f} is below 0.5: the model ranks the "
                "validation images worse than chance; do not use its calls"
            )
        elif not has_ci:
            warnings.append(f"{name}: validation AUC {auc:.3f} has no confidence interval")
        elif low <= 0.5 <= high:
            warnings.append(
                f"{name}: the 95% CI of the validation AUC ({low:.3f}-{high:.3f}) includes "
                "0.5: the model is not shown to be better than chance"
            )
    else:
        warnings.append(f"{name}: no validation AUC recorded; its performance is unknown")
    parts += [
        f"{m} {float(table.loc[m, 'estimate']):.3f}" for m in ("SE", "SP") if m in table.index
    ]
    return f"{name}: " + ", ".join(parts), warnings


def _data_section(run: dict[str, Any], record: Any) -> str:
    settings = run.get("settings", {})
    name = settings.get("dataset", getattr(record, "dataset", "unknown"))
    counts = run.get("counts", {})
    rows = pd.DataFrame({"count": list(counts)[:12], "value": list(counts.values())[:12]})
    shapes = run.get("source_shapes")
    lines = [
        f"- dataset: `{name}` (provenance: {dataset_provenance(name)})",
        f"- fingerprint: `{getattr(record, 'fingerprint', 'unknown')}`",
        f"- split unit: {settings.get('unit')}, split {settings.get('split')}, "
        f"seed {settings.get('seed')}",
        f"- source image sizes (rows x columns): "
        f"{', '.join(f'{h}x{w}' for h, w in shapes) if shapes else 'not recorded'}",
        "",
        markdown_table(rows),
    ]
    return "\n".join(lines)


def write_split_card(directory: str | Path) -> Path:
    """Write ``model_card.md`` for the finished split in ``directory``.

    Raises:
        FileNotFoundError: no ``run.json`` (the split has not finished).
    """
    directory = Path(directory)
    run_json = directory / "run.json"
    if not run_json.is_file():
        raise FileNotFoundError(f"{directory}: no finished Study A split (run.json missing)")
    run = json.loads(run_json.read_text(encoding="utf-8"))
    record = read_record(run_json)
    settings = run.get("settings", {})
    profile = settings.get("profile", {})
    title = (
        f"Study A model: {settings.get('dataset')} / {profile.get('name')} / "
        f"{settings.get('unit')} split {settings.get('split')}"
    )
    sections = [
        ("Model", "ResNet18 classifier (ischemia yes/no) and ResNet18-encoder U-Net "
                  "segmenter (ischemic area); weights in `checkpoints/{classifier,segmenter}/"
                  f"best.pt` (best epochs {run.get('best_epoch')})."),
        ("Intended use", INTENDED_USE),
        ("Training data", _data_section(run, record)),
        ("Profile and settings", settings_block(settings)),
        ("Validation results", _validation(directory)),
        ("Software", f"mpirad {getattr(record, 'mpirad', 'unknown')}, torch {run.get('torch')}, "
                     f"Python {run.get('python')}, device {run.get('device')}; trained "
                     f"{record.when() if record else 'at an unknown date'}."),
    ]  # fmt: skip
    return write_card(directory, render_card(title, sections))


def ensure_split_card(directory: str | Path) -> Path:
    """The split's ``model_card.md``, written first if missing (splits trained before cards)."""
    path = Path(directory) / CARD_NAME
    return path if path.is_file() else write_split_card(directory)
