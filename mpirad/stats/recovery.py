"""Does the protocol find the planted signal? Recall and precision of the winning models.

A synthetic cohort knows which features carry CAC signal: :mod:`mpirad.stats.simulate`
plants named columns (:func:`planted_from_simulation`), and the image cohort of
:mod:`mpirad.phantom.study_b` writes its model to ``truth.json``
(:func:`planted_from_truth`). :func:`recovery_table` says, per ROI and pool, how often the
50 winning models contain planted terms and how many of their terms are planted (recall and
precision), next to the precision a random pick from the pool would have;
:func:`planted_ranks` gives the univariate Spearman ranks of the planted radiomic features.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mpirad.stats.design import TERM_SEPARATOR

#: IBSI texture-matrix families (grey level co-occurrence, run length, size zone, distance
#: zone, neighbourhood grey tone difference, neighbouring grey level dependence): the
#: "texture heterogeneity / irregularity features" of the phantom's planted signal.
TEXTURE_FAMILIES: tuple[str, ...] = ("cm", "rlm", "szm", "dzm", "ngt", "ngl")

#: ``truth.json`` CAC-model variables -> clinical columns (``age_per_10y`` -> ``age``).
_TRUTH_CLINICAL = {"male": "sex", "black": "race"}


@dataclass(frozen=True)
class PlantedTerms:
    """The terms that carry outcome signal by construction.

    Attributes:
        radiomic: ROI -> planted radiomic columns of that ROI's table.
        clinical: planted clinical columns (every ROI's outcome).
        source: where the truth comes from (shown in tables).
    """

    radiomic: Mapping[str, frozenset[str]]
    clinical: frozenset[str]
    source: str = ""

    def pool_terms(self, roi: str, pool: str) -> frozenset[str]:
        """The planted terms of one ROI x pool (combined: radiomic and clinical)."""
        radiomic = self.radiomic.get(roi, frozenset())
        return {
            "radiomic": radiomic,
            "clinical": self.clinical,
            "combined": radiomic | self.clinical,
        }[pool]


def planted_from_simulation(simulated: object) -> PlantedTerms:
    """The planted terms of a :class:`mpirad.stats.simulate.SimulatedStudyB`."""
    return PlantedTerms(
        radiomic={roi: frozenset(t) for roi, t in simulated.planted_radiomic.items()},
        clinical=frozenset(simulated.planted_clinical),
        source="mpirad.stats.simulate",
    )


def planted_from_truth(
    truth: Mapping,
    radiomic_columns: Mapping[str, Sequence[str]],
    families: Sequence[str] = TEXTURE_FAMILIES,
) -> PlantedTerms:
    """The planted terms of the phantom cohort's ``truth.json``.

    The clinical terms are the variables of its CAC model (``cac_model``: presence
    log-odds and amount coefficients; ``age_per_10y`` -> ``age``, ``male`` -> ``sex``,
    ``black`` -> ``race``). The image signal is a mechanism, not a list of features
    (``planted_signal``: fine-scale uptake heterogeneity that rises with the territory's
    CAC); its features are read as the texture families ``families`` (default
    :data:`TEXTURE_FAMILIES`; the family is the feature name's prefix before ``"."``).

    Args:
        truth: the parsed ``truth.json``.
        radiomic_columns: ROI -> the radiomic columns analysed.
        families: feature families counted as planted.
    """
    model = truth.get("cac_model", {})
    variables = {
        *model.get("presence_log_odds", {}),
        *model.get("amount_coefficients", {}),
    }
    clinical = {_TRUTH_CLINICAL.get(v, v.split("_per_")[0]) for v in variables}
    radiomic = {
        roi: frozenset(c for c in columns if c.split(".", 1)[0] in families)
        for roi, columns in radiomic_columns.items()
    }
    source = f"truth.json (texture families {', '.join(families)})"
    return PlantedTerms(radiomic, frozenset(clinical), source)


def _model_counts(terms: str, planted: frozenset[str]) -> tuple[int, int]:
    """(terms in the model, planted terms among them)."""
    names = [t for t in str(terms).split(TERM_SEPARATOR) if t]
    return len(names), sum(name in planted for name in names)


def recovery_table(
    runs: pd.DataFrame,
    planted: PlantedTerms,
    pool_columns: Mapping[tuple[str, str], Sequence[str]] | None = None,
) -> pd.DataFrame:
    """Recall and precision of the winning models against the planted terms.

    Args:
        runs: :attr:`mpirad.stats.ProtocolResult.runs` (one winning model per repeat).
        planted: :class:`PlantedTerms`.
        pool_columns: (ROI, pool) -> the pool's columns, for the chance baseline; optional.

    Returns:
        One row per ROI x pool: ``n_repeats``, ``n_models`` (repeats with a winner),
        ``n_planted`` (planted terms in the pool), ``mean_terms``, ``with_planted``
        (share of models with at least one planted term), ``with_other`` (share with at
        least one term that is not planted), ``recall`` (mean share of the planted terms
        a model contains), ``precision`` (planted terms / all terms, over all models) and,
        with ``pool_columns``, ``pool_size`` and ``chance_precision`` (planted share of
        the pool: the precision of terms picked at random).
    """
    rows = []
    for (roi, pool), group in runs.groupby(["roi", "pool"], sort=False):
        truth = planted.pool_terms(roi, pool)
        models = group[group["terms"].fillna("") != ""]
        counts = np.array([_model_counts(t, truth) for t in models["terms"]]).reshape(-1, 2)
        sizes, hits = counts[:, 0], counts[:, 1]
        row = {
            "roi": roi,
            "pool": pool,
            "n_repeats": len(group),
            "n_models": len(models),
            "n_planted": len(truth),
            "mean_terms": sizes.mean() if sizes.size else np.nan,
            "with_planted": (hits > 0).mean() if sizes.size else np.nan,
            "with_other": (sizes > hits).mean() if sizes.size else np.nan,
            "recall": (hits / len(truth)).mean() if sizes.size and truth else np.nan,
            "precision": hits.sum() / sizes.sum() if sizes.sum() else np.nan,
        }
        if pool_columns is not None:
            columns = pool_columns.get((roi, pool), [])
            row["pool_size"] = len(columns)
            row["chance_precision"] = (
                sum(c in truth for c in columns) / len(columns) if columns else np.nan
            )
        rows.append(row)
    return pd.DataFrame(rows)


def planted_ranks(
    univariate: pd.DataFrame, planted: PlantedTerms, scale: str = "continuous"
) -> pd.DataFrame:
    """Univariate Spearman ranks (1 = largest |rho|) of the planted radiomic features.

    Args:
        univariate: :func:`mpirad.stats.univariate_spearman`'s table.
        planted: :class:`PlantedTerms`.
        scale: ``"continuous"`` or ``"berman"``.

    Returns:
        One row per ROI: ``n_features``, ``n_planted``, ``best_rank``, ``median_rank``
        (of the planted features), ``planted_in_top10`` and ``mean_rank_percentile``
        (0 = top, 1 = bottom; 0.5 when planted features rank like the others).
    """
    rows = []
    table = univariate[univariate["scale"] == scale]
    for roi, group in table.groupby("roi", sort=False):
        ranks = group["abs_rho"].rank(ascending=False, method="min")
        is_planted = group["feature"].isin(planted.radiomic.get(roi, frozenset()))
        chosen = ranks[is_planted.to_numpy()]
        n = len(group)
        rows.append(
            {
                "roi": roi,
                "n_features": n,
                "n_planted": int(is_planted.sum()),
                "best_rank": chosen.min() if len(chosen) else np.nan,
                "median_rank": chosen.median() if len(chosen) else np.nan,
                "planted_in_top10": int((chosen <= 10).sum()),
                "mean_rank_percentile": ((chosen - 1) / max(n - 1, 1)).mean()
                if len(chosen)
                else np.nan,
            }
        )
    return pd.DataFrame(rows)


def pool_columns(
    radiomic: Mapping[str, pd.DataFrame], clinical_features: Sequence[str], pools: Sequence[str]
) -> dict[tuple[str, str], list[str]]:
    """(ROI, pool) -> the pool's columns (radiomic table columns and/or clinical features)."""
    out = {}
    for roi, table in radiomic.items():
        features = [c for c in table.columns if c != "patient_id"]
        parts = {"radiomic": features, "clinical": list(clinical_features)}
        parts["combined"] = features + list(clinical_features)
        out.update({(roi, pool): parts[pool] for pool in pools})
    return out
