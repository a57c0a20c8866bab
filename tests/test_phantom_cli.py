"""``mpirad synth``: the command-line entry to the synthetic cohorts."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from mpirad.cli import app


def test_synth_all_writes_both_studies(tmp_path: Path) -> None:
    out = tmp_path / "data"
    args = ["synth", "--study", "all", "--out", str(out), "--seed", "4", "--patients", "1",
            "--image-size", "32"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert (out / "a" / "A001" / "labels.csv").is_file()
    assert (out / "b" / "B001" / "masks" / "LAD17.nii.gz").is_file()
    marker = json.loads((out / "a" / "synthetic_cohort.json").read_text())
    assert (marker["study"], marker["seed"], marker["patients"], marker["image_size"]) == (
        "a",
        4,
        1,
        32,
    )
    # --image-size sets the tomograms only; the volumes keep their default size.
    assert json.loads((out / "b" / "synthetic_cohort.json").read_text())["volume_size"] == 44


def test_synth_one_study_into_out(tmp_path: Path) -> None:
    args = ["synth", "--study", "b", "--out", str(tmp_path / "b"), "--patients", "1",
            "--image-size", "36"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "b" / "clinical.csv").is_file() and not (tmp_path / "b" / "a").exists()
    assert json.loads((tmp_path / "b" / "synthetic_cohort.json").read_text())["volume_size"] == 36
    too_small = CliRunner().invoke(app, [*args[:-1], "33"])
    assert too_small.exit_code != 0 and "at least 36" in too_small.output


def test_synth_rejects_bad_options(tmp_path: Path) -> None:
    runner = CliRunner()
    bad_study = runner.invoke(app, ["synth", "--study", "c", "--out", str(tmp_path / "x")])
    assert bad_study.exit_code != 0 and "--study" in bad_study.output
    bad_profile = runner.invoke(app, ["synth", "--study", "a", "--out", str(tmp_path / "x"),
                                      "--profile", "huge"])  # fmt: skip
    assert bad_profile.exit_code != 0 and "profile" in bad_profile.output
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "keep.txt").write_text("mine")
    refused = runner.invoke(app, ["synth", "--study", "a", "--out", str(tmp_path / "site"),
                                  "--patients", "1", "--image-size", "32"])  # fmt: skip
    assert refused.exit_code != 0 and "not a synthetic cohort" in refused.output
    assert (tmp_path / "site" / "keep.txt").read_text() == "mine"
    assert not (tmp_path / "x").exists()


def test_ensure_cohort_reuses_current_and_regenerates_old(tmp_path: Path) -> None:
    from mpirad.phantom import ensure_cohort, synthesize
    from mpirad.phantom.cohort import MARKER

    root = synthesize("a", tmp_path / "a", patients=1, image_size=32)
    (root / "note.txt").write_text("kept while current")
    assert ensure_cohort("a", root, patients=1, image_size=32) == root
    assert (root / "note.txt").exists()
    marker = json.loads((root / MARKER).read_text())
    (root / MARKER).write_text(json.dumps({**marker, "version": 0}))
    ensure_cohort("a", root, patients=1, image_size=32)  # an older generator's cohort is replaced
    assert not (root / "note.txt").exists() and (root / "A001").is_dir()
