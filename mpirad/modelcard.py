"""Model cards: a ``model_card.md`` beside every trained model (Study A and Study B).

A card says what a model was trained on (dataset name, fingerprint, provenance, counts),
with which profile and settings, how it did on validation data (with confidence
intervals), what it is for, and that it is **not a medical device**. The study-specific
cards are :func:`mpirad.tomo.card.write_split_card` and
:func:`mpirad.stats.card.write_protocol_card`; this module holds the shared parts.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from mpirad.io import atomic_write

#: File name of a model card, beside the model's weights or tables.
CARD_NAME = "model_card.md"

#: The warning every card carries.
NOT_A_MEDICAL_DEVICE = (
    "**Not a medical device.** This model is research software from the `mpirad` "
    "reproduction of two published studies. It has not been validated for clinical use, "
    "carries no regulatory clearance, and must not be used to diagnose, treat or triage "
    "patients. Its outputs are for research and teaching only."
)


def dataset_provenance(name: str) -> str:
    """The manifest's provenance of a dataset (``synthetic``, ``real``...), or ``unknown``."""
    try:
        from mpirad.manifest import get_dataset

        return str(get_dataset(name).provenance)
    except Exception:  # noqa: BLE001 - a card is written even without the manifest entry
        return "unknown (not in data_manifest.yaml)"


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.3g}"
    return str(value).replace("|", "\\|")


def markdown_table(frame: pd.DataFrame) -> str:
    """A DataFrame as a GitHub-flavoured markdown table (floats to 3 significant digits)."""
    if frame.empty:
        return "(none)"
    columns = [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(_cell(v) for v in row) + " |")
    return "\n".join(lines)


def settings_block(settings: dict[str, Any]) -> str:
    """Settings as an indented JSON code block."""
    return "```json\n" + json.dumps(settings, indent=1, sort_keys=True, default=str) + "\n```"


def render_card(title: str, sections: Sequence[tuple[str, str]]) -> str:
    """The markdown of a card: title, the warning, then ``(heading, body)`` sections."""
    parts = [f"# {title}", "", NOT_A_MEDICAL_DEVICE, ""]
    for heading, body in sections:
        parts += [f"## {heading}", "", body.strip(), ""]
    return "\n".join(parts)


def write_card(folder: str | Path, text: str) -> Path:
    """Write ``text`` to ``<folder>/model_card.md`` (atomically); the path."""
    path = Path(folder) / CARD_NAME
    with atomic_write(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    return path
