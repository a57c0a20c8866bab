"""Apply the winning models of a Study B protocol run to patients (``mpirad predict cac``).

A *model folder* is what ``mpirad outcome`` (or the outcome chapter) wrote:
``config.json``, ``models.parquet`` (:attr:`ProtocolResult.models`: every repeat's
winning model, one row per coefficient), ``model_inputs.json`` (the bin number and the
features the protocol read, :func:`write_model_inputs`) and ``model_card.md``. For each
patient, ROI and pool, every repeat's model predicts the outcome; the outcome transform is
inverted (``log1p`` -> ``expm1``) to give a CAC score, and the spread over the repeats'
models is summarised as in the paper's Figure 10 (median, min, max), clipped at 0 for
display with the raw linear predictions kept in ``_raw`` columns and a ``clipped`` flag
(:mod:`mpirad.stats.cac`), and the Berman category of the clipped median.

Patients come from a Study B dataset (:func:`dataset_tables`: its feature table at the
protocol's bin number, and its ``clinical.csv``) or from any per-ROI tables
(:func:`predict_repeats`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from mpirad.constants import CLINICAL_FEATURES, ROI_NAMES
from mpirad.io import atomic_write
from mpirad.io.atomic import write_json
from mpirad.modelcard import CARD_NAME
from mpirad.stats.cac import clip_columns, predicted_berman
from mpirad.stats.models import MODELS_FILE, MissingFeatureError, apply_model, model_features
from mpirad.stats.pool import POOLS, index_by_patient
from mpirad.stats.protocol import ProtocolConfig

if TYPE_CHECKING:
    from mpirad.manifest import Dataset

#: Beside the tables: the bin number and the features the protocol was run on.
MODEL_INPUTS_FILE = "model_inputs.json"

__all__ = [
    "CacModels",
    "MissingFeatureError",
    "ProtocolModelError",
    "dataset_tables",
    "load_cac_models",
    "predict_repeats",
    "summarise_predictions",
    "write_cac_predictions",
    "write_model_inputs",
]


class ProtocolModelError(ValueError):
    """A folder that holds no protocol run with its models (names the folder and the file)."""


@dataclass(frozen=True)
class CacModels:
    """The winning models of a protocol run.

    Attributes:
        directory: the run's folder.
        config: its :class:`ProtocolConfig` (``outcome_transform`` is inverted).
        models: :attr:`ProtocolResult.models`.
        n_bins: the bin number of its radiomic features (None: not recorded).
        card: its ``model_card.md`` (None when absent).
    """

    directory: Path
    config: ProtocolConfig
    models: pd.DataFrame
    n_bins: int | None
    card: Path | None


def write_model_inputs(folder: str | Path, n_bins: int | None, selected: list[str]) -> Path:
    """Write ``model_inputs.json`` (bin number, selected radiomic features) into ``folder``."""
    path = Path(folder) / MODEL_INPUTS_FILE
    with atomic_write(path, "w", encoding="utf-8") as handle:
        json.dump({"n_bins": n_bins, "selected": list(selected)}, handle, indent=1)
        handle.write("\n")
    return path


def load_cac_models(directory: str | Path) -> CacModels:
    """Read a protocol run's models.

    Raises:
        ProtocolModelError: no such folder, no ``config.json``, no ``models.parquet`` (a
            run older than the table: rerun ``mpirad outcome --force``) or no model at all.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise ProtocolModelError(f"{directory}: no such model folder")
    config_path, models_path = directory / "config.json", directory / MODELS_FILE
    if not config_path.is_file():
        raise ProtocolModelError(
            f"{directory}: not a Study B protocol run (no config.json); give the folder "
            "`mpirad outcome` wrote, e.g. build/stats/<dataset>/aic"
        )
    if not models_path.is_file():
        raise ProtocolModelError(
            f"{directory}: no {MODELS_FILE} (the run predates stored models); rerun "
            "`mpirad outcome ... --force` to keep each repeat's winning model"
        )
    config = ProtocolConfig(**json.loads(config_path.read_text(encoding="utf-8")))
    models = pd.read_parquet(models_path)
    if models.empty:
        raise ProtocolModelError(f"{models_path}: no repeat found a model with a term")
    inputs_path = directory / MODEL_INPUTS_FILE
    n_bins = None
    if inputs_path.is_file():
        n_bins = json.loads(inputs_path.read_text(encoding="utf-8")).get("n_bins")
    card = directory / CARD_NAME
    return CacModels(directory, config, models, n_bins, card if card.is_file() else None)


