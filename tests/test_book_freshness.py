"""The book is a function of its inputs (issue 25): fail -> rerun, a changed value, changed back.

A small site book (Study B only, 58 renamed synthetic patients; the outcome chapter on a
3 x 3 protocol without permutations, and the decisions appendix it links to) is built
with Jupyter Book as `make book` does, then:

1. one patient's age changed in clinical.csv while the outcome page cannot run (an
   unusable Dask scheduler in the environment): the build and `mpirad book-verify` fail
   naming the page; the identical command executes it again and fails again (never rc 0
   on a stale page);
2. the environment fixed: the page is executed, its HTML and `build/stats` change;
3. the value changed back: the tables return to the first build's bytes, and the page
   too but for the times it says its inputs were computed at;
4. nothing changed: nothing is executed, and the book verifies as current.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import notebook_project
from test_site_book import MANIFEST, make_site_copy

REPO = Path(__file__).resolve().parents[1]
STATS = ("runs.parquet", "inner.parquet", "predictions.parquet", "models.parquet")
TOC = """\
format: jb-book
root: book/study_b/outcome
parts:
  - caption: Appendix
    chapters:
      - file: book/decisions
      - file: book/bibliography
"""
#: The outcome chapter's parameters in this small book (its parameters cell, rewritten).
SMALL_OUTCOME = {
    "n_repeats = 50": "n_repeats = 3",
    "n_inner = 20": "n_inner = 3",
    "n_jobs = 2": "n_jobs = 1",
    "permutations = -1": "permutations = 0",
}

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("notebooks")]


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    projects = notebook_project(tmp_path_factory, MANIFEST, "fresh_project")
    root = next(projects)
    shutil.copytree(REPO / "book", root / "book")
    shutil.copy(REPO / "_config.yml", root / "_config.yml")
    outcome = root / "book/study_b/outcome.py"
    text = outcome.read_text(encoding="utf-8")
    for old, new in SMALL_OUTCOME.items():
        assert old in text, old
        text = text.replace(old, new)
    outcome.write_text(text, encoding="utf-8")
    (root / "toc.yml").write_text(TOC, encoding="utf-8")
    from mpirad.manifest import get_dataset

    make_site_copy(get_dataset("synthetic-b").ensure().root, root / "sites/b", "sb", keep=58)
    shutil.rmtree(root / "build")
    yield root
    projects.close()


def make_book(root: Path, **env: str) -> tuple[int, str, float]:
    """`make book DATASET_A=none DATASET_B=site-b` with the small TOC: (rc, log, seconds)."""
    from mpirad.pipeline.steps import build_book_inputs

    start = time.perf_counter()
    build_book_inputs(dataset_a="none", dataset_b="site-b", n_jobs=1)
    bin_dir = Path(sys.executable).parent
    environment = {**os.environ, **env}
    log, rc = "", 0
    for command in (
        [str(bin_dir / "jupyter-book"), "build", str(root), "-W", "--keep-going", "--toc",
         str(root / "toc.yml")],
        [str(bin_dir / "mpirad"), "book-verify", "--toc", str(root / "toc.yml")],
    ):  # fmt: skip
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=900, cwd=root, env=environment
        )
        log += result.stdout + result.stderr
        if result.returncode:
            rc = result.returncode
            break
    return rc, log, time.perf_counter() - start


def snapshot(root: Path) -> dict[str, bytes]:
    """The outcome page's HTML and the protocol tables it wrote."""
    html = root / "_build/html/book/study_b/outcome.html"
    files = {"outcome.html": html.read_bytes()}
    for name in STATS:
        files[name] = (root / "build/stats/site-b/aic" / name).read_bytes()
    return files


#: What a page may show differently after its data changed and changed back: when its
#: inputs were computed ("reused (read back from the run of <time>"), and Sphinx's
#: checksum query of a static file (``mystnb.<hash>.css?v=...``: absent on the very first
#: build, as myst-nb copies that file after the pages are written).
VOLATILE = re.compile(rb"\d{4}-\d\d-\d\d \d\d:\d\d UTC|\?v=[0-9a-f]{8}(?=\")")


