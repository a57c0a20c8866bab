"""Checks of the built book: screenshots and a document's rules (``make book-check``).

Usage:

- ``python -m mpirad.jupyter.bookcheck _build/html build/screenshots`` takes a full-width
  screenshot of the index and of one results page of each study, and scans every HTML page
  for error outputs (tracebacks, ``stderr`` cells) so a broken page fails loudly.
- ``python -m mpirad.jupyter.bookcheck --check _build/html`` checks that every page reads as
  a document, not a log (issue 26 item 3), one function per rule:
  :func:`nan_cells` (a ``nan``/``NaN``/``<NA>`` table cell), :func:`machine_paths` (the
  build machine's checkout path, a home folder, a ``PosixPath(...)``),
  :func:`markdown_tables` (pipe text ``|---|`` that was not rendered as a table),
  :func:`duplicate_titles` (two pages with one title) and :func:`wide_tables` (a table
  wider than the text column outside a scroll container; measured in headless Chromium).
  It prints one line per finding and exits 1 when there is any.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

#: Pages to photograph (relative to the HTML root); missing ones are reported.
PAGES = (
    "index.html",
    "book/study_a/results.html",
    "book/study_b/outcome.html",
)

ERROR_PATTERNS = (
    re.compile(r"Traceback \(most recent call last\)"),
    re.compile(r'class="[^"]*output[^"]*\bstderr\b'),
    re.compile(r"\w+Error: .*line \d+"),
)


def scan_html_for_errors(html_root: str | Path) -> list[tuple[Path, str]]:
    """Pages of the built book that show an error output, with the matched text."""
    findings = []
    for page in sorted(Path(html_root).rglob("*.html")):
        text = page.read_text(encoding="utf-8", errors="replace")
        for pattern in ERROR_PATTERNS:
            match = pattern.search(text)
            if match:
                findings.append((page, match.group(0)[:120]))
                break
    return findings


def screenshot(page: Path, out: Path, *, width: int = 1280, height: int = 2400) -> Path:
    """Render ``page`` with headless Chromium into ``out`` (PNG)."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        raise RuntimeError("chromium not found (Debian: apt-get install chromium)")
    out.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
            f"--window-size={width},{height}",
            "--virtual-time-budget=3000",
            f"--screenshot={out}",
            page.resolve().as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return out


# --- a document, not a log: one function per rule -------------------------------------

#: What a missing value looks like when a table printed it raw.
NAN_TEXTS = frozenset({"nan", "NaN", "-nan", "<NA>", "NaT", "None"})
#: Pipe text of a markdown table that was shown as text instead of rendered.
#: (Sphinx's smart quotes turn ``---`` of a paragraph into an em dash, so both count.)
MARKDOWN_RULE = re.compile(r"\|\s*:?(?:-{3,}|\u2014+|\u2013+):?\s*\|")
#: Traces of the machine that built the book, whoever built it.
MACHINE_PATTERNS = (
    re.compile(r"PosixPath\("),
    re.compile(r"WindowsPath\("),
    re.compile(r"/home/[\w.-]+"),
    re.compile(r"/Users/[\w.-]+"),
    re.compile(r"(?<![\w/])/root/"),
)
#: Pages of Sphinx's own machinery, not the book's chapters.
SKIPPED_PAGES = ("genindex.html", "search.html")


@dataclass(frozen=True)
class Finding:
    """One broken rule: which page, which rule, what was seen."""

    page: Path
    rule: str
    detail: str

    def __str__(self) -> str:
        return f"{self.page}: {self.rule}: {self.detail}"


def book_pages(html_root: str | Path) -> list[Path]:
    """The book's HTML pages under ``html_root`` (not ``_static``, ``_sources``, the index
    of terms or the search page), sorted."""
    root = Path(html_root)
    return [
        page
        for page in sorted(root.rglob("*.html"))
        if not {"_static", "_sources", "_images"} & set(page.relative_to(root).parts)
        and page.relative_to(root).as_posix() not in SKIPPED_PAGES
    ]


