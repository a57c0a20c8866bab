"""Blind-to-outcome feature selection, as in Study B (sections 2.4.1 and 3.2).

The funnel never looks at the outcome (CAC). Its steps:

Pre-computation (on the IBSI catalogue, :func:`precomputation_selection`)
    1. remove 2D and 2.5D families (487 -> 215 features per bin number);
    2. remove intensity-based statistics, local intensity and morphology (-> 166).

Post-computation (on the extracted cohort table)
    3. :func:`remove_identical` -- features identical across patients (-> 162);
    4. :func:`choose_varieties` -- GLCM and GLRLM exist as 3D averaged and 3D merged;
       compare the two varieties with Spearman correlation at family level and keep the
       one with the larger range (-> 121);
    5. :func:`remove_perfect_pairs` -- of each pair with ``|rho| = 1`` drop the feature
       with the smaller range (-> 118);
    6. :func:`remove_low_range` -- "percent variance" ``variance / mean < 1e-5`` (-> 113);
    7. :func:`recursive_correlation_filter` -- the paper's keep/remove algorithm on
       ``|rho| >= 0.95`` (-> 56);
    8. :mod:`mpirad.radiomics.bin_number` -- identical features,
       low-range features and highly correlated pairs (``|rho| >= 0.9``) per bin number;
       the paper chose 64 bins.

The cohort table is compared per stratum (one ROI at one bin number) through
:mod:`mpirad.radiomics.strata`.

How the paper is read where it is silent (documented choices):

- *Observations.* Features are compared across patients within one *stratum* (one ROI
  at one bin number); correlations and ranges are computed per stratum and summarised by
  their median over the strata (7 ROIs x 8 bin numbers). Pooling ROIs would let ROI size
  dominate every correlation; pooling bin numbers would make e.g. the histogram maximum
  vary although the paper found it identical across patients.
- *Identical* means constant across patients in every stratum.
- *Range* of a feature is ``max - min`` across patients (median over strata).
- *Low dynamic range* uses the signed ratio ``var / mean`` (sample variance), literally:
  a feature with a negative mean (skewness, minimum gradient, cluster shade, first
  information correlation, as the paper lists) has a negative ratio and is removed.
- *Recursive algorithm.* "loop over each feature inside R and find other highly
  correlated features ... and append them to R" is read as one pass over R (neighbours
  of neighbours of the kept feature, a MATLAB ``for`` loop over R); ``transitive=True``
  grows R to the whole connected group instead.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from mpirad.io import atomic_write
from mpirad.radiomics.bin_number import choose_bin_number, per_bin_statistics
from mpirad.radiomics.ibsi import (
    AGG_3D_AVERAGED,
    AGG_3D_MERGED,
    feature_catalogue,
    feature_key,
)
from mpirad.radiomics.strata import (
    FeatureMatrices,
    FunnelInputError,
    dispersion_ratio,
    feature_matrices,
    is_constant,
    median_abs_spearman,
    median_range,
    spearman_matrix,
)

#: Funnel steps in order, with display labels.
STEP_LABELS: dict[str, str] = {
    "catalogue": "IBSI features (per bin number)",
    "3d_only": "2D and 2.5D families removed",
    "a_priori": "statistics, local intensity, morphology removed",
    "computed": "computed (in the feature table)",
    "identical": "identical across patients removed",
    "variety": "one of 3D averaged / merged kept (GLCM, GLRLM)",
    "rho_one": "|rho| = 1 pairs resolved",
    "low_range": "low dynamic range removed",
    "rho_095": "|rho| >= 0.95 removed (recursive)",
    "bin_number": "one bin number chosen",
}

# ---------------------------------------------------------------------------------------
# the steps


@dataclass(frozen=True)
class StepResult:
    """Outcome of one funnel step.

    Attributes:
        kept: feature keys left, in catalogue order.
        removed: feature keys removed by this step.
        details: step-specific diagnostics.
    """

    kept: list[str]
    removed: list[str]
    details: pd.DataFrame | None = None


#: Families removed a priori (section 2.4.1): intensity-based statistics, local
#: intensity and morphology.
A_PRIORI_REMOVED_FAMILIES: tuple[str, ...] = ("stat", "loc", "morph")


def precomputation_selection(catalogue: pd.DataFrame | None = None) -> dict[str, pd.DataFrame]:
    """The paper's two pre-computation steps on the IBSI catalogue.

    Args:
        catalogue: :func:`mpirad.radiomics.ibsi.feature_catalogue` (default).

    Returns:
        ``{"catalogue": 487 rows, "3d_only": 215, "a_priori": 166}``: the catalogue rows
        left after each step.
    """
    catalogue = feature_catalogue() if catalogue is None else catalogue
    three_d = catalogue[catalogue["dimension"] == "3D"]
    kept = three_d[~three_d["family"].isin(A_PRIORI_REMOVED_FAMILIES)]
    return {
        "catalogue": catalogue.reset_index(drop=True),
        "3d_only": three_d.reset_index(drop=True),
        "a_priori": kept.reset_index(drop=True),
    }


def remove_identical(
    data: FeatureMatrices, keys: Sequence[str], *, rtol: float = 1e-9
) -> StepResult:
    """Remove features identical across patients (within ``rtol``, in every stratum)."""
    keys = list(keys)
    constant = pd.concat(
        [is_constant(m[keys], rtol=rtol) for m in data.matrices.values()], axis=1
    ).all(axis=1)
    removed = [k for k in keys if constant[k]]
    return StepResult([k for k in keys if not constant[k]], removed)


def _variety_keys(
    data: FeatureMatrices, keys: Sequence[str], family: str
) -> tuple[list[str], list[str]]:
    identity = data.identity.loc[list(keys)]
    in_family = identity[identity["family"] == family]
    averaged = in_family[in_family["aggregation"] == AGG_3D_AVERAGED]
    merged = in_family[in_family["aggregation"] == AGG_3D_MERGED]
    names = [n for n in averaged["name"] if n in set(merged["name"])]
    avg_keys = [feature_key(family, n, AGG_3D_AVERAGED) for n in names]
    mrg_keys = [feature_key(family, n, AGG_3D_MERGED) for n in names]
    return avg_keys, mrg_keys


def variety_correlation(
    data: FeatureMatrices,
    family: str,
    keys: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Figure 5: median Spearman rho between 3D averaged (rows) and 3D merged (columns).

    Args:
        data: feature matrices (restrict them first to one bin number or ROI if wanted).
        family: ``"cm"`` (GLCM) or ``"rlm"`` (GLRLM).
        keys: features to consider (default all).

    Returns:
        A square DataFrame indexed by feature name (averaged) x name (merged).
    """
    avg_keys, mrg_keys = _variety_keys(data, keys if keys is not None else data.keys, family)
    if not avg_keys:
        raise FunnelInputError(
            f"no {family} features with both 3D averaged and 3D merged varieties"
        )
    stack = []
    for matrix in data.matrices.values():
        rho = spearman_matrix(matrix[avg_keys + mrg_keys]).to_numpy()
        stack.append(rho[: len(avg_keys), len(avg_keys) :])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        median = np.nanmedian(np.stack(stack), axis=0)
    names = [k.split(".", 1)[1].split(" [")[0] for k in avg_keys]
    return pd.DataFrame(
        median, index=pd.Index(names, name="3D averaged"), columns=pd.Index(names, name="3D merged")
    )


