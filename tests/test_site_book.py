"""A site's data gives a site's results (issue 11): the book's steps and chapters on site data.

Two small "site" datasets are made from tiny synthetic cohorts by renaming every patient
(no synthetic id such as ``B012`` is left) and dropping the ground truth. ``mpirad
book-inputs`` and every dataset chapter then run on them through the book's defaults
(empty ``dataset`` parameters), and nothing of the synthetic cohort may reach an output.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from conftest import notebook_outputs, notebook_project

from mpirad.jupyter.runner import run_notebook

REPO = Path(__file__).resolve().parents[1]
BOOK = REPO / "book"
SYNTHETIC_ID = re.compile(r"\b[AB]\d{2,}\b")
TINY_A = {
    "preprocess": {"crop_size": 64, "input_size": 32},
    "classifier": {"epochs": 1, "batch_size": 8},
    "segmenter": {"epochs": 1, "batch_size": 8},
    "n_splits": 1,
    "n_overlays": 2,
}

MANIFEST = """\
version: 1
datasets:
  synthetic-a:
    study: a
    format: labelme-export
    root: build/data/synthetic-a
    provenance: synthetic
    synthetic: {seed: 0, patients: 6, image_size: 96}
  synthetic-b:
    study: b
    format: volumes
    root: build/data/synthetic-b
    provenance: synthetic
    synthetic: {seed: 0, patients: 60}
  site-a:
    study: a
    format: labelme-export
    root: sites/a
    provenance: site
  site-b:
    study: b
    format: volumes
    root: sites/b
    provenance: site
"""

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("notebooks")]


def make_site_copy(source: Path, target: Path, prefix: str, keep: int | None = None) -> dict:
    """Copy a synthetic cohort as a site would export it: new patient ids, no ground truth.

    Returns:
        synthetic id -> site id.
    """
    patients = sorted(p.name for p in source.iterdir() if p.is_dir() and p.name != "truth")
    patients = patients[:keep] if keep else patients
    mapping = {old: f"{prefix}{n:03d}x" for n, old in enumerate(patients, start=1)}
    target.mkdir(parents=True)
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, mapping)) + r")\b")

    def rename(text: str) -> str:
        return pattern.sub(lambda m: mapping[m.group(1)], text)

    def copy(path: Path, destination: Path) -> None:
        if path.suffix in (".csv", ".json"):
            lines = rename(path.read_text(encoding="utf-8")).splitlines()
            if path.parent == source:  # a cohort table: the kept patients' rows only
                lines = [lines[0], *[x for x in lines[1:] if x.split(",")[0] in mapping.values()]]
            destination.write_text("\n".join(lines) + "\n", encoding="utf-8")
        else:
            shutil.copy2(path, destination)

    for path in source.iterdir():
        if path.is_file() and not path.name.startswith(("truth", ".")):
            copy(path, target / path.name)
    for old in mapping:
        for path in sorted((source / old).rglob("*")):
            destination = target / rename(path.relative_to(source).as_posix())
            destination.parent.mkdir(parents=True, exist_ok=True)
            if path.is_file():
                copy(path, destination)
    return mapping


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    projects = notebook_project(tmp_path_factory, MANIFEST, "site_project")
    root = next(projects)
    shutil.copytree(BOOK, root / "book")  # book-inputs runs the project's own notebooks
    shutil.copy(REPO / "_config.yml", root / "_config.yml")
    from mpirad.manifest import get_dataset

    make_site_copy(get_dataset("synthetic-a").ensure().root, root / "sites/a", "sa")
    make_site_copy(get_dataset("synthetic-b").ensure().root, root / "sites/b", "sb", keep=58)
    shutil.rmtree(root / "build")  # the site book must not need (or make) synthetic data
    yield root
    projects.close()


def _text_of(folder: Path) -> str:
    """Every readable text under ``folder`` (tables via pandas), for leak checks."""
    parts = []
    for path in sorted(folder.rglob("*")):
        if path.suffix in (".json", ".txt", ".md", ".yml"):
            parts.append(path.read_text(encoding="utf-8", errors="replace"))
        elif path.suffix == ".ipynb":
            parts.append(_shown_text(notebook_outputs(path)))
        elif path.suffix == ".parquet":
            parts.append(pd.read_parquet(path).to_csv())
    return "\n".join(parts)


def _shown_text(outputs: list[dict]) -> str:
    """What a reader sees of a notebook's outputs (text, tables, streams; not image bytes)."""
    parts = []
    for output in outputs:
        parts.append(str(output.get("text", "")))
        for kind, value in output.get("data", {}).items():
            if kind.startswith("text/"):
                parts.append(str(value))
    return "\n".join(parts)


