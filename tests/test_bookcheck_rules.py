"""The built-HTML checks of ``mpirad.jupyter.bookcheck``: each rule catches its fault in a
small page, and a clean page passes them all."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mpirad.jupyter import bookcheck

PAGE = """<!DOCTYPE html><html><head><title>{title} &#8212; The book</title>
<style>body {{ margin: 0; }} article {{ width: 600px; padding: 0 20px; }}</style></head>
<body><nav>/home/someone in the navigation is not the article</nav>
<article class="bd-article">{body}</article></body></html>"""

TABLE = "<table><tr><th>metric</th><th>value</th></tr><tr><td>AUC</td><td>{value}</td></tr></table>"


def write_page(folder: Path, name: str, body: str, title: str | None = None) -> Path:
    page = folder / name
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(PAGE.format(title=title or name, body=body), encoding="utf-8")
    return page


@pytest.fixture
def clean(tmp_path: Path) -> Path:
    return write_page(
        tmp_path,
        "clean.html",
        "<h1>Clean</h1><p>Build folder <code>build/runs</code>; a range 1-3 | 4.</p>"
        + TABLE.format(value="")
        + TABLE.format(value="0.81"),
    )


def test_a_clean_page_passes_every_rule(clean: Path) -> None:
    assert bookcheck.nan_cells(clean) == []
    assert bookcheck.machine_paths(clean, (Path("/work/checkout"),)) == []
    assert bookcheck.markdown_tables(clean) == []
    other = write_page(clean.parent, "other.html", "<p>text</p>")
    assert bookcheck.duplicate_titles([clean, other]) == []


@pytest.mark.parametrize("text", ["nan", "NaN", "<NA>", "None"])
def test_nan_cells_are_found(tmp_path: Path, text: str) -> None:
    page = write_page(tmp_path, "p.html", TABLE.format(value=text.replace("<", "&lt;")) * 2)
    findings = bookcheck.nan_cells(page)
    assert [f.rule for f in findings] == ["nan cell", "nan cell"]
    assert f"reading {text!r}" in findings[0].detail


def test_the_word_nan_in_prose_is_no_table_cell(tmp_path: Path) -> None:
    page = write_page(tmp_path, "p.html", "<p>pandas prints nan for a missing value</p>")
    assert bookcheck.nan_cells(page) == []


@pytest.mark.parametrize(
    "text",
    [
        "PosixPath('/tmp/x')",
        "/work/checkout/build/features/b.parquet",
        "/home/alice/mpirad",
        "cache in /root/.cache",
    ],
)
def test_machine_paths_are_found(tmp_path: Path, text: str) -> None:
    page = write_page(tmp_path, "p.html", f"<pre>{text}</pre>")
    findings = bookcheck.machine_paths(page, (Path("/work/checkout"),))
    assert findings and findings[0].rule == "machine path"


def test_another_checkout_with_a_common_prefix_is_not_this_one(tmp_path: Path) -> None:
    page = write_page(tmp_path, "p.html", "<p>/work/checkout-2/x</p>")
    assert bookcheck.machine_paths(page, (Path("/work/checkout"),)) == []


@pytest.mark.parametrize(
    "pipe_text",
    [
        "| metric | value |\n|---|---|\n| AUC | 0.8 |",
        "| a | b |\n|\u2014|\u2014|",
        "| a |\n| :--- |",
    ],
)
def test_unrendered_markdown_tables_are_found(tmp_path: Path, pipe_text: str) -> None:
    page = write_page(tmp_path, "p.html", f"<p>{pipe_text}</p>")
    assert [f.rule for f in bookcheck.markdown_tables(page)] == ["unrendered markdown table"]


def test_duplicate_titles_name_every_page_that_shares_one(tmp_path: Path) -> None:
    pages = [write_page(tmp_path, f"split_{i}.html", "<p>x</p>", title="One split") for i in (1, 2)]
    pages.append(write_page(tmp_path, "split_3.html", "<p>x</p>", title="Split 3, image-level"))
    findings = bookcheck.duplicate_titles(pages)
    assert sorted(f.page.name for f in findings) == ["split_1.html", "split_2.html"]
    assert bookcheck.page_title(pages[0]) == "One split"


def test_book_pages_leave_out_sphinx_machinery(tmp_path: Path, clean: Path) -> None:
    for name in ("search.html", "genindex.html", "_static/x.html", "_sources/y.html"):
        write_page(tmp_path, name, "<p>x</p>")
    assert bookcheck.book_pages(tmp_path) == [clean]


def test_check_main_fails_on_a_finding_and_passes_a_clean_book(tmp_path: Path, capsys) -> None:
    write_page(tmp_path / "good", "index.html", "<p>fine</p>")
    assert bookcheck.main(["--check", "--no-layout", str(tmp_path / "good")]) == 0
    write_page(tmp_path / "bad", "index.html", TABLE.format(value="NaN"))
    assert bookcheck.main(["--check", "--no-layout", str(tmp_path / "bad")]) == 1
    assert "nan cell" in capsys.readouterr().out


needs_browser = pytest.mark.skipif(
    not (shutil.which("chromium") and shutil.which("chromedriver")),
    reason="chromium and chromedriver are needed for layout",
)


@needs_browser
def test_wide_tables_are_found_unless_they_scroll(tmp_path: Path) -> None:
    wide = '<table style="width: 900px"><tr><td>wide</td></tr></table>'
    narrow = '<table style="width: 500px"><tr><td>narrow</td></tr></table>'
    scrolled = f'<div style="overflow-x: auto">{wide}</div>'
    hidden = f'<div style="overflow: hidden">{wide}</div>'
    pages = [
        write_page(tmp_path, "wide.html", wide),
        write_page(tmp_path, "narrow.html", narrow),
        write_page(tmp_path, "scrolled.html", scrolled),
        write_page(tmp_path, "hidden.html", hidden),
    ]
    measured = bookcheck.measure_tables(pages)
    findings = bookcheck.wide_tables(pages, measured=measured)
    assert sorted(f.page.name for f in findings) == ["hidden.html", "wide.html"]
    assert "900 px in a 600 px column" in findings[0].detail
    notes = bookcheck.scrolling_tables(measured)
    assert [(n.page.name, n.rule) for n in notes] == [("scrolled.html", bookcheck.NOTE_SCROLLS)]


def test_log_lines_in_outputs_are_found_but_not_in_the_text(tmp_path: Path) -> None:
    line = "[mpirad] study B features x: reused (read back from the run of today)"
    quoted = write_page(tmp_path, "quoted.html", f"<div class='highlight'><pre>{line}</pre></div>")
    assert bookcheck.log_lines(quoted) == []
    output = f"<div class='cell_output docutils container'><pre>note\n{line}</pre></div>"
    findings = bookcheck.log_lines(write_page(tmp_path, "output.html", output))
    assert [f.rule for f in findings] == ["log line"] and "1 line(s)" in findings[0].detail