def choose_varieties(
    data: FeatureMatrices,
    keys: Sequence[str],
    *,
    families: Sequence[str] = ("cm", "rlm"),
    diagonal_threshold: float = 0.9,
    difference_threshold: float = 0.05,
) -> StepResult:
    """Keep one of the 3D averaged / 3D merged varieties of GLCM and GLRLM.

    For each family: the median (over features) of the diagonal Spearman rho between a
    feature's two varieties, and the mean absolute difference between
    ``|S{averaged}|{others}|`` and ``|S{merged}|{others}|`` (correlations with every
    feature of the other families). If the diagonal is at least ``diagonal_threshold``
    and the difference at most ``difference_threshold`` the varieties are redundant, and
    the one whose features have the larger range (per feature, majority vote; ties keep
    averaged) is kept.

    Returns:
        The step result; ``details`` has one row per family with ``diagonal_median``,
        ``family_difference``, ``averaged_wider`` / ``merged_wider`` (feature counts),
        ``redundant`` and ``kept``.
    """
    keys = list(keys)
    correlation = median_abs_spearman(data, keys)
    ranges = median_range(data, keys)
    removed: list[str] = []
    rows = []
    for family in families:
        avg_keys, mrg_keys = _variety_keys(data, keys, family)
        if not avg_keys:
            continue
        diagonal = np.diag(correlation.loc[avg_keys, mrg_keys].to_numpy())
        others = [k for k in keys if data.identity.loc[k, "family"] != family]
        difference = (
            correlation.loc[avg_keys, others].to_numpy()
            - correlation.loc[mrg_keys, others].to_numpy()
        )
        averaged_wider = int(np.sum(ranges[avg_keys].to_numpy() > ranges[mrg_keys].to_numpy()))
        merged_wider = int(np.sum(ranges[mrg_keys].to_numpy() > ranges[avg_keys].to_numpy()))
        redundant = bool(
            np.median(diagonal) >= diagonal_threshold
            and np.mean(np.abs(difference)) <= difference_threshold
        )
        kept = "both"
        if redundant:
            kept = "3D merged" if merged_wider > averaged_wider else "3D averaged"
            drop_aggregation = AGG_3D_AVERAGED if kept == "3D merged" else AGG_3D_MERGED
            removed += [
                k
                for k in keys
                if data.identity.loc[k, "family"] == family
                and data.identity.loc[k, "aggregation"] == drop_aggregation
            ]
        rows.append(
            {
                "family": family,
                "features": len(avg_keys),
                "diagonal_median": float(np.median(diagonal)),
                "diagonal_min": float(np.min(diagonal)),
                "family_difference": float(np.mean(np.abs(difference))) if difference.size else 0.0,
                "averaged_wider": averaged_wider,
                "merged_wider": merged_wider,
                "redundant": redundant,
                "kept": kept,
            }
        )
    removed_set = set(removed)
    return StepResult([k for k in keys if k not in removed_set], removed, pd.DataFrame(rows))