@pytest.fixture(scope="module")
def site_book(project):
    from mpirad.pipeline.steps import build_book_inputs

    context = build_book_inputs(
        dataset_a="site-a", dataset_b="site-b", n_jobs=1, profile_overrides=TINY_A
    )
    return project, context


def test_book_inputs_on_site_data_make_nothing_synthetic(site_book, capfd):
    project, context = site_book
    assert context.datasets() == ["site-a", "site-b"]
    assert not (project / "build/data").exists()  # no synthetic cohort generated
    runs = project / "build/runs/site-a/quick"
    assert (runs / "split_run/split_1_patient.ipynb").is_file()
    assert (runs / "study_a/image/split_1/run.json").is_file()
    features = pd.read_parquet(project / "build/features/site-b/features.parquet")
    assert features["patient_id"].nunique() == 58
    assert set(features["patient_id"]) == {f"sb{n:03d}x" for n in range(1, 59)}
    toc = (project / "build/book/_toc.yml").read_text()
    assert "site-a/quick/split_run/split_1_image" in toc and "synthetic" not in toc
    intro = (project / "build/book/datasets.md").read_text()
    assert "`site-a`" in intro and "synthetic" not in intro.lower()
    assert not SYNTHETIC_ID.search(_text_of(project / "build"))


def test_a_rerun_reuses_and_a_changed_file_recomputes_exactly_the_affected_steps(site_book, capfd):
    from mpirad.pipeline.steps import build_book_inputs

    project, _ = site_book
    capfd.readouterr()
    build_book_inputs(dataset_a="site-a", dataset_b="site-b", n_jobs=1, profile_overrides=TINY_A)
    out = capfd.readouterr().err  # mpirad logs on stderr
    assert out.count("reused (read back from the run of") == 4, out  # 2 splits, features, selection
    assert "computing" not in out

    features = project / "build/features/site-b/features.parquet"
    before = features.stat().st_mtime_ns
    cac = project / "sites/b/cac.csv"
    cac.write_text(cac.read_text())  # same content, new mtime: the data "changed"
    build_book_inputs(dataset_a="site-a", dataset_b="site-b", n_jobs=1, profile_overrides=TINY_A)
    out = capfd.readouterr().err
    assert "study B features site-b: computing (the result of" in out and "the data changed" in out
    assert "study B feature selection site-b: computing" in out
    assert out.count("study A split 1 (patient unit): reused") == 1
    assert features.stat().st_mtime_ns != before

    build_book_inputs(
        dataset_a="site-a", dataset_b="none", n_jobs=1,
        profile_overrides={**TINY_A, "classifier": {"epochs": 2, "batch_size": 8}},
    )  # fmt: skip
    out = capfd.readouterr().err
    assert "study A split 1 (patient unit): computing" in out and "other settings" in out
    assert "study B" in out and "left out of the book" in out
    record = json.loads(
        (project / "build/runs/site-a/quick/study_a/patient/split_1/run.json").read_text()
    )
    assert record["settings"]["profile"]["classifier"]["epochs"] == 2
    # back to the book's inputs for the chapters below
    build_book_inputs(dataset_a="site-a", dataset_b="site-b", n_jobs=1, profile_overrides=TINY_A)


CHAPTERS = {
    "datasets": (BOOK / "datasets.py", {}),
    "results": (BOOK / "study_a/results.py", {}),
    "radiomics": (BOOK / "study_b/radiomics.py", {"n_jobs": 1}),
    "outcome": (BOOK / "study_b/outcome.py", {"n_repeats": 3, "n_inner": 3, "n_jobs": 1}),
    "reproducibility": (BOOK / "reproducibility.py", {}),
}


