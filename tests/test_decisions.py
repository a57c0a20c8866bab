"""The decisions appendix (``book/decisions.md``): its options exist, its code paths exist,
it is in the table of contents, and every chapter links to it.

Each option of the "other reading (option)" column is one backticked span of one of three
forms, checked against the real code:

- ``mpirad VERB --flag ...``: parsed by the ``mpirad`` command line (the verb and its
  options exist, values are accepted), without running it;
- ``dotted.path.function(parameter=value)`` (a function, class or method): ``parameter`` is
  in its signature and, where the parameter is typed ``Literal[...]``, ``value`` is one of
  the choices (``...`` stands for any value);
- ``manifest: key`` or ``manifest: key: value``: a key of a ``data_manifest.yaml`` dataset
  entry (:class:`mpirad.manifest.DatasetEntry`), ``value`` one of its choices if it has any.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import re
import shlex
import typing
from pathlib import Path

import pytest
import typer.main
import yaml

from mpirad.cli import app
from mpirad.manifest import DatasetEntry
from mpirad.pipeline.book import BookContext, toc_yaml

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "book" / "decisions.md"
#: The chapters that must link to the page.
CHAPTERS = [
    ROOT / "book" / "study_a" / "results.py",
    ROOT / "book" / "study_a" / "split_run.py",
    ROOT / "book" / "study_b" / "radiomics.py",
    ROOT / "book" / "study_b" / "outcome.py",
    ROOT / "book" / "study_b" / "ibsi_conformance.py",
    ROOT / "book" / "synthetic_cohort.py",
    ROOT / "book" / "using_a_model.py",
]
CALL = re.compile(r"^(?P<target>[A-Za-z_][\w.]*)\((?P<name>\w+)=(?P<value>.+)\)$")
MANIFEST = re.compile(r"^manifest: (?P<key>\w+)(?:: (?P<value>.+))?$")


def _tables() -> dict[str, list[dict[str, str]]]:
    """The page's tables by section heading: rows as {column header: cell}."""
    tables: dict[str, list[dict[str, str]]] = {}
    section, header = "", None
    for line in PAGE.read_text().splitlines():
        if line.startswith("## "):
            section, header = line[3:].strip(), None
        elif line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if header is None:
                header = cells
            elif not set("".join(cells)) <= set("-: "):
                assert len(cells) == len(header), f"{section}: a row with {len(cells)} cells"
                tables.setdefault(section, []).append(dict(zip(header, cells, strict=True)))
        else:
            header = None if not line.strip() else header
    return tables


TABLES = _tables()
ROWS = [(section, row) for section, rows in TABLES.items() for row in rows]
OPTION_COLUMN = "other reading (option)"
OPTIONS = sorted({span for _, row in ROWS for span in re.findall(r"`([^`]+)`", row[OPTION_COLUMN])})


def test_page_has_rows_for_both_studies():
    studies = {section.split(":")[0]: len(rows) for section, rows in TABLES.items()}
    assert studies.get("Study A", 0) >= 10 and studies.get("Study B", 0) >= 15, studies
    topics = [row["topic"] for _, row in ROWS]
    assert len(topics) == len(set(topics)), "a topic is listed twice"
    for section, row in ROWS:
        assert row["the paper"] and row["mpirad's default"], f"{section}: {row['topic']}"
        assert row[OPTION_COLUMN] == "none" or "`" in row[OPTION_COLUMN], row["topic"]


@pytest.mark.parametrize("row", [r for _, r in ROWS], ids=lambda r: r["topic"])
def test_code_paths_exist(row):
    paths = re.findall(r"`([^`]+)`", row["code"])
    assert paths, f"{row['topic']}: no code location"
    for path in paths:
        assert (ROOT / path).is_file(), f"{row['topic']}: no file {path}"


