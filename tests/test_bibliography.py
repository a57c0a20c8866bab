"""The book's bibliography: ``book/references.bib`` parses, every ``{cite}`` key used in
``book/`` is in it, and the configuration and generated toc name it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from mpirad.pipeline.book import BookContext, toc_yaml

ROOT = Path(__file__).resolve().parents[1]
BIB = ROOT / "book" / "references.bib"
#: {cite}`a,b`, {cite:p}`a`, {cite:t}`a` ...
CITE = re.compile(r"\{cite(?::\w+)?\}`([^`]+)`")


def _entries():
    pybtex = pytest.importorskip("pybtex.database")
    return pybtex.parse_file(str(BIB), bib_format="bibtex").entries


def _cited_keys() -> dict[str, set[str]]:
    keys: dict[str, set[str]] = {}
    for path in sorted((ROOT / "book").rglob("*")):
        if path.suffix not in {".md", ".py"} or not path.is_file():
            continue
        for match in CITE.finditer(path.read_text(encoding="utf-8")):
            for key in match.group(1).split(","):
                keys.setdefault(key.strip(), set()).add(path.relative_to(ROOT).as_posix())
    return keys


def test_bib_parses_and_every_entry_has_title_and_year_or_note():
    entries = _entries()
    assert len(entries) >= 18
    for key, entry in entries.items():
        assert entry.fields.get("title"), key
        assert entry.fields.get("year") or entry.fields.get("note"), key
        assert entry.persons.get("author"), key


def test_every_cited_key_is_in_the_bib():
    entries = _entries()
    cited = _cited_keys()
    assert {"study_a", "ashrafinia2021", "zwanenburg2020ibsi"} <= set(cited)
    missing = {key: sorted(pages) for key, pages in cited.items() if key not in entries}
    assert not missing, f"cited but not in {BIB.name}: {missing}"


def test_cite_pattern_reads_several_keys():
    text = "as {cite}`a, b` and {cite:t}`c`"
    assert [k.strip() for m in CITE.finditer(text) for k in m.group(1).split(",")] == [
        "a",
        "b",
        "c",
    ]


def test_config_and_toc_name_the_bibliography():
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    assert config["bibtex_bibfiles"] == ["book/references.bib"]
    toc = yaml.safe_load(toc_yaml(BookContext(dataset_a=None, dataset_b="synthetic-b")))
    appendix = next(part for part in toc["parts"] if part["caption"] == "Appendix")
    assert {"file": "book/bibliography"} in appendix["chapters"]
    assert "{bibliography}" in (ROOT / "book" / "bibliography.md").read_text(encoding="utf-8")