def dataset_tables(
    ds: Dataset, models: CacModels, *, features: str | Path | None = None
) -> tuple[dict[str, pd.DataFrame], pd.DataFrame | None]:
    """Per-ROI tables (radiomic features + clinical columns) of a Study B dataset's patients.

    Args:
        ds: the dataset to predict.
        models: the models (their ROIs, features and bin number).
        features: its feature table (default ``build/features/<name>/features.parquet``).

    Returns:
        ``(ROI -> table indexed by patient_id, cac.csv or None)``.

    Raises:
        MissingFeatureError: the dataset lacks a feature table, or a feature a model uses
            (named with the ROI and dataset).
    """
    from mpirad.io.clinical_tables import read_cohort_tables
    from mpirad.pipeline.paths import features_path

    clinical, cac = read_cohort_tables(ds)
    clinical = index_by_patient(clinical, f"{ds.name}: clinical.csv")
    path = Path(features) if features else features_path(ds.name)
    rois = [r for r in _ordered(models.models["roi"], ROI_NAMES)]
    radiomic_needed = models.models["pool"] != "clinical"
    radiomic: dict[str, pd.DataFrame] = {}
    if radiomic_needed.any():
        radiomic = _radiomic_tables(path, models.n_bins, ds.name)
    tables = {}
    for roi in rois:
        wanted = model_features(models.models[(models.models["roi"] == roi) & radiomic_needed])
        wanted = [f for f in wanted if f not in CLINICAL_FEATURES]
        if wanted and roi not in radiomic:
            raise MissingFeatureError(f"{ds.name}: no radiomic features for ROI {roi!r} ({path})")
        table = clinical
        if roi in radiomic:
            missing = [f for f in wanted if f not in radiomic[roi].columns]
            if missing:
                raise MissingFeatureError(
                    f"{ds.name}: ROI {roi!r}: the feature table {path} lacks feature(s) "
                    f"{missing[:5]} used by the models (another selection or bin number?)"
                )
            table = radiomic[roi][wanted].join(clinical, how="inner")
        tables[roi] = table
    return tables, cac


def _radiomic_tables(path: Path, n_bins: int | None, name: str) -> dict[str, pd.DataFrame]:
    """ROI -> wide radiomic table of a dataset's feature table at the models' bin number."""
    from mpirad.stats.inputs import wide_features

    if not path.is_file():
        raise MissingFeatureError(
            f"{name}: no feature table {path}; run `mpirad extract --dataset {name}` first"
        )
    table = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    try:
        return wide_features(table, n_bins=n_bins)
    except ValueError as exc:
        raise MissingFeatureError(f"{name}: {path}: {exc}") from None


def _ordered(values: pd.Series, order) -> list[str]:
    """The distinct ``values`` in ``order`` first, then the others as they come."""
    distinct = list(dict.fromkeys(values.astype(str)))
    return [v for v in order if v in distinct] + [v for v in distinct if v not in order]


