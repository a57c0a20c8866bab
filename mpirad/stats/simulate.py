"""Simulated Study B tables with planted terms, for tests, benchmarks and examples.

This is not the synthetic cohort (that is :mod:`mpirad.phantom`, which renders images);
it draws the *tables* the statistics consume directly, with a known answer: which
clinical and radiomic columns drive each ROI's CAC score.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mpirad.constants import ROI_CAC, ROI_NAMES

#: Race levels of the simulated clinical table (a multi-level categorical column).
RACE_LEVELS: tuple[str, ...] = ("asian", "black", "other", "white")


@dataclass(frozen=True)
class SimulatedStudyB:
    """Simulated inputs of the Study B statistics.

    Attributes:
        radiomic: ROI -> (patients, n_features) table indexed by ``patient_id``; columns
            ``feat_00`` ... with mixed scales and a correlated block.
        clinical: ``patient_id`` + the ten clinical columns (``sex`` "F"/"M", ``race``
            strings, 0/1 risk factors, ``age`` years, ``bmi`` kg/m^2, ``lvef`` %).
        cac: ``patient_id`` + ``cac_lad``, ``cac_lcx``, ``cac_rca``, ``cac_lm``,
            ``cac_total`` (Agatston-like, about 40% zeros, heavy right tail).
        planted_clinical: clinical columns that drive every artery's CAC.
        planted_radiomic: ROI -> radiomic columns that drive that ROI's CAC.
    """

    radiomic: dict[str, pd.DataFrame]
    clinical: pd.DataFrame
    cac: pd.DataFrame
    planted_clinical: tuple[str, ...]
    planted_radiomic: dict[str, tuple[str, ...]]


def simulate_study_b(
    n_patients: int = 428,
    n_features: int = 56,
    *,
    rois: Sequence[str] = ROI_NAMES,
    radiomic_effect: float = 0.8,
    seed: int = 0,
) -> SimulatedStudyB:
    """Draw a Study B-like cohort of tables with planted effects.

    log1p(CAC) of each artery is ``2.2 + 1.1 * z(age) + 0.9 * hyperlipidemia + 0.6 *
    hypertension + radiomic_effect * z(feat_00) + noise``, where z(feat_00) is the mean of the
    standardised ``feat_00`` of the ROIs whose outcome is that artery or the total (e.g.
    LADMIM, LAD17 and myocardium for ``cac_lad``); zero for a latent share of patients (a
    two-part model). Every other column is noise.

    Args:
        n_patients: number of patients (ids ``P0001`` ...).
        n_features: radiomic features per ROI (>= 2).
        rois: ROIs to draw features for.
        radiomic_effect: coefficient of the planted radiomic feature on log1p(CAC) scale.
        seed: random seed.

    Returns:
        :class:`SimulatedStudyB`.
    """
    if n_features < 2:
        raise ValueError("need at least 2 radiomic features")
    rng = np.random.default_rng(seed)
    ids = pd.Index([f"P{i + 1:04d}" for i in range(n_patients)], name="patient_id")
    age = rng.normal(64, 11, n_patients).clip(30, 90)
    clinical = _clinical_table(rng, ids, age)
    radiomic, planted_feature = _radiomic_tables(rng, ids, rois, n_features)
    cac = _cac_table(rng, ids, age, clinical, rois, planted_feature, radiomic_effect)
    return SimulatedStudyB(
        radiomic=radiomic,
        clinical=clinical,
        cac=cac,
        planted_clinical=("age", "hyperlipidemia", "hypertension"),
        planted_radiomic={roi: ("feat_00",) for roi in rois},
    )


def _clinical_table(rng: np.random.Generator, ids: pd.Index, age: np.ndarray) -> pd.DataFrame:
    """``patient_id`` + the ten clinical columns (draws in column order)."""
    n_patients = len(ids)
    return pd.DataFrame(
        {
            "patient_id": ids,
            "sex": np.where(rng.random(n_patients) < 0.5, "M", "F"),
            "race": rng.choice(RACE_LEVELS, n_patients, p=[0.08, 0.3, 0.07, 0.55]),
            "age": age.round(1),
            "smoking": (rng.random(n_patients) < 0.15).astype(int),
            "diabetes": (rng.random(n_patients) < 0.28).astype(int),
            "hypertension": (rng.random(n_patients) < 0.65).astype(int),
            "hyperlipidemia": (rng.random(n_patients) < 0.55).astype(int),
            "family_history": (rng.random(n_patients) < 0.3).astype(int),
            "bmi": rng.normal(29, 6, n_patients).clip(16, 55).round(1),
            "lvef": rng.normal(66, 8, n_patients).clip(30, 85).round(0),
        }
    )


def _radiomic_tables(
    rng: np.random.Generator, ids: pd.Index, rois: Sequence[str], n_features: int
) -> tuple[dict[str, pd.DataFrame], dict[str, np.ndarray]]:
    """ROI -> feature table, and ROI -> its standardised planted feature (``feat_00``)."""
    n_patients = len(ids)
    scales = 10.0 ** rng.uniform(-3, 4, n_features)
    shared = rng.normal(size=(n_patients, 1))
    radiomic: dict[str, pd.DataFrame] = {}
    planted_feature: dict[str, np.ndarray] = {}
    for roi in rois:
        noise = rng.normal(size=(n_patients, n_features))
        noise[:, 1:6] += 0.8 * shared  # a correlated block
        values = noise * scales + scales
        radiomic[roi] = pd.DataFrame(
            values, index=ids, columns=[f"feat_{j:02d}" for j in range(n_features)]
        )
        planted_feature[roi] = (noise[:, 0] - noise[:, 0].mean()) / noise[:, 0].std()
    return radiomic, planted_feature


def _cac_table(
    rng: np.random.Generator,
    ids: pd.Index,
    age: np.ndarray,
    clinical: pd.DataFrame,
    rois: Sequence[str],
    planted_feature: dict[str, np.ndarray],
    radiomic_effect: float,
) -> pd.DataFrame:
    """``patient_id`` + per-artery and total CAC from the two-part model of the docstring."""
    n_patients = len(ids)
    z_age = (age - age.mean()) / age.std()
    arteries = {"cac_lad": 0.45, "cac_lcx": 0.25, "cac_rca": 0.3}
    cac = pd.DataFrame({"patient_id": ids})
    any_calcium = rng.random(n_patients) < 1 / (1 + np.exp(-(0.4 + 1.2 * z_age)))
    for column, share in arteries.items():
        drivers = [planted_feature[r] for r in rois if ROI_CAC[r] in (column, "cac_total")]
        image = np.mean(drivers, axis=0) if drivers else np.zeros(n_patients)
        log_score = (
            2.2
            + 1.1 * z_age
            + 0.9 * clinical["hyperlipidemia"].to_numpy()
            + 0.6 * clinical["hypertension"].to_numpy()
            + radiomic_effect * image
            + np.log(share)
            + rng.normal(0, 0.8, n_patients)
        )
        cac[column] = np.where(any_calcium, np.expm1(np.maximum(log_score, 0)), 0.0).round(1)
    cac["cac_lm"] = np.where(any_calcium, rng.exponential(5, n_patients), 0.0).round(1)
    cac["cac_total"] = cac[["cac_lad", "cac_lcx", "cac_rca", "cac_lm"]].sum(axis=1)
    return cac
