"""Records of what produced an output, and paths that follow the dataset (issue 11)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mpirad.manifest import get_dataset
from mpirad.pipeline import paths
from mpirad.pipeline.book import BookContext, datasets_markdown, toc_yaml
from mpirad.provenance import (
    ForeignOutputError,
    StepRecord,
    dataset_fingerprint,
    file_stamp,
    plan,
    read_record,
    record_path,
    require_dataset,
    write_record,
)

REPO = Path(__file__).resolve().parents[1]

MANIFEST = """\
version: 1
datasets:
  synthetic-a:
    study: a
    format: labelme-export
    root: build/data/synthetic-a
    provenance: synthetic
  synthetic-b:
    study: b
    format: volumes
    root: build/data/synthetic-b
    provenance: synthetic
  site-b:
    study: b
    format: volumes
    root: site-b
    provenance: site
  site-a:
    study: a
    format: labelme-export
    root: site-a
    provenance: site
"""


@pytest.fixture
def project(tmp_path, monkeypatch):
    (tmp_path / "data_manifest.yaml").write_text(MANIFEST)
    monkeypatch.setenv("MPIRAD_MANIFEST", str(tmp_path / "data_manifest.yaml"))
    site = tmp_path / "site-b"
    (site / "P1").mkdir(parents=True)
    (site / "P1" / "image.nii.gz").write_bytes(b"volume")
    (site / "clinical.csv").write_text("patient_id\nP1\n")
    return tmp_path


def _record(**changes) -> StepRecord:
    fields = {"step": "s", "dataset": "site-b", "fingerprint": "stamp:1", "profile": "quick"}
    return StepRecord(**{**fields, "settings": {"bins": [8, 16]}, **changes})


def test_file_stamp_changes_with_any_data_file_and_ignores_hidden(project):
    site = project / "site-b"
    first = file_stamp(site)
    assert file_stamp(site) == first
    (site / ".cache").mkdir()
    (site / ".cache" / "x.npz").write_bytes(b"cache")
    (site / ".DS_Store").write_bytes(b"x")
    assert file_stamp(site) == first
    (site / "clinical.csv").write_text("patient_id\nP2\n")  # same size, new content and mtime
    os.utime(site / "clinical.csv", ns=(1, 1))
    second = file_stamp(site)
    assert second != first
    (site / "P1" / "extra.nii.gz").write_bytes(b"")
    assert file_stamp(site) != second


def test_fingerprint_is_the_manifest_checksum_when_recorded(project):
    ds = get_dataset("site-b")
    assert dataset_fingerprint(ds) == file_stamp(ds.root)
    ds.entry.checksum = "sha256:" + "0" * 64
    assert dataset_fingerprint(ds) == ds.entry.checksum


def test_plan_computes_reuses_and_says_why(tmp_path):
    output = tmp_path / "features.parquet"
    wanted = _record()
    assert plan(output, wanted).action == "compute"
    output.write_bytes(b"table")
    unrecorded = plan(output, wanted)
    assert unrecorded.action == "compute" and "without a record" in unrecorded.reason
    write_record(output, wanted)
    assert record_path(output) == tmp_path / "features.parquet.record.json"
    again = plan(output, wanted)
    assert again.reuse and "same settings" in again.reason and "UTC" in again.reason
    assert plan(output, wanted, force=True).action == "compute"
    changed = plan(output, _record(settings={"bins": [8]}))
    assert changed.action == "compute" and "other settings (bins)" in changed.reason
    data = plan(output, _record(fingerprint="stamp:2"))
    assert data.action == "compute" and "the data changed" in data.reason
    profile = plan(output, _record(profile="paper"))
    assert "profile 'quick' -> 'paper'" in profile.reason


def test_folder_outputs_keep_their_record_inside(tmp_path):
    folder = tmp_path / "selection"
    folder.mkdir()
    write_record(folder, _record())
    assert (folder / "record.json").is_file()
    assert read_record(folder).key() == _record().key()


def test_require_dataset_refuses_another_dataset_and_stale_data(project):
    ds = get_dataset("site-b")
    table = project / "features.parquet"
    table.write_bytes(b"x")
    assert require_dataset(table, ds) is None  # made outside mpirad: nothing to check
    write_record(table, _record(dataset="synthetic-b", fingerprint="stamp:x"))
    with pytest.raises(
        ForeignOutputError, match="belongs to dataset 'synthetic-b'.*not to 'site-b'"
    ):
        require_dataset(table, ds, what="feature table")
    write_record(table, _record(fingerprint=dataset_fingerprint(ds)))
    assert require_dataset(table, ds).dataset == "site-b"
    (ds.root / "cac.csv").write_text("patient_id,cac_total\nP1,0\n")
    with pytest.raises(ForeignOutputError, match="files have changed since"):
        require_dataset(table, ds)


def test_paths_follow_the_dataset_and_refuse_another_datasets_files(project):
    assert paths.features_path("site-b") == project / "build/features/site-b/features.parquet"
    assert paths.selection_dir("site-b").parent == paths.features_path("site-b").parent
    assert paths.stats_dir("site-b", "aic") == project / "build/stats/site-b/aic"
    executed = paths.executed_notebook(
        "book/study_a/split_run.py", dataset="site-a", profile="paper", split=2, tag="image"
    )
    assert executed == project / "build/runs/site-a/paper/split_run/split_2_image.ipynb"
    other = "build/features/synthetic-b/features.parquet"
    with pytest.raises(ValueError, match="features_path.*dataset 'synthetic-b'.*'site-b'"):
        paths.refuse_other_dataset(other, "site-b", parameter="features_path")
    with pytest.raises(ValueError, match="dataset 'synthetic-b'"):
        paths.refuse_other_dataset(project / other, "site-b", parameter="features_path")
    assert paths.refuse_other_dataset("/data/mine.parquet", "site-b", parameter="p") == Path(
        "/data/mine.parquet"
    )
    own = "build/features/site-b/features.parquet"
    assert paths.refuse_other_dataset(own, "site-b", parameter="p") == Path(own)


def test_committed_toc_is_the_generated_one_for_the_defaults(monkeypatch):
    monkeypatch.setenv("MPIRAD_MANIFEST", str(REPO / "data_manifest.yaml"))
    assert (REPO / "_toc.yml").read_text() == toc_yaml(BookContext())


def test_toc_follows_the_book_datasets(project):
    site = toc_yaml(BookContext(dataset_a="site-a", dataset_b="site-b"))
    assert "synthetic" not in site
    assert "build/runs/site-a/quick/split_run/split_5_image" in site
    only_b = toc_yaml(BookContext(dataset_a=None, dataset_b="synthetic-b"))
    assert "study_a" not in only_b and "book/study_b/outcome" in only_b
    assert "synthetic_cohort" not in only_b  # the generator chapter needs both cohorts
    tiny = toc_yaml(
        BookContext(dataset_a="site-a", dataset_b=None, profile_overrides={"n_splits": 1})
    )
    assert "split_1_image" in tiny and "split_2" not in tiny and "study_b" not in tiny


def test_intro_says_synthetic_only_of_synthetic_data(project):
    site = datasets_markdown(
        BookContext("site-a", "site-b", fingerprints={"site-b": "stamp:abcdef"})
    )
    assert "synthetic" not in site.lower()
    assert "`site-a`" in site and "`stamp:abcdef`" in site and "site data" in site
    both = datasets_markdown(BookContext())
    assert both.startswith("## The data in this book is synthetic")
    mixed = datasets_markdown(BookContext("site-a", "synthetic-b"))
    assert "## The data in this book\n" in mixed and "`synthetic-b`" in mixed


def test_book_context_names(project):
    context = BookContext.from_names("none", "site-b", "paper")
    assert context.datasets() == ["site-b"] and context.dataset("a") is None


def test_manifest_reading_options_are_part_of_the_fingerprint(project):
    ds = get_dataset("site-b")
    plain = dataset_fingerprint(ds)
    ds.entry.spacing = (4.8, 4.8, 4.8)
    assert dataset_fingerprint(ds).startswith(plain + "+")
    site_a = get_dataset("site-a")
    (project / "site-a").mkdir()
    default = dataset_fingerprint(site_a)
    site_a.entry.labels = ["ischemia", "infarct"]
    assert dataset_fingerprint(site_a) != default