def remove_perfect_pairs(
    data: FeatureMatrices, keys: Sequence[str], *, tolerance: float = 1e-9
) -> StepResult:
    """Of each pair with ``|rho| = 1``, remove the feature with the smaller range.

    Pairs are visited in catalogue order; equal ranges remove the later feature (as the
    paper removed GLDZM rather than GLSZM zone percentage).

    Returns:
        The step result; ``details`` lists the pairs (``kept``, ``removed``, ``rho``).
    """
    keys = list(keys)
    correlation = median_abs_spearman(data, keys)
    ranges = median_range(data, keys)
    removed: set[str] = set()
    pairs = []
    values = correlation.to_numpy()
    for a in range(len(keys)):
        for b in range(a + 1, len(keys)):
            if (
                values[a, b] >= 1.0 - tolerance
                and keys[a] not in removed
                and keys[b] not in removed
            ):
                first, second = keys[a], keys[b]
                drop = first if ranges[first] < ranges[second] else second
                keep = second if drop == first else first
                removed.add(drop)
                pairs.append({"kept": keep, "removed": drop, "rho": float(values[a, b])})
    return StepResult(
        [k for k in keys if k not in removed],
        [k for k in keys if k in removed],
        pd.DataFrame(pairs, columns=["kept", "removed", "rho"]),
    )


def remove_low_range(
    data: FeatureMatrices, keys: Sequence[str], *, threshold: float = 1e-5
) -> StepResult:
    """Remove features whose median ``var / mean`` is below ``threshold`` (signed; NaN low).

    Returns:
        The step result; ``details`` has the ratio of every feature.
    """
    keys = list(keys)
    ratio = dispersion_ratio(data, keys)
    low = ratio.isna() | (ratio < threshold)
    details = pd.DataFrame(
        {"key": keys, "var_over_mean": ratio.to_numpy(), "low_range": low.to_numpy()}
    )
    return StepResult([k for k in keys if not low[k]], [k for k in keys if low[k]], details)


