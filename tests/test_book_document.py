"""The book reads as a document (issue 26 item 3): tables without ``nan``, model cards as
markdown, folded code, one parameters table and a title per split page, no log lines."""

from __future__ import annotations

import nbformat
import numpy as np
import pandas as pd
import pytest
from bs4 import BeautifulSoup

from mpirad.jupyter.notebook import (
    demote_headings,
    fold_code_inputs,
    read_book_notebook,
    table_html,
)
from mpirad.jupyter.runner import page_heading, publish_notebook


def test_table_html_shows_every_kind_of_missing_value_as_an_empty_cell() -> None:
    frame = pd.DataFrame(
        {
            "float": [0.25, np.nan],
            "nullable int": pd.array([3, None], dtype="Int64"),
            "text": pd.Series(["x", None], dtype=object),
            "time": [pd.Timestamp(0), pd.NaT],
        }
    )
    html = table_html(frame)
    rows = BeautifulSoup(html, "html.parser").find("tbody").find_all("tr")
    assert [td.get_text() for td in rows[1].find_all("td")] == ["", "", "", ""]
    for raw in ("nan", "NaN", "&lt;NA&gt;", "None", "NaT"):
        assert f">{raw}<" not in html
    assert ">0.25<" in html and ">3<" in html  # values keep pandas' own format


def test_demote_headings_moves_each_heading_down_but_not_code() -> None:
    card = "# Card\n\ntext #1\n\n## Model\n```\n# a comment\n```\n#hashtag\n###### deep"
    out = demote_headings(card, 2)
    assert out.splitlines() == [
        "### Card",
        "",
        "text #1",
        "",
        "#### Model",
        "```",
        "# a comment",
        "```",
        "#hashtag",
        "###### deep",
    ]


def test_the_book_reader_folds_code_inputs_and_keeps_explicit_choices() -> None:
    text = (
        "# %% [markdown]\n# # Title\n\n"
        "# %%\nx = 1\n\n"
        '# %% tags=["remove-input"]\ny = 2\n\n'
        '# %% tags=["show-input"]\nz = 3\n'
    )
    nb = read_book_notebook(text)
    tags = [c.metadata.get("tags") for c in nb.cells]
    assert tags == [None, ["hide-input"], ["remove-input"], ["show-input"]]
    assert fold_code_inputs(nb) is nb and [c.metadata.get("tags") for c in nb.cells] == tags


def executed_split_notebook() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    heading = nbformat.v4.new_markdown_cell("# Study A, one split\n\nText.")
    params = nbformat.v4.new_code_cell('split = 1\nunit = "patient"  # patient or image')
    params.metadata["tags"] = ["parameters"]
    injected = nbformat.v4.new_code_cell('# Parameters\nsplit = 3\nunit = "image"\n')
    injected.metadata["tags"] = ["injected-parameters"]
    run = nbformat.v4.new_code_cell("run_split(split)")
    run.outputs = [
        nbformat.v4.new_output(
            "stream", name="stdout", text="[mpirad] x split 3: reused (read back)\nAUC 0.8\n"
        ),
        nbformat.v4.new_output("stream", name="stdout", text="[mpirad] x: 1.0 s\n"),
    ]
    nb.cells = [heading, params, injected, run]
    return nb


def test_publish_titles_the_page_and_shows_the_parameters_once() -> None:
    parameters = {"split": 3, "unit": "image"}
    nb = publish_notebook(executed_split_notebook(), parameters)
    assert nb.cells[0].source.splitlines()[0] == "# Study A, one split (split 3, image-level)"
    assert [c.metadata.get("tags") for c in nb.cells[1:]] == [
        ["parameters", "remove-cell"],
        ["injected-parameters", "remove-cell"],
        ["mpirad-parameters"],
        ["hide-input"],
    ]
    table = nb.cells[3].source
    assert "| `split` | `3` | (default `1`) |" in table
    assert '| `unit` | `"image"` | patient or image (default `"patient"`) |' in table
    assert [o["text"] for o in nb.cells[4].outputs] == ["AUC 0.8\n"]  # no log line
    again = publish_notebook(nbformat.from_dict(nb), parameters)  # idempotent
    assert nbformat.writes(again) == nbformat.writes(nb)


@pytest.mark.parametrize(
    ("parameters", "title"),
    [
        ({"split": 2, "unit": "patient"}, "T (split 2, patient-level)"),
        ({"dataset": "x"}, "T"),
        ({"split": 1}, "T (split 1)"),
    ],
)
def test_page_heading(parameters, title) -> None:
    assert page_heading("T", parameters) == title


def test_step_messages_go_to_stderr_outside_a_notebook(capsys) -> None:
    from mpirad.provenance import Plan, say

    say("study B features x", Plan("reuse", "read back from the run of today"))
    out = capsys.readouterr()
    assert out.out == ""
    assert out.err == "[mpirad] study B features x: reused (read back from the run of today)\n"


def test_timings_table_has_no_missing_cells_and_a_total(tmp_path, monkeypatch) -> None:
    import json

    from mpirad.pipeline import report

    path = tmp_path / "timings.json"
    path.write_text(
        json.dumps(
            {
                "dataset x": {"seconds": 1.5},
                "study A split 1 (patient unit)": {"profile": "quick", "seconds": 60.0},
                "study B features x": {"engine": "numpy", "seconds": 30.0},
            }
        )
    )
    monkeypatch.setattr(report, "timings_path", lambda: path)
    table = report.timings_table()
    assert not table.isna().any().any()
    assert table.loc["study A split 1 (patient unit)", "settings"] == "profile quick"
    assert table.loc["dataset x", "settings"] == ""
    assert table.loc["sum of the steps", "seconds"] == pytest.approx(91.5)
    assert table.loc["sum of the steps", "minutes"] == pytest.approx(1.52)


def test_seeds_table_gives_the_profile_size_not_a_phrase() -> None:
    from mpirad.phantom.profiles import get_profile
    from mpirad.pipeline.report import seeds_table

    table = seeds_table(["synthetic-a", "synthetic-b"])
    assert not table.isna().any().any()
    quick = get_profile("quick")
    assert table["patients"].tolist() == [str(quick.a_patients), str(quick.b_patients)]


def test_shown_path_is_relative_to_the_project() -> None:
    from mpirad.manifest import project_root
    from mpirad.pipeline.paths import shown_path

    assert shown_path(project_root() / "build" / "features") == "build/features"
    assert shown_path("/elsewhere/x") == "/elsewhere/x"


def test_permutation_table_leaves_out_a_column_without_values() -> None:
    from mpirad.stats.report import POOL_LABELS, table3_pvalues

    pool = next(iter(POOL_LABELS))
    calibrated = pd.DataFrame(
        {
            "roi": ["RCAMIM", "LADMIM"],
            "pool": [pool, pool],
            "fisher_x": [10.0, 12.0],
            "chi2_p": [0.2, np.nan],
            "moment_p": [np.nan, np.nan],  # fewer permutations than a moment match needs
        }
    )
    table = table3_pvalues(calibrated)
    assert list(table.columns) == ["X", "chi-square p"]
    assert "chi-square p" in table.columns and table["chi-square p"].isna().sum() == 1