def _resolve(dotted: str) -> object:
    """The object named by a dotted path (module, then attributes)."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(dotted)


def _hints(obj: object) -> dict[str, object]:
    """Type hints of a callable's parameters ({} when they cannot be resolved)."""
    try:
        if inspect.isclass(obj):
            return typing.get_type_hints(obj if dataclasses.is_dataclass(obj) else obj.__init__)
        return typing.get_type_hints(obj)
    except Exception:  # noqa: BLE001 - names only imported for type checking
        return {}


def _check_literal(hint: object, value: str, where: str) -> None:
    if value == "..." or typing.get_origin(hint) is not typing.Literal:
        return
    choices = typing.get_args(hint)
    assert ast.literal_eval(value) in choices, f"{where}: {value} is not one of {choices}"


def _check_cli(option: str) -> None:
    words = shlex.split(option)[1:]
    assert any(w.startswith("--") for w in words), f"{option!r} names no option"
    group = typer.main.get_command(app)
    ctx = group.make_context("mpirad", list(words))
    name, command, rest = group.resolve_command(
        ctx, [*getattr(ctx, "_protected_args", []), *ctx.args]
    )
    assert command is not None, f"{option!r}: no verb {name!r}"
    command.make_context(name, rest, parent=ctx)  # unknown options and bad values raise


def _check_call(option: str, match: re.Match[str]) -> None:
    obj = _resolve(match["target"])
    parameters = inspect.signature(obj).parameters
    assert match["name"] in parameters, f"{option!r}: {match['target']} has no {match['name']}"
    hint = _hints(obj).get(match["name"])
    _check_literal(hint, match["value"], option)


def _check_manifest(match: re.Match[str]) -> None:
    fields = DatasetEntry.model_fields
    assert match["key"] in fields, f"the manifest has no key {match['key']!r}"
    if match["value"] is not None:
        value = yaml.safe_load(match["value"])
        _check_literal(fields[match["key"]].annotation, repr(value), f"manifest {match['key']}")


def test_options_were_found():
    assert len(OPTIONS) >= 20
    assert any(o.startswith("mpirad ") for o in OPTIONS)
    assert any(o.startswith("manifest: ") for o in OPTIONS)


@pytest.mark.parametrize("option", OPTIONS)
def test_option_exists(option):
    if option.startswith("mpirad "):
        _check_cli(option)
    elif match := MANIFEST.match(option):
        _check_manifest(match)
    elif match := CALL.match(option):
        _check_call(option, match)
    else:
        pytest.fail(
            f"{option!r} is none of: mpirad VERB --option, f(parameter=value), manifest: key"
        )


def test_option_check_catches_mistakes():
    with pytest.raises(AssertionError):
        _check_call("x", CALL.match('mpirad.stats.protocol.ProtocolConfig(select_by="AIC")'))
    with pytest.raises(AssertionError):
        _check_call("x", CALL.match("mpirad.tomo.run.run_split(selct_on=...)"))
    with pytest.raises(Exception):  # noqa: B017 - click's usage error
        _check_cli("mpirad outcome --select-on aic")
    with pytest.raises(AssertionError):
        _check_manifest(MANIFEST.match("manifest: rois: guess"))


def test_page_is_in_the_table_of_contents(monkeypatch):
    monkeypatch.setenv("MPIRAD_MANIFEST", str(ROOT / "data_manifest.yaml"))
    assert "- file: book/decisions\n" in toc_yaml(BookContext())
    assert "- file: book/decisions\n" in (ROOT / "_toc.yml").read_text()


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_chapter_links_to_the_page(chapter):
    text = chapter.read_text()
    first_cell = text.split("# %% [markdown]", 1)[1].split("# %%", 1)[0]
    links = re.findall(r"\]\(([^)\s]*decisions\.md)\)", " ".join(first_cell.split("\n# ")))
    assert links, f"{chapter.name}: the first markdown cell does not link book/decisions.md"
    for link in links:
        # a leading "/" is the project root for Sphinx (executed copies of split_run.py live
        # under build/runs/, where a relative link would break)
        target = ROOT / link[1:] if link.startswith("/") else chapter.parent / link
        assert target.resolve() == PAGE, f"{chapter.name}: {link} is not book/decisions.md"