def recursive_correlation_filter(
    correlation: pd.DataFrame,
    *,
    threshold: float = 0.95,
    transitive: bool = False,
) -> StepResult:
    """The paper's keep/remove algorithm on highly correlated features.

    Features with ``|rho| >= threshold`` to at least one other feature are sorted by
    their number of such partners (descending; ties in the given order) into
    ``F_sorted``. Repeatedly: the first of ``F_sorted`` is kept; its partners form ``R``;
    each member of ``R`` adds its own partners to ``R`` (one pass, or until nothing
    changes with ``transitive``); the kept feature and ``R`` leave ``F_sorted``. Features
    without partners are kept.

    Args:
        correlation: square ``|rho|`` matrix (index = columns = feature keys).
        threshold: ``|rho|`` at or above which two features are redundant.
        transitive: grow ``R`` to the whole connected group.

    Returns:
        The step result; ``details`` lists each kept "hub" feature, its partner count and
        the features removed with it.
    """
    keys = list(correlation.index)
    high = correlation.to_numpy() >= threshold
    np.fill_diagonal(high, False)
    partners = {k: {keys[j] for j in np.flatnonzero(high[i])} for i, k in enumerate(keys)}
    degree = {k: len(partners[k]) for k in keys}
    position = {k: i for i, k in enumerate(keys)}
    remaining = sorted((k for k in keys if degree[k] > 0), key=lambda k: (-degree[k], position[k]))
    kept_hubs, removed, rows = [], set(), []
    while remaining:
        hub = remaining[0]
        kept_hubs.append(hub)
        group = [k for k in sorted(partners[hub], key=position.get) if k != hub]
        seen = set(group) | {hub}
        index = 0
        stop = len(group)
        while index < (len(group) if transitive else stop):
            for partner in sorted(partners[group[index]], key=position.get):
                if partner not in seen:
                    seen.add(partner)
                    group.append(partner)
            index += 1
        still = set(remaining)
        dropped = [k for k in group if k in still]
        removed.update(dropped)
        remaining = [k for k in remaining if k != hub and k not in set(group)]
        rows.append(
            {
                "kept": hub,
                "partners": degree[hub],
                "removed": ", ".join(dropped),
                "n_removed": len(dropped),
            }
        )
    return StepResult(
        [k for k in keys if k not in removed],
        [k for k in keys if k in removed],
        pd.DataFrame(rows, columns=["kept", "partners", "removed", "n_removed"]),
    )


# ---------------------------------------------------------------------------------------
# the whole funnel


@dataclass
class FunnelResult:
    """Everything the funnel decided.

    Attributes:
        counts: step id (:data:`STEP_LABELS`) -> features left (per bin number).
        selected: the final feature keys (at :attr:`n_bins`).
        n_bins: the chosen bin number.
        per_bin_stats: :func:`~mpirad.radiomics.bin_number.per_bin_statistics` of the
            selected features.
        removed: step id -> feature keys removed there.
        steps: step id -> :class:`StepResult` (with diagnostics).
        identity: per feature key: family, name, aggregation, ibsi_code.
        patients: patients the selection was made on.
        left_out: patients left out because some of their cases failed extraction
            (:func:`mpirad.radiomics.cohort.complete_cases`); ids, for the site's own use.
    """

    counts: dict[str, int]
    selected: list[str]
    n_bins: int
    per_bin_stats: pd.DataFrame
    removed: dict[str, list[str]] = field(default_factory=dict)
    steps: dict[str, StepResult] = field(default_factory=dict)
    identity: pd.DataFrame | None = None
    patients: int = 0
    left_out: tuple[str, ...] = ()

    @property
    def left_out_note(self) -> str:
        """How many patients were left out because their extraction failed (a count)."""
        from mpirad.radiomics.cohort import CompleteCases

        return CompleteCases(pd.DataFrame(), self.left_out).note

    def counts_table(self) -> pd.DataFrame:
        """The counts as a table with step labels."""
        return pd.DataFrame(
            {
                "step": list(self.counts),
                "description": [STEP_LABELS[s] for s in self.counts],
                "features": list(self.counts.values()),
            }
        )

    def save(self, folder: str | Path) -> Path:
        """Write ``counts.csv``, ``selected.txt`` (one feature key per line, with the bin
        number in ``n_bins.txt``) and ``per_bin_stats.csv`` into ``folder`` (atomically).

        Returns:
            ``folder``.
        """
        folder = Path(folder)
        with atomic_write(folder / "counts.csv", "w", encoding="utf-8") as handle:
            self.counts_table().to_csv(handle, index=False)
        with atomic_write(folder / "selected.txt", "w", encoding="utf-8") as handle:
            handle.write("".join(f"{key}\n" for key in self.selected))
        with atomic_write(folder / "n_bins.txt", "w", encoding="utf-8") as handle:
            handle.write(f"{self.n_bins}\n")
        with atomic_write(folder / "per_bin_stats.csv", "w", encoding="utf-8") as handle:
            self.per_bin_stats.to_csv(handle, index=False)
        return folder

    def selected_table(self) -> pd.DataFrame:
        """The selected features with their IBSI identity (the Table 2 analogue)."""
        if self.identity is None:
            return pd.DataFrame({"key": self.selected})
        table = self.identity.loc[self.selected].reset_index()
        return table.loc[
            :,
            [
                c
                for c in ("key", "family", "name", "aggregation", "ibsi_code")
                if c in table.columns
            ],
        ]