def predict_repeats(models: CacModels, tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Every repeat's model applied to the patients of ``tables``.

    Args:
        models: :func:`load_cac_models`' result (or one built from a ProtocolResult).
        tables: ROI -> (patients x features) indexed by ``patient_id`` with the features of
            every pool's models (radiomic and clinical columns).

    Returns:
        One row per ROI x pool x repeat x patient: ``roi``, ``pool``, ``outcome``,
        ``repeat``, ``patient_id``, ``y_pred`` (the protocol's outcome scale, as its
        ``predictions`` table), ``cac_pred`` (CAC score); NaN for a patient with a
        categorical level the model was not fitted with.
    """
    frames = []
    for (roi, pool, outcome, repeat), model in models.models.groupby(
        ["roi", "pool", "outcome", "repeat"], sort=False
    ):
        if roi not in tables:
            raise MissingFeatureError(f"no patients' table for ROI {roi!r}")
        X = index_by_patient(tables[roi], f"ROI {roi!r}")
        y = apply_model(model, X, where=f"the table of ROI {roi!r}")
        frames.append(
            pd.DataFrame(
                {
                    "roi": roi,
                    "pool": pool,
                    "outcome": outcome,
                    "repeat": repeat,
                    "patient_id": X.index.astype(str),
                    "y_pred": y,
                }
            )
        )
    long = pd.concat(frames, ignore_index=True)
    transform = models.config.outcome_transform
    long["cac_pred"] = np.expm1(long["y_pred"]) if transform == "log1p" else long["y_pred"]
    return long


def summarise_predictions(long: pd.DataFrame, cac: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per patient x ROI x pool: the spread of the repeats' CAC predictions (Figure 10).

    Args:
        long: :func:`predict_repeats`' table.
        cac: optional ``cac.csv`` (``patient_id`` + CAC columns): adds the true score.

    Returns:
        ``patient_id``, ``roi``, ``pool``, ``outcome``, ``n_models`` (repeats predicting
        the patient), ``n_unpredicted`` (repeats that could not: an unknown level),
        ``cac_median``, ``cac_min``, ``cac_max`` (Agatston, clipped at 0: a score is
        never shown negative), each followed by its ``..._raw`` twin (the raw linear
        prediction, possibly negative), ``berman`` (of the clipped median), ``clipped``
        (True where a raw median, min or max was below 0), and with ``cac``:
        ``cac_true``, ``berman_true``.
    """
    keys = ["patient_id", "roi", "pool", "outcome"]
    grouped = long.groupby(keys, sort=False)["cac_pred"]
    table = grouped.agg(
        n_models="count", cac_median="median", cac_min="min", cac_max="max"
    ).reset_index()
    table.insert(5, "n_unpredicted", grouped.size().to_numpy() - table["n_models"])
    table = clip_columns(table, ["cac_median", "cac_min", "cac_max"], flag="clipped")
    table.insert(table.columns.get_loc("cac_max_raw") + 1, "berman", "")
    table["berman"] = table["cac_median"].map(predicted_berman)
    if cac is not None:
        truth = index_by_patient(cac, "cac.csv")
        table["cac_true"] = [
            truth.at[p, o] if p in truth.index else np.nan
            for p, o in zip(table["patient_id"], table["outcome"], strict=True)
        ]
        table["berman_true"] = table["cac_true"].map(predicted_berman)
    roi_rank = {r: k for k, r in enumerate(_ordered(table["roi"], ROI_NAMES))}
    pool_rank = {p: k for k, p in enumerate(_ordered(table["pool"], POOLS))}
    order = np.lexsort(
        (table["pool"].map(pool_rank), table["roi"].map(roi_rank), table["patient_id"])
    )
    return table.iloc[order].reset_index(drop=True)


def write_cac_predictions(
    table: pd.DataFrame, long: pd.DataFrame, models: CacModels, out_dir: str | Path
) -> Path:
    """Write ``predictions.csv``, ``predictions.json`` (with the model and its card) and
    ``per_model.csv`` (every repeat's prediction) under ``out_dir``; the folder."""
    out_dir = Path(out_dir)
    with atomic_write(out_dir / "predictions.csv", "w", encoding="utf-8") as handle:
        table.to_csv(handle, index=False)
    with atomic_write(out_dir / "per_model.csv", "w", encoding="utf-8") as handle:
        long.to_csv(handle, index=False)
    document = {
        "model": str(models.directory),
        "model_card": str(models.card) if models.card else None,
        "outcome_transform": models.config.outcome_transform,
        "n_bins": models.n_bins,
        "rows": json.loads(table.to_json(orient="records")),
    }
    write_json(out_dir / "predictions.json", document)
    return out_dir
