"""``mpirad extract --sr``: a patient's features as a DICOM SR (TID 1500) with IBSI codes.

The synthetic site of ``test_heart_seg`` (B001's image DICOM, B002's NIfTI) goes through
``mpirad rois --seg`` and ``mpirad extract --sr``; each SR is validated by dciodvfy and
read back with highdicom: the values equal the feature table's, under IBSI concept names,
in one group per ROI that references the ROI's segment of the patient's SEG.
"""

from __future__ import annotations

from pathlib import Path

import highdicom as hd
import numpy as np
import pandas as pd
import pydicom
import pytest
from test_heart_seg import site  # noqa: F401 - the fixture
from test_io_seg import dciodvfy_errors
from typer.testing import CliRunner

from mpirad.cli import app
from mpirad.heart.dataset import SEG_FILE, derive_dataset
from mpirad.radiomics.sr import SrError, write_features_sr


def test_extract_sr_round_trip(site: Path, tmp_path: Path) -> None:  # noqa: F811
    out = tmp_path / "rois"
    derive_dataset(site, out, short_axis=False, progress=False, seg=True)
    table_path = tmp_path / "features" / "features.parquet"
    result = CliRunner().invoke(
        app, ["extract", "--root", str(out), "--out", str(table_path), "--bins", "8",
              "--rois", "myocardium,LAD17", "--n-jobs", "1", "--sr"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "1 DICOM SR(s)" in result.output and "no SR (no <patient>/rois_seg.dcm): B002" in (
        result.stderr
    )
    sr_path = tmp_path / "features" / "sr" / "B001.dcm"
    errors, _warnings = dciodvfy_errors(sr_path)
    assert not errors, "\n".join(errors)
    table = pd.read_parquet(table_path)
    table = table[(table["patient_id"] == "B001") & np.isfinite(table["value"])]
    seg = pydicom.dcmread(out / "B001" / SEG_FILE, stop_before_pixels=True)
    numbers = {s.SegmentLabel: int(s.SegmentNumber) for s in seg.SegmentSequence}
    sr = hd.sr.srread(sr_path)
    groups = sr.content.get_volumetric_roi_measurement_groups()
    assert len(groups) == 2
    assert sr.CodingSchemeIdentificationSequence[0].CodingSchemeDesignator == "IBSI"
    for group in groups:
        roi = group.tracking_identifier.split(",")[0]
        referenced = group.referenced_segment
        assert referenced.referenced_sop_instance_uid == seg.SOPInstanceUID
        assert list(referenced.referenced_segment_numbers) == [numbers[roi]]
        rows = table[table["roi"] == roi]
        methods = rows["aggregation"].str.rsplit("(", n=1).str[1].str.rstrip(")")
        expected = rows.set_index([rows["ibsi_code"], methods])["value"]
        # an IBSI feature code recurs once per aggregation method (the measurement's method)
        measured = {(m.name.value, m.method.value): m.value for m in group.get_measurements()}
        assert {m.name.scheme_designator for m in group.get_measurements()} == {"IBSI"}
        assert set(measured) == set(expected.index)
        np.testing.assert_allclose([measured[c] for c in expected.index], expected, rtol=1e-9)
    with pytest.raises(SrError, match=r"patient B001: .*ROI 'nowhere' has no segment"):
        write_features_sr(table.assign(roi="nowhere"), out / "B001" / SEG_FILE,
                          tmp_path / "x.dcm", patient="B001")  # fmt: skip


def test_guard_checks_the_sr_against_its_seg(site: Path, tmp_path: Path) -> None:  # noqa: F811
    """`mpirad guard --derived-from`: the SR (evidence: the SEG) and the SEG pass; an SR
    given an institution its SEG lacks fails, the value masked."""
    from mpirad.radiomics.cohort import extract_cohort

    out = tmp_path / "rois"
    derive_dataset(site, out, short_axis=False, progress=False, seg=True)
    table = extract_cohort(out, None, engine="numpy", bin_numbers=(8,), rois=["myocardium"],
                           patients=["B001"], progress=False)  # fmt: skip
    sr_path, count = write_features_sr(table, out / "B001" / SEG_FILE, tmp_path / "sr" / "B001.dcm")
    assert count == int(np.isfinite(table["value"]).sum())
    args = ["guard", str(out / "B001" / SEG_FILE), str(sr_path), "--derived-from", str(site)]
    ok = CliRunner().invoke(app, args)
    assert ok.exit_code == 0, ok.output
    assert "2 DICOM SEG/SR object(s) checked" in ok.output
    sr = pydicom.dcmread(sr_path)
    sr.InstitutionName = "GENERAL HOSPITAL NORTH"
    sr.save_as(sr_path)
    bad = CliRunner().invoke(app, args)
    assert bad.exit_code == 1 and "B001.dcm: not_in_source institution" in bad.output
    assert "GENERAL HOSPITAL" not in bad.output