def differences(now: dict[str, bytes], before: dict[str, bytes]) -> list[str]:
    """The files of two snapshots that differ (the page with its run times masked); for
    the page, its differing lines."""
    import difflib

    def page(files: dict[str, bytes]) -> bytes:
        return VOLATILE.sub(b"", files["outcome.html"])

    names = [n for n in before if n != "outcome.html" and now[n] != before[n]]
    if page(now) != page(before):
        lines = difflib.unified_diff(
            page(before).decode().splitlines(), page(now).decode().splitlines(),
            n=0, lineterm="",
        )  # fmt: skip
        names += ["outcome.html", *list(lines)[:40]]
    return names


def executed(log: str, page: str) -> bool:
    return f"[mpirad] page {page}: out of date" in log


def test_a_failed_page_stays_failed_and_a_changed_value_rebuilds_exactly_its_pages(project):
    root = project
    timings = {}
    rc, log, timings["first build"] = make_book(root)
    assert rc == 0, log[-4000:]
    assert "all 1 executed pages are current" in log
    first = snapshot(root)
    html = first["outcome.html"].decode()
    assert "site-b" in html and "RuntimeWarning" not in html and "ipython3 tb" not in html

    # 1. one clinical value changed while the page cannot run: it fails, and the
    #    identical command executes it again and fails again
    clinical = root / "sites/b/clinical.csv"
    original = clinical.read_bytes()
    lines = original.decode().splitlines()
    header, row = lines[0].split(","), lines[1].split(",")
    row[header.index("age")] = "99.0"
    clinical.write_text("\n".join([lines[0], ",".join(row), *lines[2:]]) + "\n")
    for attempt in ("failed build", "identical rerun"):
        rc, log, timings[attempt] = make_book(root, MPIRAD_DASK_SCHEDULER="bogus")
        assert rc != 0, f"{attempt}: rc 0\n{log[-4000:]}"
        assert executed(log, "book/study_b/outcome"), log[-4000:]
        assert "page book/study_b/outcome did not execute successfully" in log, log[-4000:]
    verify = subprocess.run(
        [str(Path(sys.executable).parent / "mpirad"), "book-verify", "--toc", str(root / "toc.yml")],
        capture_output=True, text=True, cwd=root,
    )  # fmt: skip
    assert verify.returncode == 1
    assert "page book/study_b/outcome: not current: its last execution failed" in verify.stderr

    # 2. fixed: executed again; the page and build/stats show the changed value
    rc, log, timings["changed value"] = make_book(root)
    assert rc == 0, log[-4000:]
    assert executed(log, "book/study_b/outcome"), log[-4000:]
    changed = snapshot(root)
    assert changed["outcome.html"] != first["outcome.html"]
    assert changed["predictions.parquet"] != first["predictions.parquet"]

    # 3. changed back: the first build's bytes again
    clinical.write_bytes(original)
    rc, log, timings["changed back"] = make_book(root)
    assert rc == 0, log[-4000:]
    assert executed(log, "book/study_b/outcome")
    assert not differences(snapshot(root), first), differences(snapshot(root), first)

    # 4. nothing changed: nothing executed, verified current
    rc, log, timings["no change"] = make_book(root)
    assert rc == 0 and not executed(log, "book/study_b/outcome"), log[-4000:]
    assert "all 1 executed pages are current" in log

    # 5. a patient left out on purpose (manifest exclude:): the page runs again and counts
    #    the exclusion by reason
    manifest = root / "data_manifest.yaml"
    text = manifest.read_text(encoding="utf-8")
    patient = row[header.index("patient_id")]
    manifest.write_text(
        text.replace("  site-b:\n", f"  site-b:\n    exclude: {{{patient}: motion artefact}}\n"),
        encoding="utf-8",
    )
    try:
        rc, log, timings["one patient excluded"] = make_book(root)
    finally:
        manifest.write_text(text, encoding="utf-8")
    assert rc == 0, log[-4000:]
    assert executed(log, "book/study_b/outcome"), log[-4000:]
    page = snapshot(root)["outcome.html"].decode()
    assert "excluded in the manifest (motion artefact)" in page
    assert patient not in page
    print("book sequence times (s):", {k: round(v) for k, v in timings.items()})
