"""The intro's headline results are the chapters' own results boxes (mpirad.pipeline.headlines)."""

from __future__ import annotations

from docutils import nodes
from docutils.frontend import get_default_settings
from docutils.parsers.rst import Parser
from docutils.utils import new_document

from mpirad.findings import paper_box, results_box
from mpirad.pipeline.headlines import HEADLINE_PAGES, headlines_html, results_box_html


def _doctree(*boxes) -> nodes.document:
    document = new_document("page", get_default_settings(Parser))
    for box in boxes:
        document += nodes.raw("", box._repr_html_(), format="html")
    return document


def test_results_box_is_found_and_the_paper_box_is_not():
    results = results_box(["X = **136.7**"])
    assert results_box_html(_doctree(paper_box(["paper"]), results)) == results._repr_html_()
    assert results_box_html(_doctree(paper_box(["paper"]))) is None


def test_headlines_follow_the_pages_of_the_build():
    outcome = "book/study_b/outcome"
    text = headlines_html({outcome: results_box(["X = 1"])._repr_html_()}, {outcome: "o.html"})
    assert 'href="o.html"' in text and HEADLINE_PAGES[outcome] in text and "X = 1" in text
    assert HEADLINE_PAGES["book/study_a/results"] not in text  # not in this build
    changed = headlines_html({outcome: results_box(["X = 2"])._repr_html_()}, {outcome: "o"})
    assert "X = 2" in changed and "X = 1" not in changed
    missing = headlines_html({outcome: None}, {outcome: "o.html"})
    assert "no results box" in missing
    assert "Neither study" in headlines_html({}, {})
