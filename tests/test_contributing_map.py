"""CONTRIBUTING.md's package map names every module of mpirad, and only modules that exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: Modules the map covers by a rule rather than by name.
BY_RULE = {"__init__.py", "__main__.py", "cli.py"}


def _map_rows() -> dict[str, set[str]]:
    """Module-table rows: the package folder (or file) in the first column -> names in the row."""
    rows: dict[str, set[str]] = {}
    for line in (ROOT / "CONTRIBUTING.md").read_text().splitlines():
        cells = line.split("|")
        if len(cells) < 3 or not cells[1].strip().startswith("`mpirad/"):
            continue
        for first in re.findall(r"`(mpirad/[^`]*)`", cells[1]):
            rows.setdefault(first, set()).update(re.findall(r"`([\w/]+(?:\.py)?)`", cells[2]))
    return rows


def test_every_module_is_on_the_map():
    rows = _map_rows()
    missing = []
    for path in sorted((ROOT / "mpirad").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if path.name in BY_RULE or rel in rows:
            continue
        package = next((p for p in rows if p.endswith("/") and rel.startswith(p)), None)
        inner = rel[len(package) :] if package else ""
        named = package and any(
            inner == name or inner.startswith(name.rstrip("/") + "/") for name in rows[package]
        )
        if not named:
            missing.append(rel)
    assert not missing, f"CONTRIBUTING.md's package map does not mention {missing}"


def test_the_map_names_only_existing_modules():
    absent = []
    for package, names in _map_rows().items():
        base = ROOT / package
        if not base.exists():
            absent.append(package)
            continue
        for name in names:
            if name.endswith(".py") and "/" not in name and not (base / name).exists():
                if package.endswith("/") and not any(base.rglob(name)):
                    absent.append(f"{package}{name}")
    assert not absent, f"CONTRIBUTING.md's package map names modules that do not exist: {absent}"
