"""`mpirad --help` and its verbs' help render flags and extras as a user types them.

Typer's Rich help showed every flag as ``--debug <bool>`` and read ``[dask]`` in an
option's help as Rich markup (``Needs pip install 'mpirad'.``); mpirad uses click's plain
help (``rich_markup_mode=None`` in :mod:`mpirad.cli` and :mod:`mpirad.predict_cli`).
"""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from mpirad.cli import app

#: verb -> flags (boolean options) it has
FLAGS = {
    (): ["--debug"],
    ("run",): ["--all-splits", "--force"],
    ("extract",): ["--allow-failures", "--force"],
    ("check",): ["--strict"],
    ("book-inputs",): [],
    ("predict", "tomo"): [],
}


def _help(*verb: str) -> str:
    result = CliRunner().invoke(app, [*verb, "--help"], terminal_width=100)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("verb", list(FLAGS), ids=lambda v: " ".join(v) or "mpirad")
def test_flags_render_as_flags(verb):
    text = _help(*verb)
    assert "<bool>" not in text and "BOOLEAN" not in text, text
    for flag in FLAGS[verb]:
        # `--flag  help` or `--flag / --no-flag  help`: never a value after the flag
        line = next(line for line in text.splitlines() if line.strip().startswith(flag))
        assert re.match(rf"\s*{flag}(\s*/\s*--no-{flag[2:]})?\s{{2,}}\S", line), line
    # options that take a value still name its type
    if verb == ("extract",):
        assert re.search(r"--bins <str>", text), text


@pytest.mark.parametrize("verb", [("extract",), ("outcome",), ("book-inputs",)])
def test_extras_appear_literally(verb):
    text = _help(*verb)
    if "dask" not in text.lower():
        pytest.skip(f"mpirad {' '.join(verb)} has no Dask option")
    assert "mpirad[dask]" in re.sub(r"\s+", "", text), text
    assert "'mpirad'." not in re.sub(r"\s+", "", text)