def _article(page: Path):
    """The page's main text (``<article>``, else ``<body>``) parsed by BeautifulSoup."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(page.read_text(encoding="utf-8", errors="replace"), "html.parser")
    return soup.find("article") or soup.body or soup


def nan_cells(page: str | Path) -> list[Finding]:
    """A finding per table of ``page`` with a cell reading ``nan``, ``NaN``, ``<NA>``, ...:
    a missing value should be empty or explained, not printed as Python spells it."""
    page = Path(page)
    findings = []
    for number, table in enumerate(_article(page).find_all("table"), start=1):
        cells = [c for c in table.find_all(["td", "th"]) if c.get_text(strip=True) in NAN_TEXTS]
        if cells:
            first = cells[0].get_text(strip=True)
            findings.append(
                Finding(
                    page, "nan cell", f"table {number} has {len(cells)} cell(s) reading {first!r}"
                )
            )
    return findings


def machine_paths(page: str | Path, roots: tuple[str | Path, ...] = ()) -> list[Finding]:
    """A finding per trace of the build machine in ``page``'s text: one of ``roots`` (the
    checkout's absolute path), a home folder, a ``PosixPath(...)``."""
    page = Path(page)
    text = _article(page).get_text(" ")
    patterns = [re.compile(re.escape(str(root).rstrip("/")) + r"(?![\w.-])") for root in roots]
    findings = []
    for pattern in (*patterns, *MACHINE_PATTERNS):
        match = pattern.search(text)
        if match:
            start = max(match.start() - 30, 0)
            context = " ".join(text[start : match.end() + 30].split())
            findings.append(
                Finding(page, "machine path", f"{match.group(0)!r} in '...{context}...'")
            )
    return findings


def markdown_tables(page: str | Path) -> list[Finding]:
    """A finding when ``page`` shows a markdown table as pipe text (``|---|``) instead of
    rendering it (a model card printed with ``print``, say)."""
    page = Path(page)
    text = _article(page).get_text("\n")
    matches = MARKDOWN_RULE.findall(text)
    if not matches:
        return []
    return [
        Finding(
            page, "unrendered markdown table", f"{len(matches)} rule line(s) such as {matches[0]!r}"
        )
    ]


#: A line of mpirad's log (``[mpirad] step: reused (...)``), which belongs on stderr.
LOG_LINE = re.compile(r"^\[mpirad\] .*$", re.MULTILINE)


def log_lines(page: str | Path) -> list[Finding]:
    """A finding when a cell's output on ``page`` shows mpirad's log lines (``[mpirad]
    ...``): the CLI's messages, not the page's content (a page may still quote them in
    its text, as the chapter on one's own data does)."""
    page = Path(page)
    lines = [
        match.group(0)
        for output in _article(page).select("div.cell_output")
        for match in LOG_LINE.finditer(output.get_text("\n"))
    ]
    if not lines:
        return []
    return [Finding(page, "log line", f"{len(lines)} line(s) such as {lines[0][:80]!r}")]


def page_title(page: str | Path) -> str:
    """The page's ``<title>`` (without the book's name after the dash)."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(Path(page).read_text(encoding="utf-8", errors="replace"), "html.parser")
    title = soup.title.get_text(strip=True) if soup.title else ""
    return title.split(" \u2014 ")[0].strip()


def duplicate_titles(pages: list[Path]) -> list[Finding]:
    """A finding per page sharing its title with another: previous/next links, tabs and
    the search results could not tell them apart."""
    by_title: dict[str, list[Path]] = defaultdict(list)
    for page in pages:
        by_title[page_title(page)].append(Path(page))
    return [
        Finding(
            page, "duplicate title", f"{title!r} is also the title of {len(same) - 1} other page(s)"
        )
        for title, same in sorted(by_title.items())
        if len(same) > 1
        for page in same
    ]


#: For each table of the article: its width, the text column's width, whether a scroll
#: container (overflow-x auto/scroll, no wider than the column) holds it, and its start.
_MEASURE_TABLES = """
const article = document.querySelector('article.bd-article') || document.querySelector('article')
    || document.body;
