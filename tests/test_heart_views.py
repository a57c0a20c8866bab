"""The book's heart figures and the derived-segment validation (mpirad.heart views)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import QuadMesh

from mpirad.heart.validation import rotation_matrix, territory_dice
from mpirad.heart.views import (
    dataset_orientation,
    feature_by_segment,
    patient_segments,
    plot_patient_polar_map,
)
from mpirad.io.layouts import DerivedRois
from mpirad.manifest import get_dataset
from mpirad.phantom import synthesize
from mpirad.tomo import plots as tomo_plots
from mpirad.tomo import report

ANATOMICAL = DerivedRois(short_axis=False)


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> Path:
    return synthesize("b", tmp_path_factory.mktemp("views") / "b", seed=9, patients=2)


def test_territory_dice_table(cohort: Path) -> None:
    table = territory_dice(cohort, n_patients=2, tilt_deg=30.0)
    assert list(table.index) == ["LAD17", "RCA17", "LCX17"]
    assert list(table.columns) == [("own", "median"), ("own", "worst"),
                                   ("tilt 30 deg", "median"), ("tilt 30 deg", "worst")]  # fmt: skip
    assert table.attrs["n_patients"] == 2
    assert (table.to_numpy() > 0.8).all() and (table.to_numpy() <= 1.0).all()
    assert (table[("own", "worst")] <= table[("own", "median")]).all()


def test_rotation_matrix_is_a_rotation() -> None:
    r = rotation_matrix([0.0, 0.0, 1.0], 90.0)
    np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(r @ [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], atol=1e-12)


def test_patient_polar_map_and_segments(cohort: Path) -> None:
    image, myocardium, segments = patient_segments(cohort, "B001", ANATOMICAL)
    assert segments.shape == image.array.shape and ((segments > 0) == myocardium).all()
    fig, ax = plot_patient_polar_map(cohort, "B001", orientation=ANATOMICAL, title="t")
    assert ax.get_title() == "t"
    assert any(isinstance(c, QuadMesh) for c in ax.collections)
    assert len(ax.patches) == 17  # the segment outlines
    assert "% of maximum" in fig.axes[-1].get_ylabel()


def test_feature_by_segment(cohort: Path) -> None:
    values = feature_by_segment(cohort, ["B001", "B002"], family="ih", name="mean",
                                n_bins=16, orientation=ANATOMICAL)  # fmt: skip
    assert sorted(values) == list(range(1, 18))
    assert all(np.isfinite(v) and 1.0 <= v <= 16.0 for v in values.values())


def test_dataset_orientation(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(
        "datasets:\n"
        f"  syn: {{study: b, format: volumes, root: {tmp_path}, provenance: synthetic}}\n"
        f"  site: {{study: b, format: volumes, root: {tmp_path}, provenance: site}}\n"
        f"  derive: {{study: b, format: volumes, root: {tmp_path}, provenance: site,\n"
        "    rois: derive, short_axis: false, rv_insertion_deg: 100}\n"
    )
    assert dataset_orientation(get_dataset("syn", path)) == DerivedRois(short_axis=False)
    assert dataset_orientation(get_dataset("site", path)) == DerivedRois(short_axis=True)
    assert dataset_orientation(get_dataset("derive", path)) == DerivedRois(False, 100.0)
    assert dataset_orientation(tmp_path) == DerivedRois(short_axis=True)


def test_table1_segment_counts_and_bullseyes(tmp_path: Path) -> None:
    scores = {f"seg{s:02d}": [0, 0, 0] for s in range(1, 18)}
    scores["seg01"] = [2, 1, 0]
    scores["seg17"] = [3, 0, 0]
    pd.DataFrame({"patient_id": ["P1", "P2", "P3"], **scores}).to_csv(
        tmp_path / "patients.csv", index=False
    )
    counts = report.table1_segment_counts(tmp_path)
    assert list(counts.index) == list(range(1, 18))
    assert counts.loc[1, "this dataset"] == 2 and counts.loc[17, "this dataset"] == 1
    assert counts["this dataset"].sum() == 3 and counts["paper"].sum() == 410
    fig = tomo_plots.plot_ischemic_segment_bullseyes(counts)
    bullseyes = [ax for ax in fig.axes if ax.patches]
    assert [ax.get_title() for ax in bullseyes] == ["this dataset", "paper"]
    wedges = {p.get_gid(): p for p in bullseyes[0].patches}
    assert (wedges["segment-1"].theta1, wedges["segment-1"].theta2) == (60.0, 120.0)
    assert wedges["segment-17"].r == wedges["segment-17"].width  # the centre disc
    empty = report.table1_segment_counts(tmp_path / "absent")
    assert empty["this dataset"].isna().all()