def run_funnel(
    features: pd.DataFrame,
    *,
    identical_rtol: float = 1e-9,
    low_range_threshold: float = 1e-5,
    correlation_threshold: float = 0.95,
    pair_threshold: float = 0.9,
    preferred_n_bins: int = 64,
    transitive: bool = False,
) -> FunnelResult:
    """Run the whole blind-to-outcome selection on a cohort feature table.

    Args:
        features: :func:`mpirad.radiomics.extract_cohort` output (any engine; features
            of removed families are dropped by the pre-computation steps).
        identical_rtol: relative tolerance for "identical" (:func:`remove_identical`).
        low_range_threshold: ``var / mean`` threshold (paper: 1e-5).
        correlation_threshold: ``|rho|`` for the recursive filter (paper: 0.95).
        pair_threshold: ``|rho|`` for the per-bin-number pair count (paper: 0.9).
        preferred_n_bins: bin number preferred among equivalent ones (paper: 64).
        transitive: see :func:`recursive_correlation_filter`.

    Patients whose extraction failed for some ROI (absent from a stratum as a whole) are
    left out and counted (:attr:`FunnelResult.left_out`), not refused.

    Returns:
        The :class:`FunnelResult`.

    Raises:
        FunnelInputError: unusable table (see :func:`~mpirad.radiomics.strata.feature_matrices`), or no feature of
            the a priori kept families.
    """
    from mpirad.radiomics.cohort import complete_cases

    complete = complete_cases(features)
    data = feature_matrices(complete.features)
    counts, computed = _precomputation_counts(data)
    steps = _post_computation_steps(
        data,
        computed,
        identical_rtol=identical_rtol,
        low_range_threshold=low_range_threshold,
        correlation_threshold=correlation_threshold,
        transitive=transitive,
    )
    for step, result in steps.items():
        counts[step] = len(result.kept)
    selected = steps["rho_095"].kept
    stats = per_bin_statistics(
        data, selected, low_range_threshold=low_range_threshold, pair_threshold=pair_threshold
    )
    n_bins, eligible = choose_bin_number(stats, preferred=preferred_n_bins)
    stats["eligible"] = stats["n_bins"].map(eligible).astype(bool)
    stats["chosen"] = stats["n_bins"] == n_bins
    counts["bin_number"] = len(selected)
    return FunnelResult(
        counts=counts,
        selected=selected,
        n_bins=n_bins,
        per_bin_stats=stats,
        removed={s: r.removed for s, r in steps.items()},
        steps=steps,
        identity=data.identity,
        patients=len(next(iter(data.matrices.values()))),
        left_out=complete.left_out,
    )


def _precomputation_counts(data: FeatureMatrices) -> tuple[dict[str, int], list[str]]:
    """Counts of the catalogue steps, and the computed features the a priori steps keep.

    Raises:
        FunnelInputError: the table has none of those features.
    """
    pre = precomputation_selection()
    kept_catalogue = set(pre["a_priori"]["key"])
    computed = [k for k in data.keys if k in kept_catalogue]
    if not computed:
        raise FunnelInputError(
            "the feature table has none of the features the pre-computation steps keep"
        )
    counts = {
        "catalogue": len(pre["catalogue"]),
        "3d_only": len(pre["3d_only"]),
        "a_priori": len(pre["a_priori"]),
        "computed": len(computed),
    }
    return counts, computed


def _post_computation_steps(
    data: FeatureMatrices,
    computed: list[str],
    *,
    identical_rtol: float,
    low_range_threshold: float,
    correlation_threshold: float,
    transitive: bool,
) -> dict[str, StepResult]:
    """Steps 3-7 in turn, each on the features the previous one kept (see the module)."""
    steps: dict[str, StepResult] = {}
    steps["identical"] = remove_identical(data, computed, rtol=identical_rtol)
    steps["variety"] = choose_varieties(data, steps["identical"].kept)
    steps["rho_one"] = remove_perfect_pairs(data, steps["variety"].kept)
    steps["low_range"] = remove_low_range(
        data, steps["rho_one"].kept, threshold=low_range_threshold
    )
    correlation = median_abs_spearman(data, steps["low_range"].kept)
    steps["rho_095"] = recursive_correlation_filter(
        correlation, threshold=correlation_threshold, transitive=transitive
    )
    return steps