if (!article) return [];  // a page that only redirects (the book's index.html)
const style = getComputedStyle(article);
const column = article.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
const out = [];
article.querySelectorAll('table').forEach((table, i) => {
  const width = table.getBoundingClientRect().width;
  let scrolls = false;
  for (let el = table.parentElement; el && el !== article; el = el.parentElement) {
    const ox = getComputedStyle(el).overflowX;
    if ((ox === 'auto' || ox === 'scroll') && el.getBoundingClientRect().width <= column + 1) {
      scrolls = true;
      break;
    }
  }
  out.push([i + 1, width, column, scrolls, (table.innerText || '').trim().slice(0, 40)]);
});
return out;
"""


def measure_tables(pages: list[Path], *, width: int = 1280, driver=None) -> dict[Path, list]:
    """``page -> [[number, table width, column width, in a scroll container, start], ...]``
    (CSS pixels) for each of ``pages`` laid out by headless Chromium ``width`` px wide."""
    own = driver is None
    if own:
        from mpirad.jupyter.labcheck import start_browser

        driver = start_browser(width=width, height=1000)
    try:
        result = {}
        for page in pages:
            driver.get(Path(page).resolve().as_uri())
            result[Path(page)] = driver.execute_script(_MEASURE_TABLES)
        return result
    finally:
        if own:
            driver.quit()


def wide_tables(
    pages: list[Path], *, width: int = 1280, driver=None, measured: dict | None = None
) -> list[Finding]:
    """A finding per table wider than the text column and not in a scroll container: its
    right-hand columns would be hidden or spill over the margin. ``measured``: the
    :func:`measure_tables` of ``pages`` when already taken."""
    findings = []
    if measured is None:
        measured = measure_tables(pages, width=width, driver=driver)
    for page, tables in measured.items():
        for number, table_width, column, scrolls, start in tables:
            if table_width > column + 1 and not scrolls:
                findings.append(
                    Finding(
                        page,
                        "wide table",
                        f"table {number} is {table_width:.0f} px in a {column:.0f} px column "
                        f"without a scroll container ({start!r})",
                    )
                )
    return findings


def build_roots(html_root: str | Path) -> tuple[Path, ...]:
    """Absolute paths that would betray the build machine: the project's checkout (the
    folder above ``_build/html``) and this checkout."""
    from mpirad.manifest import project_root

    roots = {project_root().resolve()}
    html = Path(html_root).resolve()
    if html.parent.name == "_build":
        roots.add(html.parent.parent)
    return tuple(sorted(roots))


def check_book(html_root: str | Path, *, layout: bool = True) -> list[Finding]:
    """Every rule over every page of the built book (``layout=False`` skips the one that
    needs a browser, :func:`wide_tables`)."""
    pages = book_pages(html_root)
    if not pages:
        raise FileNotFoundError(f"no HTML pages under {html_root}: build the book first")
    roots = build_roots(html_root)
    findings = []
    for page in pages:
        findings += nan_cells(page) + machine_paths(page, roots) + markdown_tables(page)
        findings += log_lines(page)
    findings += duplicate_titles(pages)
    if layout:
        measured = measure_tables(pages)
        findings += wide_tables(pages, measured=measured)
        findings += scrolling_tables(measured)
    return sorted(findings, key=lambda f: (str(f.page), f.rule))


def scrolling_tables(measured: dict) -> list[Finding]:
    """A note (rule ``note: scrolls``, not a failure) per table that is wider than the
    column but scrolls inside a container: allowed, yet a reader must scroll to see its
    last columns, so a narrower table (split, rounded) reads better."""
    return [
        Finding(
            page,
            NOTE_SCROLLS,
            f"table {number} is {table_width:.0f} px in a {column:.0f} px column ({start!r})",
        )
        for page, tables in measured.items()
        for number, table_width, column, scrolls, start in tables
        if table_width > column + 1 and scrolls
    ]


#: The rule name of :func:`scrolling_tables`' notes, which do not fail the check.
NOTE_SCROLLS = "note: scrolls"


def check_main(args: list[str]) -> int:
    """``--check [--no-layout] [HTML_ROOT]``: print every finding; 1 when there is any."""
    layout = "--no-layout" not in args
    rest = [a for a in args if not a.startswith("--")]
    html_root = Path(rest[0] if rest else "_build/html")
    everything = check_book(html_root, layout=layout)
    notes = [f for f in everything if f.rule == NOTE_SCROLLS]
    findings = [f for f in everything if f.rule != NOTE_SCROLLS]
    for finding in [*notes, *findings]:
        print(finding)
    pages = len(book_pages(html_root))
    print(
        f"bookcheck: {len(findings)} finding(s) over {pages} page(s) of {html_root}"
        f" ({len(notes)} table(s) scroll within the column)"
    )
    return 1 if findings else 0


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if "--check" in args:
        return check_main([a for a in args if a != "--check"])
    html_root = Path(args[0] if args else "_build/html")
    out_dir = Path(args[1] if len(args) > 1 else "build/screenshots")
    status = 0
    for page, text in scan_html_for_errors(html_root):
        print(f"ERROR output in {page}: {text}")
        status = 1
    for rel in PAGES:
        page = html_root / rel
        if not page.exists():
            print(f"missing page: {page}")
            status = 1
            continue
        shot = screenshot(page, out_dir / (rel.replace("/", "_").replace(".html", ".png")))
        print(f"screenshot: {shot}")
    return status


if __name__ == "__main__":
    raise SystemExit(main())
