"""Screenshots of the built book with headless Chromium (``make book-check``).

Usage: ``python -m mpirad.jupyter.bookcheck _build/html build/screenshots`` takes a full-width
screenshot of the index and of one results page of each study, and scans every HTML page
for error outputs (tracebacks, ``stderr`` cells) so a broken page fails loudly.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
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


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
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
