"""What each executed page of the book is made from, and the check after the build (fast).

The whole sequence (Jupyter Book, a failure, a changed value and back) is in
``tests/test_book_freshness.py``.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from mpirad.pipeline.book import BookContext, toc_yaml
from mpirad.pipeline.pages import (
    PAGE_READS,
    out_of_date,
    page_digest,
    page_inputs,
    toc_docnames,
    verify_pages,
)

REPO = Path(__file__).resolve().parents[1]
CONTEXT = BookContext(
    dataset_a="site-a",
    dataset_b="site-b",
    fingerprints={"site-a": "stamp:a1", "site-b": "stamp:b1"},
    inputs={"study_a/patient/split_1": "r1", "study_b/features": "f1", "study_b/selection": "s1"},
)


def test_a_page_changes_with_exactly_what_it_reads():
    other_b = replace(CONTEXT, fingerprints={**CONTEXT.fingerprints, "site-b": "stamp:b2"})
    other_a = replace(CONTEXT, inputs={**CONTEXT.inputs, "study_a/patient/split_1": "r2"})
    digests = {
        page: (page_digest(page, REPO, CONTEXT), page_digest(page, REPO, other_b),
               page_digest(page, REPO, other_a))
        for page in PAGE_READS
    }  # fmt: skip
    changed_by_b = {p for p, (d, b, _) in digests.items() if d != b}
    changed_by_a = {p for p, (d, _, a) in digests.items() if d != a}
    assert changed_by_b == {
        "book/datasets", "book/synthetic_cohort", "book/study_b/radiomics",
        "book/study_b/outcome", "book/using_a_model", "book/reproducibility",
        "book/real_scans",
    }  # fmt: skip
    assert "book/study_b/outcome" not in changed_by_a and "book/study_a/results" in changed_by_a
    assert "book/study_b/ibsi_conformance" not in changed_by_a | changed_by_b
    # another profile changes every page reading a dataset; a page not listed reads all
    paper = replace(CONTEXT, profile="paper")
    assert page_digest("book/study_b/outcome", REPO, paper) != digests["book/study_b/outcome"][0]
    assert set(page_inputs("book/new_chapter", REPO, CONTEXT)) >= {"study_a", "study_b"}


def test_a_page_changes_with_its_source_and_the_pages_it_reads(tmp_path):
    for page in ("book/study_b/outcome", "book/using_a_model"):
        (tmp_path / page).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / f"{page}.py").write_text("x = 1\n")
    before = page_digest("book/using_a_model", tmp_path, CONTEXT)
    outcome = page_digest("book/study_b/outcome", tmp_path, CONTEXT)
    (tmp_path / "book/study_b/outcome.py").write_text("x = 2\n")  # e.g. n_repeats changed
    assert page_digest("book/study_b/outcome", tmp_path, CONTEXT) != outcome
    assert page_digest("book/using_a_model", tmp_path, CONTEXT) != before


def test_a_page_reading_data_not_ours_changes_with_that_folder(tmp_path, monkeypatch):
    """The Real scans page follows $MPIRAD_PHYSIONET_MPS (unset, set, a file changed);
    pages that do not read it stay put."""
    monkeypatch.delenv("MPIRAD_PHYSIONET_MPS", raising=False)
    unset = page_digest("book/real_scans", REPO, CONTEXT)
    outcome = page_digest("book/study_b/outcome", REPO, CONTEXT)
    (tmp_path / "a_mask.nii.gz").write_bytes(b"x")
    monkeypatch.setenv("MPIRAD_PHYSIONET_MPS", str(tmp_path))
    present = page_digest("book/real_scans", REPO, CONTEXT)
    assert present != unset
    (tmp_path / "a_mask.nii.gz").write_bytes(b"xy")
    assert page_digest("book/real_scans", REPO, CONTEXT) != present
    assert page_digest("book/study_b/outcome", REPO, CONTEXT) == outcome
    monkeypatch.setenv("MPIRAD_IBSI_CT_PHANTOM", str(tmp_path))
    assert "env:MPIRAD_IBSI_CT_PHANTOM" in page_inputs(
        "book/study_b/ibsi_conformance", REPO, CONTEXT
    )


def test_out_of_date_says_why():
    assert out_of_date("p", None, "d") == "no record of a successful execution"
    assert "failed" in out_of_date("p", {"inputs": "d", "succeeded": False}, "d")
    assert out_of_date("p", {"inputs": "old", "succeeded": True}, "d") == "its inputs changed"
    assert out_of_date("p", {"inputs": "d", "succeeded": True}, "d") == ""


def test_toc_docnames_reads_the_generated_table_of_contents(tmp_path):
    toc = tmp_path / "_toc.yml"
    toc.write_text(toc_yaml(BookContext(dataset_a=None, dataset_b="synthetic-b")))
    names = toc_docnames(toc)
    assert names[0] == "book/intro" and "book/study_b/outcome" in names
    assert "book/study_a/results" not in names and len(names) == len(set(names))


@pytest.fixture
def book_project(tmp_path, monkeypatch):
    (tmp_path / "data_manifest.yaml").write_text("version: 1\ndatasets: {}\n")
    monkeypatch.setenv("MPIRAD_MANIFEST", str(tmp_path / "data_manifest.yaml"))
    for page in ("book/study_b/outcome", "book/decisions"):
        (tmp_path / page).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / "book/study_b/outcome.py").write_text("x = 1\n")
    (tmp_path / "book/decisions.md").write_text("# Decisions\n")
    folder = tmp_path / "build/book"
    folder.mkdir(parents=True)
    context = BookContext(dataset_a=None, dataset_b="site-b", fingerprints={"site-b": "s"})
    from dataclasses import asdict

    (folder / "context.json").write_text(json.dumps(asdict(context)))
    toc = tmp_path / "toc.yml"
    toc.write_text("root: book/study_b/outcome\nchapters:\n  - file: book/decisions\n")
    return tmp_path, context, toc


def _write_pages(root: Path, **pages: dict) -> None:
    (root / "build/book/pages.json").write_text(json.dumps({"pages": pages}))


def test_verify_names_pages_not_built_failed_or_stale(book_project):
    root, context, toc = book_project
    current, problems = verify_pages(root, toc)
    assert current == [] and [p.page for p in problems] == ["book/study_b/outcome"]
    assert "no record" in problems[0].reason  # the .md page is not executed: not checked
    wanted = page_digest("book/study_b/outcome", root, context)
    _write_pages(root, **{"book/study_b/outcome": {"inputs": wanted, "succeeded": False}})
    assert "failed" in verify_pages(root, toc)[1][0].reason
    _write_pages(root, **{"book/study_b/outcome": {"inputs": wanted, "succeeded": True}})
    assert verify_pages(root, toc) == (["book/study_b/outcome"], [])
    (root / "book/study_b/outcome.py").write_text("x = 2\n")  # built from another source
    problems = verify_pages(root, toc)[1]
    assert len(problems) == 1 and "inputs changed" in str(problems[0])


def test_the_execution_cache_entries_of_a_stale_page_are_removed(tmp_path):
    import nbformat
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    from mpirad.pipeline.pages import _remove_cached

    cache = get_cache(tmp_path / "cache")
    sources = {name: tmp_path / f"{name}.py" for name in ("stale", "current")}
    for n, path in enumerate(sources.values()):
        path.write_text("x = 1\n")
        notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(f"x = {n}")])
        cache.cache_notebook_bundle(CacheBundleIn(notebook, str(path)), check_validity=False)

    class App:
        class config:
            nb_execution_cache_path = str(tmp_path / "cache")

    _remove_cached(App, [sources["stale"]])
    assert [Path(r.uri).name for r in cache.list_cache_records()] == ["current.py"]


def test_a_page_whose_build_was_interrupted_is_not_current(book_project):
    """Sphinx drops a page before reading it again (env-purge-doc): until its new read is
    recorded, an interrupted build leaves it out of date, whatever Sphinx's cache says."""
    from mpirad.pipeline.pages import _purge, read_pages

    root, context, toc = book_project
    wanted = page_digest("book/study_b/outcome", root, context)
    _write_pages(root, **{"book/study_b/outcome": {"inputs": wanted, "succeeded": True}})
    assert verify_pages(root, toc)[1] == []
    _purge(None, None, "book/study_b/outcome")  # reading starts; the build is then killed
    assert read_pages()["book/study_b/outcome"]["succeeded"] is False
    assert "interrupted" in str(verify_pages(root, toc)[1][0])


def test_a_relative_execution_cache_is_the_books_not_the_working_directorys(tmp_path):
    from types import SimpleNamespace

    from mpirad.pipeline.pages import _cache_in_the_book

    config = SimpleNamespace(nb_execution_cache_path="_build/.jupyter_cache")
    _cache_in_the_book(SimpleNamespace(srcdir=str(tmp_path)), config)
    assert config.nb_execution_cache_path == str(tmp_path / "_build/.jupyter_cache")
    _cache_in_the_book(SimpleNamespace(srcdir="/elsewhere"), config)  # absolute: kept
    assert config.nb_execution_cache_path == str(tmp_path / "_build/.jupyter_cache")
