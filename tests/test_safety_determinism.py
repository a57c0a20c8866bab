"""Determinism: the same seed gives the same bytes, tables and selections; another seed
gives another cohort. (Study A split determinism is tested with the splits.)
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pytest

from mpirad.manifest import tree_checksum
from mpirad.phantom import synthesize
from mpirad.radiomics import extract_cohort, run_funnel

#: Tiny cohorts: (patients, image or volume size).
TINY = {"a": (2, 32), "b": (2, 36)}
BINS = (8, 64)


def _synthesize(study: str, out: Path, seed: int) -> Path:
    patients, size = TINY[study]
    return synthesize(study, out, seed=seed, patients=patients, image_size=size)


def _file_digests(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.mark.parametrize("study", ["a", "b"])
def test_same_seed_same_tree_other_seed_other_cohort(study: str, tmp_path: Path) -> None:
    first = _synthesize(study, tmp_path / "first", seed=4)
    again = _synthesize(study, tmp_path / "elsewhere" / "again", seed=4)  # folder name differs
    other = _synthesize(study, tmp_path / "other", seed=5)
    assert tree_checksum(first) == tree_checksum(again)
    assert _file_digests(first) == _file_digests(again)  # every file, hidden ones included
    assert tree_checksum(first) != tree_checksum(other)
    first_files, other_files = _file_digests(first), _file_digests(other)
    if study == "b":
        differing = {"clinical.csv", "cac.csv", "B001/image.nii.gz"}
    else:
        differing = {"patients.csv", "truth/images.parquet"}
    for name in differing:
        assert first_files[name] != other_files[name], name


@pytest.fixture(scope="module")
def cohort_b(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("b") / "cohort"
    return synthesize("b", root, seed=1, patients=4, image_size=36)


@pytest.fixture(scope="module")
def features(cohort_b: Path, tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    out = tmp_path_factory.mktemp("features") / "features.parquet"
    return extract_cohort(cohort_b, out, bin_numbers=BINS, engine="numpy", n_jobs=1, progress=False)


def test_extracting_twice_gives_identical_tables_and_bytes(
    cohort_b: Path, features: pd.DataFrame, tmp_path: Path
) -> None:
    outs = [tmp_path / name / "features.parquet" for name in ("one", "two")]
    for out in outs:  # (serial = parallel is tested with the cohort extraction)
        table = extract_cohort(
            cohort_b, out, bin_numbers=BINS, engine="numpy", n_jobs=1, progress=False
        )
        pd.testing.assert_frame_equal(table, features, check_exact=True)
    assert outs[0].read_bytes() == outs[1].read_bytes()
    cached = extract_cohort(  # the second run of one folder reads its cache
        cohort_b, outs[0], bin_numbers=BINS, engine="numpy", n_jobs=1, progress=False
    )
    pd.testing.assert_frame_equal(cached, features, check_exact=True)


def test_the_funnel_twice_and_on_shuffled_rows_selects_the_same(
    features: pd.DataFrame, tmp_path: Path
) -> None:
    first = run_funnel(features)
    again = run_funnel(features)
    shuffled = run_funnel(features.sample(frac=1.0, random_state=7).reset_index(drop=True))
    for result in (again, shuffled):
        assert result.selected == first.selected
        assert result.counts == first.counts and result.n_bins == first.n_bins
        pd.testing.assert_frame_equal(result.per_bin_stats, first.per_bin_stats)
    assert first.selected  # a real selection, not an empty agreement
    folders = [r.save(tmp_path / name) for r, name in ((first, "one"), (shuffled, "two"))]
    assert _file_digests(folders[0]) == _file_digests(folders[1])
