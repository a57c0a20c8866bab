"""The blind-to-outcome selection funnel, step by step and end to end."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from mpirad.radiomics.bin_number import choose_bin_number
from mpirad.radiomics.funnel import (
    choose_varieties,
    precomputation_selection,
    recursive_correlation_filter,
    remove_identical,
    remove_low_range,
    remove_perfect_pairs,
    run_funnel,
)
from mpirad.radiomics.ibsi import AGG_3D, AGG_3D_AVERAGED, AGG_3D_MERGED, AGG_3D_VOLUME, feature_key
from mpirad.radiomics.paper_b import PAPER_FUNNEL_COUNTS, PAPER_N_BINS, PAPER_REMOVED, paper_table2
from mpirad.radiomics.strata import (
    FunnelInputError,
    feature_matrices,
    median_abs_spearman,
    spearman_matrix,
)

PATIENTS = [f"P{i:02d}" for i in range(12)]


def make_table(
    columns: dict[tuple[str, str, str], object], rois=("myocardium", "LAD17"), bins=(8, 64)
) -> pd.DataFrame:
    """Tidy table; a column is an array over patients or a function (roi, n_bins) -> array."""
    rows = []
    for roi in rois:
        for n_bins in bins:
            for (family, name, aggregation), values in columns.items():
                data = values(roi, n_bins) if callable(values) else values
                for patient, value in zip(PATIENTS, data, strict=True):
                    rows.append((patient, roi, n_bins, family, name, aggregation, float(value)))
    return pd.DataFrame(
        rows, columns=["patient_id", "roi", "n_bins", "family", "name", "aggregation", "value"]
    )


def key(family: str, name: str, aggregation: str = AGG_3D) -> str:
    return feature_key(family, name, aggregation)


rng = np.random.default_rng(0)
BASE = rng.normal(10, 2, len(PATIENTS))
OTHER = rng.normal(5, 1, len(PATIENTS))


def test_precomputation_counts_match_the_paper():
    steps = precomputation_selection()
    assert [len(steps[s]) for s in ("catalogue", "3d_only", "a_priori")] == [487, 215, 166]
    kept = steps["a_priori"]
    assert kept.groupby("family").size().to_dict() == {
        "ih": 23, "ivh": 7, "cm": 50, "rlm": 32, "szm": 16, "dzm": 16, "ngt": 5, "ngl": 17,
    }  # fmt: skip
    removed_2d = steps["catalogue"][steps["catalogue"]["dimension"] != "3D"]
    assert len(removed_2d) == 272  # the paper's "removed 272 features"


def test_spearman_matches_scipy():
    table = make_table(
        {
            ("ih", "mean", AGG_3D): BASE,
            ("ih", "var", AGG_3D): OTHER,
            ("ih", "p90", AGG_3D): BASE**3 - OTHER,
        }
    )
    matrix = next(iter(feature_matrices(table).matrices.values()))
    ours = spearman_matrix(matrix).to_numpy()
    reference = stats.spearmanr(matrix.to_numpy()).statistic
    np.testing.assert_allclose(ours, reference, atol=1e-12)


def test_identical_means_constant_in_every_stratum():
    partly = lambda roi, n_bins: np.ones(len(PATIENTS)) if roi == "LAD17" else BASE  # noqa: E731
    table = make_table(
        {
            ("ih", "min", AGG_3D): np.ones(len(PATIENTS)),
            ("ih", "max", AGG_3D): lambda roi, n_bins: np.full(len(PATIENTS), float(n_bins)),
            ("ih", "mean", AGG_3D): partly,
            ("ih", "var", AGG_3D): OTHER,
        }
    )
    data = feature_matrices(table)
    result = remove_identical(data, data.keys)
    assert result.removed == [key("ih", "min"), key("ih", "max")]
    assert result.kept == [key("ih", "mean"), key("ih", "var")]


def test_perfect_pairs_drop_the_smaller_range():
    table = make_table(
        {
            ("szm", "z_perc", AGG_3D_VOLUME): BASE,
            ("dzm", "z_perc", AGG_3D_VOLUME): BASE,  # identical values: later one goes
            ("szm", "glnu", AGG_3D_VOLUME): OTHER * 10,
            ("dzm", "glnu", AGG_3D_VOLUME): np.exp(OTHER),  # monotone: rho = 1, larger range
            ("ngt", "contrast", AGG_3D_VOLUME): -OTHER,  # rho = -1 with both glnu
            ("ih", "mean", AGG_3D): rng.normal(size=len(PATIENTS)),
        }
    )
    data = feature_matrices(table)
    result = remove_perfect_pairs(data, data.keys)
    assert set(result.removed) == {key("dzm", "z_perc"), key("szm", "glnu"), key("ngt", "contrast")}
    assert set(result.kept) == {key("szm", "z_perc"), key("dzm", "glnu"), key("ih", "mean")}


def test_low_range_uses_signed_variance_over_mean():
    table = make_table(
        {
            ("ih", "skew", AGG_3D): -np.abs(OTHER),  # negative mean: ratio < 0
            ("rlm", "sre", AGG_3D_AVERAGED): 0.9 + 1e-6 * OTHER,  # var / mean ~ 1e-12
            ("ih", "mean", AGG_3D): BASE,
        }
    )
    data = feature_matrices(table)
    result = remove_low_range(data, data.keys)
    assert result.kept == [key("ih", "mean")]
    ratio = result.details.set_index("key")["var_over_mean"]
    assert ratio[key("ih", "mean")] == pytest.approx(np.var(BASE, ddof=1) / np.mean(BASE))


def hand_matrix() -> pd.DataFrame:
    keys = list("abcdefg")
    values = np.full((7, 7), 0.1)
    for first, second in [("a", "b"), ("a", "c"), ("c", "d"), ("d", "e"), ("f", "g")]:
        i, j = keys.index(first), keys.index(second)
        values[i, j] = values[j, i] = 0.97
    np.fill_diagonal(values, 1.0)
    return pd.DataFrame(values, index=keys, columns=keys)


def test_recursive_filter_one_pass():
    # F_sorted = a, c, d (2 partners), b, e, f, g. Keep a: R = {b, c} + partners of b, c = {d}.
    # Next e: R = {d} + {c} (already gone). Next f: R = {g}.
    result = recursive_correlation_filter(hand_matrix(), threshold=0.95)
    assert result.kept == ["a", "e", "f"]
    assert result.removed == ["b", "c", "d", "g"]


def test_recursive_filter_transitive():
    result = recursive_correlation_filter(hand_matrix(), threshold=0.95, transitive=True)
    assert result.kept == ["a", "f"]  # one feature per connected group


def test_varieties_keep_the_wider_range():
    columns = {}
    for i, name in enumerate(("joint_max", "joint_entr", "contrast")):
        signal = BASE + i * OTHER
        columns[("cm", name, AGG_3D_AVERAGED)] = signal
        columns[("cm", name, AGG_3D_MERGED)] = 0.5 * signal + 1  # same ranks, half the range
    columns[("ih", "mean", AGG_3D)] = OTHER
    columns[("ngt", "busyness", AGG_3D_VOLUME)] = BASE * OTHER
    data = feature_matrices(make_table(columns))
    result = choose_varieties(data, data.keys)
    details = result.details.set_index("family")
    assert details.loc["cm", "diagonal_median"] == pytest.approx(1.0)
    assert details.loc["cm", "family_difference"] == pytest.approx(0.0, abs=1e-12)
    assert details.loc["cm", "kept"] == "3D averaged"
    assert sorted(result.removed) == sorted(
        key("cm", n, AGG_3D_MERGED) for n in ("joint_max", "joint_entr", "contrast")
    )


def test_varieties_not_redundant_are_both_kept():
    columns = {
        ("cm", "joint_max", AGG_3D_AVERAGED): BASE,
        ("cm", "joint_max", AGG_3D_MERGED): rng.permutation(BASE),
        ("ih", "mean", AGG_3D): OTHER,
    }
    data = feature_matrices(make_table(columns))
    result = choose_varieties(data, data.keys)
    assert result.removed == [] and result.details.loc[0, "kept"] == "both"


def test_choose_bin_number_follows_the_paper():
    table = pd.DataFrame(
        {
            "n_bins": [4, 8, 16, 32, 64, 128, 256, 512],
            "identical": [3, 2, 2, 0, 0, 0, 0, 0],
            "low_range": [4, 3, 3, 2, 2, 2, 2, 3],
            "correlated_pairs": [10, 10, 10, 9, 9, 9, 10, 11],
            "median_cv": [0.1] * 8,
        }
    )
    chosen, eligible = choose_bin_number(table)
    assert chosen == 64
    assert eligible[eligible].index.tolist() == [32, 64, 128]
    chosen, _ = choose_bin_number(table, preferred=512)
    assert chosen == 32  # not eligible: fewest pairs, then largest cv, then smallest


def test_feature_matrix_errors():
    table = make_table({("ih", "mean", AGG_3D): BASE})
    with pytest.raises(FunnelInputError, match="duplicate"):
        feature_matrices(pd.concat([table, table.iloc[:1]]))
    with pytest.raises(FunnelInputError, match="P00"):
        feature_matrices(table.drop(index=0))
    with pytest.raises(FunnelInputError, match="lacks columns"):
        feature_matrices(table.drop(columns="roi"))
    small = table[table.patient_id.isin(PATIENTS[:2])]
    with pytest.raises(FunnelInputError, match="at least 3"):
        feature_matrices(small)


@pytest.fixture(scope="module")
def cohort_table(tmp_path_factory) -> pd.DataFrame:
    """Real features of a small synthetic Study B cohort (numpy engine)."""
    from mpirad.phantom import synthesize
    from mpirad.radiomics import extract_cohort

    root = synthesize("b", tmp_path_factory.mktemp("b") / "data", seed=3, patients=8)
    return extract_cohort(
        root,
        None,
        bin_numbers=(8, 32, 64),
        rois=("myocardium", "LADMIM"),
        engine="numpy",
        n_jobs=1,
        progress=False,
    )


def test_run_funnel_end_to_end(cohort_table):
    result = run_funnel(cohort_table)
    counts = list(result.counts.values())
    assert list(result.counts) == list(PAPER_FUNNEL_COUNTS)
    assert counts[:4] == [487, 215, 166, 166]
    assert all(a >= b for a, b in zip(counts, counts[1:], strict=False))
    # with fixed bin numbers these four are identical by definition (the paper's four)
    assert set(result.removed["identical"]) == {"ih.min", "ih.max", "ih.range", "ngl.dc_perc"}
    assert result.counts["identical"] == 162
    assert result.n_bins in (8, 32, 64)
    assert len(result.selected) == result.counts["rho_095"]
    table2 = result.selected_table()
    assert list(table2["key"]) == result.selected and table2["ibsi_code"].str.len().eq(4).all()
    # no two selected features are redundant by the rule that selected them
    correlation = (
        median_abs_spearman(feature_matrices(cohort_table), result.selected).to_numpy().copy()
    )
    np.fill_diagonal(correlation, 0)
    assert correlation.max() < 0.95
    stats_table = result.per_bin_stats
    assert stats_table["chosen"].sum() == 1 and set(stats_table["n_bins"]) == {8, 32, 64}
    expected = expected_per_bin_counts(cohort_table, result.selected)
    columns = ["identical", "low_range", "correlated_pairs"]
    pd.testing.assert_frame_equal(
        stats_table.set_index("n_bins")[columns], expected[columns], check_names=False
    )


def expected_per_bin_counts(
    table: pd.DataFrame, keys: list[str], low_range: float = 1e-5, pair: float = 0.9
) -> pd.DataFrame:
    """Per bin number, the counts of ``per_bin_statistics`` recomputed from the tidy table
    with plain pandas/scipy (groupby per ROI, then summarised over ROIs)."""
    table = table.assign(
        key=[
            feature_key(f, n, a)
            for f, n, a in zip(table["family"], table["name"], table["aggregation"], strict=True)
        ]
    )
    table = table[table["key"].isin(keys)]
    rows = {}
    for n_bins, at_bins in table.groupby("n_bins"):
        constant_any = set()
        ratios, rhos = [], []
        for _, stratum in at_bins.groupby("roi", observed=True):
            wide = stratum.pivot(index="patient_id", columns="key", values="value")[keys]
            constant_any |= {k for k in keys if wide[k].nunique() == 1}
            ratios.append(wide.var(ddof=1) / wide.mean())
            # pandas' Spearman matrix (scipy's spearmanr gives a scalar for two columns)
            rhos.append(np.abs(wide.corr(method="spearman").to_numpy()))
        ratio = pd.concat(ratios, axis=1).median(axis=1)
        with warnings.catch_warnings():  # all-NaN: a feature constant in every ROI
            warnings.simplefilter("ignore", RuntimeWarning)
            median_rho = np.nan_to_num(np.nanmedian(np.stack(rhos), axis=0), nan=0.0)
        upper = median_rho[np.triu_indices(len(keys), k=1)]
        rows[n_bins] = {
            "identical": len(constant_any),
            "low_range": int((ratio.isna() | (ratio < low_range)).sum()),
            "correlated_pairs": int(np.sum(upper >= pair)),
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def test_paper_data_are_consistent():
    table2 = paper_table2()
    assert len(table2) == 56 and table2["key"].is_unique
    kept = set(precomputation_selection()["a_priori"]["key"])
    assert set(table2["key"]) <= kept
    assert table2.groupby("family").size().to_dict() == {
        "ih": 10, "ivh": 3, "cm": 9, "rlm": 6, "szm": 13, "dzm": 5, "ngt": 5, "ngl": 5,
    }  # fmt: skip
    assert [PAPER_FUNNEL_COUNTS[s] for s in ("catalogue", "3d_only", "a_priori", "identical", "variety", "rho_one", "low_range", "rho_095")] == [
        487, 215, 166, 162, 121, 118, 113, 56,
    ]  # fmt: skip
    assert PAPER_N_BINS == 64
    for step in ("identical", "rho_one", "low_range"):
        assert set(PAPER_REMOVED[step]) <= kept
    # the paper's drops are consistent with its counts
    assert 166 - len(PAPER_REMOVED["identical"]) == 162
    assert (
        121 - len(PAPER_REMOVED["rho_one"]) == 118 and 118 - len(PAPER_REMOVED["low_range"]) == 113
    )