@pytest.mark.parametrize("name", list(CHAPTERS))
def test_every_chapter_runs_on_the_site_data_of_the_book(site_book, name):
    project, _ = site_book
    notebook, parameters = CHAPTERS[name]
    out = run_notebook(
        notebook, parameters=parameters, output=project / "executed" / f"{name}.ipynb"
    )
    text = _shown_text(notebook_outputs(out))
    assert not SYNTHETIC_ID.search(text), SYNTHETIC_ID.search(text).group(0)
    if name == "datasets":  # the manifest lists every dataset; the data table only the book's
        text = str(notebook_outputs(out)[-1].get("data", {}).get("text/html", ""))
        assert "site-a" in text and "site-b" in text
    assert "synthetic-a" not in text and "synthetic-b" not in text
    assert not (project / "build/data").exists()
    if name == "outcome":
        assert (project / "build/stats/site-b/aic/record.json").is_file()
        assert not (project / "build/stats/synthetic-b").exists()


def test_a_parameter_naming_another_datasets_file_is_refused(site_book):
    from mpirad.jupyter.runner import NotebookRunError

    project, _ = site_book
    other = project / "build/features/other-b/features.parquet"
    other.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(project / "build/features/site-b/features.parquet", other)
    with pytest.raises(NotebookRunError, match="dataset 'other-b'"):
        run_notebook(
            BOOK / "study_b/radiomics.py",
            parameters={"features_path": str(other), "n_jobs": 1},
            output=project / "executed" / "refused.ipynb",
        )
    from mpirad.manifest import get_dataset
    from mpirad.pipeline.steps import cohort_features
    from mpirad.provenance import ForeignOutputError, StepRecord, write_record

    mine = project / "elsewhere/features.parquet"
    mine.parent.mkdir()
    shutil.copy(other, mine)
    write_record(mine, StepRecord("study_b.extract", "synthetic-b", "stamp:0"))
    with pytest.raises(ForeignOutputError, match="belongs to dataset 'synthetic-b'"):
        cohort_features(get_dataset("site-b"), path=mine)


def test_the_book_builds_on_the_site_datasets_and_names_them(site_book):
    """`make book DATASET_A=site-a DATASET_B=site-b`, in small: Jupyter Book on the generated TOC."""
    import subprocess
    import sys

    project, _ = site_book
    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    result = subprocess.run(
        [str(jupyter_book), "build", str(project), "-W", "--keep-going", "--toc",
         str(project / "build/book/_toc.yml")],
        capture_output=True, text=True, timeout=1200,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    verify = subprocess.run(
        [str(jupyter_book.parent / "mpirad"), "book-verify"], capture_output=True, text=True
    )  # every executed page and split run current (mpirad.pipeline.pages)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    html = project / "_build/html"
    intro = (html / "book/intro.html").read_text(encoding="utf-8")
    assert "site-a" in intro and "site-b" in intro and "site data" in intro
    assert "data in this book is synthetic" not in intro
    pages = {p.relative_to(html).as_posix() for p in html.rglob("*.html")}
    assert "build/runs/site-a/quick/split_run/split_1_image.html" in pages
    assert "book/synthetic_cohort.html" not in pages
    outcome = (html / "book/study_b/outcome.html").read_text(encoding="utf-8")
    assert "site-b" in outcome and not SYNTHETIC_ID.search(outcome)


def test_commands_say_whether_they_reuse_or_compute(site_book):
    from typer.testing import CliRunner

    from mpirad.cli import app

    project, _ = site_book
    runner = CliRunner()
    extract = runner.invoke(app, ["extract", "--dataset", "site-b", "--n-jobs", "1"])
    assert extract.exit_code == 0, extract.output
    assert "reused (read back from the run of" in extract.output
    outcome = ["outcome", "--dataset", "site-b", "--repeats", "2", "--inner", "2", "--n-jobs", "1"]
    first = runner.invoke(app, outcome)
    assert first.exit_code == 0, first.output
    assert "computing" in first.output and "build/stats/site-b/aic" in first.output
    second = runner.invoke(app, outcome)
    assert "reused (read back" in second.output
    table = "roi     pool"
    assert second.output[second.output.index(table) :] == first.output[first.output.index(table) :]
    other = runner.invoke(app, [*outcome[:4], "3", *outcome[5:]])
    assert "computing" in other.output and "other settings (config)" in other.output
    refused = runner.invoke(
        app, ["run", "book/study_b/radiomics.py", "--dataset", "site-b", "-p", "feature_path=x"]
    )
    assert refused.exit_code == 2 and "feature_path" in refused.output
