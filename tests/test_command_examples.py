"""Every command example in the README, CONTRIBUTING and the book parses as written.

Examples are collected from fenced code blocks (lines that start with ``mpirad`` or
``make``) and from inline code spans and notebook comments (``mpirad ...`` in backticks).
Each ``mpirad`` example is parsed by the real command line (the verb exists, its options
and arguments are accepted) without running it; each ``make`` target exists in the
Makefile. Placeholders in capitals stay as they are, except the numeric ``K`` and ``N``.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import typer.main

from mpirad.cli import app

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted((ROOT / "book").rglob("*.md"))]
NOTEBOOKS = sorted((ROOT / "book").rglob("*.py"))
NUMERIC_PLACEHOLDERS = {"K": "1", "N": "5"}


def _fenced_lines(text: str) -> list[str]:
    lines, inside = [], False
    for line in text.splitlines():
        if line.strip().startswith("```"):
            inside = not inside
        elif inside:
            lines.append(re.sub(r"^(\$ )?(\.venv/bin/)?", "", line.split("  #")[0].strip()))
    return lines


def _examples() -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for path in DOCS + NOTEBOOKS:
        text = path.read_text()
        where = path.relative_to(ROOT).as_posix()
        if path.suffix == ".md":
            found += [
                (where, line) for line in _fenced_lines(text) if re.match(r"(mpirad|make) ", line)
            ]
        spans = re.findall(r"`(mpirad [^`]+)`", text)
        found += [(where, " ".join(span.replace("\n#", " ").split())) for span in spans]
    return sorted(set(found))


EXAMPLES = _examples()


def _parse(args: list[str]) -> None:
    """Parse ``mpirad ARGS`` as click would, down to the verb, without running it."""
    group = typer.main.get_command(app)
    ctx = group.make_context("mpirad", list(args))
    name, command, rest = group.resolve_command(
        ctx, [*getattr(ctx, "_protected_args", []), *ctx.args]
    )
    assert command is not None, f"unknown verb {name!r}"
    command.make_context(name, rest, parent=ctx)


def test_examples_were_found():
    assert sum(e.startswith("mpirad ") for _, e in EXAMPLES) >= 10
    assert sum(e.startswith("make ") for _, e in EXAMPLES) >= 3


@pytest.mark.parametrize(("where", "example"), EXAMPLES, ids=[e for _, e in EXAMPLES])
def test_command_example_parses(where, example):
    if "..." in example:
        pytest.skip("elided example")
    words = [NUMERIC_PLACEHOLDERS.get(w, w) for w in shlex.split(example)]
    if words[0] == "make":
        targets = set(re.findall(r"^([a-z][\w-]*):", (ROOT / "Makefile").read_text(), re.M))
        wanted = [w for w in words[1:] if "=" not in w]
        assert set(wanted) <= targets, f"{where}: {example!r}: no such Makefile target"
        return
    if len(words) == 2 and not words[1].startswith("-"):  # a verb named in the text
        verbs = typer.main.get_command(app).commands  # type: ignore[attr-defined]
        assert words[1] in verbs, f"{where}: {example!r}: mpirad has no verb {words[1]!r}"
        return
    try:
        _parse(words[1:])
    except Exception as error:  # click's usage errors
        pytest.fail(f"{where}: {example!r} does not parse: {error}")
