"""The radiomics chapter in sentences: the funnel's bin number and features against the
paper's (:mod:`mpirad.radiomics.paper_b`), from the run's :class:`FunnelResult` tables.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from mpirad.findings import listing
from mpirad.radiomics.paper_b import PAPER_FUNNEL_COUNTS, PAPER_N_BINS, paper_table2


def radiomics_results(
    n_bins: int, selected: Sequence[str], counts: Mapping[str, int], n_patients: int
) -> list[str]:
    """What the funnel found.

    Args:
        n_bins: the chosen bin number.
        selected: the selected feature keys.
        counts: features left after each funnel step (:attr:`FunnelResult.counts`).
        n_patients: patients whose features entered the funnel.
    """
    first = counts.get("computed", next(iter(counts.values()), 0))
    return [
        f"From {first} computed features of {n_patients} patients, the blind-to-outcome "
        f"funnel kept **{len(selected)} features** at **{n_bins} bins**.",
        "Families of the kept features: "
        + listing([f"{family} {n}" for family, n in _families(selected).items()])
        + ".",
    ]


def _families(keys: Sequence[str]) -> dict[str, int]:
    return pd.Series([k.split(".")[0] for k in keys], dtype=str).value_counts().to_dict()


def radiomics_comparison(
    n_bins: int, selected: Sequence[str], per_bin_stats: pd.DataFrame, synthetic: bool
) -> list[str]:
    """How the bin number and the kept features compare with the paper's, and why.

    Args:
        n_bins: the chosen bin number.
        selected: the selected feature keys.
        per_bin_stats: :attr:`FunnelResult.per_bin_stats` (``n_bins``,
            ``correlated_pairs``, ``eligible``).
        synthetic: whether the dataset is mpirad's synthetic cohort.
    """
    paper_keys = set(paper_table2()["key"])
    common = len(paper_keys & set(selected))
    n_paper = PAPER_FUNNEL_COUNTS["bin_number"]
    sentences = []
    if n_bins == PAPER_N_BINS:
        sentences.append(f"Bin number {n_bins}, as the paper.")
    else:
        table = per_bin_stats.set_index("n_bins")
        why = ""
        if PAPER_N_BINS in table.index and "correlated_pairs" in table:
            ours = int(table.at[n_bins, "correlated_pairs"])
            theirs = int(table.at[PAPER_N_BINS, "correlated_pairs"])
            eligible = bool(table.at[PAPER_N_BINS, "eligible"]) if "eligible" in table else None
            why = (
                f": at {PAPER_N_BINS} bins the kept features form {theirs} highly correlated "
                f"pairs against {ours} at {n_bins}"
                + (", beyond the 10 % slack, so 64 was not eligible" if eligible is False else "")
            )
        sentences.append(
            f"Bin number {n_bins} where the paper chose {PAPER_N_BINS}{why}. mpirad prefers "
            f"{PAPER_N_BINS} only among the bin numbers the paper's criteria leave."
        )
    sentences.append(
        f"{len(selected)} features kept against the paper's {n_paper}; {common} are in both "
        f"lists ({len(selected) - common} only here, {len(paper_keys) - common} only in the "
        "paper)."
    )
    if synthetic:
        sentences.append(
            "On the synthetic cohort the texture of the images is simulated: which features "
            "are constant, low-range or correlated, and so the funnel's counts and its bin "
            "number, follow the simulation, not the 428 patients of the paper."
        )
    return sentences


def _engine_totals(summary: pd.DataFrame) -> list[str]:
    engines = [c.removesuffix(" match") for c in summary.columns if c.endswith(" match")]
    return [
        f"{engine} matches {int(summary[f'{engine} match'].sum())} of the "
        f"{int(summary[f'{engine} computed'].sum())} reference values it computes"
        for engine in engines
    ]


def conformance_results(digital: pd.DataFrame | None, ct: pd.DataFrame | None = None) -> list[str]:
    """What the IBSI conformance page found.

    Args:
        digital: :func:`~mpirad.radiomics.conformance.conformance_summary` of the digital
            phantom (``reference``, ``<engine> computed``, ``<engine> match``), or None when
            the phantom is not available.
        ct: :func:`~mpirad.radiomics.conformance.ct_conformance_summary` of the CT phantom
            (same columns, one row per configuration x family), or None.
    """
    if digital is None:
        sentences = [
            "The IBSI digital phantom is not available to this build: no feature was checked "
            "against the IBSI reference values on this page (the test suite does it where "
            "the phantom is installed)."
        ]
    else:
        sentences = [
            f"Digital phantom ({int(digital['reference'].sum())} 3D reference values): "
            + listing(_engine_totals(digital))
            + "."
        ]
    if ct is None:
        sentences.append("The IBSI CT phantom is not available to this build.")
    else:
        sentences.append(
            f"CT phantom ({int(ct['reference'].sum())} reference values over its "
            "configurations): " + listing(_engine_totals(ct)) + "."
        )
    return sentences


def conformance_comparison() -> list[str]:
    """What the paper says about conformance (there is no number to compare with)."""
    return [
        "The paper computed its features with SERA, which it describes as IBSI-compliant, and "
        "reports no conformance figures of its own: the numbers above are mpirad's "
        "evidence that its engines compute the same IBSI features, not a comparison with "
        "the paper's."
    ]
