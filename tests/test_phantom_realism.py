"""The synthetic Study B cohort sits in the texture regime of a real stress SPECT."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mpirad.phantom import synthesize
from mpirad.phantom.perfusion import butterworth_filter
from mpirad.phantom.realism import (
    REAL_REFERENCE,
    STUDY_B_PROTOCOL,
    cohort_texture,
    protocol_table,
    texture_table,
)


def test_ten_patient_cohort_has_the_texture_of_real_spect(tmp_path: Path) -> None:
    # Generator 1 gave medians 0.32 / 2.4 / 1.3 / 0.14 (GLCM correlation, GLSZM LZE, GLDZM
    # LDE, CV); the real scan 0.72 / 6.0 / 3.1 / 0.21.
    root = synthesize("b", tmp_path / "b", seed=0, patients=10, image_size=44)
    per_patient = cohort_texture(root)
    assert len(per_patient) == 10
    median = per_patient.median(numeric_only=True)
    assert 0.60 <= median["glcm_correlation"] <= 0.80
    assert 4.0 <= median["glszm_lze"] <= 9.0
    assert 1.9 <= median["gldzm_lde"] <= 3.5
    assert 0.17 <= median["intensity_cov"] <= 0.25
    assert 1300 <= median["voxels"] <= 3000
    table = texture_table(per_patient)
    assert list(table["feature"]) == [f.label for f in REAL_REFERENCE]
    assert (table["p1"] <= table["median"]).all() and (table["median"] <= table["p99"]).all()


def test_texture_table_flags_a_real_value_outside_the_range() -> None:
    keys = [f.key for f in REAL_REFERENCE]
    per_patient = pd.DataFrame({k: np.linspace(0.0, 0.1, 50) for k in keys})
    table = texture_table(per_patient)
    assert not table["real_in_range"].any()
    assert table["median"].tolist() == [0.05] * len(keys)


def test_butterworth_gain_is_one_half_at_the_cutoff() -> None:
    # A plane wave at the critical frequency along x comes out at half its amplitude.
    n, voxel = 64, 5.0
    cutoff = 4 / (n * voxel / 10.0)  # 4 cycles over the field, in cycles/cm
    x = np.arange(n)
    wave = np.broadcast_to(np.cos(2 * np.pi * 4 * x / n), (4, 4, n)).copy()
    out = butterworth_filter(wave, voxel, cutoff, order=5)
    np.testing.assert_allclose(out, 0.5 * wave, atol=1e-9)
    flat = np.ones((4, 4, n))
    np.testing.assert_allclose(butterworth_filter(flat, voxel, cutoff, 5), flat, atol=1e-12)


def test_every_parameter_names_a_source() -> None:
    table = protocol_table()
    assert table["source"].str.len().min() > 5
    assert STUDY_B_PROTOCOL.counts_per_unit(500.0, 1000.0) == 50.0
