"""The introduction's headline results, taken from the chapters of the same build.

A Sphinx extension (``_config.yml``: ``sphinx.extra_extensions``). ``book/intro.md`` holds
a placeholder (``<div class="mpirad-headlines">``); when the intro is written (Sphinx's
write phase, after every page of this build was read or executed), the placeholder is
replaced by the "Results" boxes of the chapters in :data:`HEADLINE_PAGES`, copied from
those pages' own doctrees. The intro therefore states exactly what the published pages
state, and can never be older than them. A chapter left out of the book (e.g. no Study A
dataset) is left out of the headlines, and said so.
"""

from __future__ import annotations

from typing import Any

#: Pages whose results box the intro repeats: docname -> heading.
HEADLINE_PAGES: dict[str, str] = {
    "book/study_a/results": "Study A: ischemia on D-SPECT LV tomograms",
    "book/study_b/radiomics": "Study B: the blind-to-outcome feature selection",
    "book/study_b/outcome": "Study B: coronary calcium from perfusion radiomics",
}
#: The placeholder's class in ``book/intro.md``.
PLACEHOLDER = "mpirad-headlines"
#: The class of a results box (:mod:`mpirad.findings`).
BOX_CLASS = "mpirad-findings"


def results_box_html(doctree) -> str | None:
    """The HTML of the first results box of a page's doctree, or None."""
    from docutils import nodes

    for node in doctree.findall(nodes.raw):
        text = node.astext()
        if BOX_CLASS in text and "admonition note" in text:
            return text
    return None


def headlines_html(boxes: dict[str, str | None], links: dict[str, str]) -> str:
    """The headline section: each page's heading (a link to it) and its results box.

    Args:
        boxes: docname -> results box HTML (None: the page has no box, or is not built).
        links: docname -> relative URL of the page.
    """
    parts = []
    for docname, heading in HEADLINE_PAGES.items():
        if docname not in links:
            continue
        box = boxes.get(docname)
        body = box or "<p>(this page shows no results box in this build)</p>"
        parts.append(f'<p><a href="{links[docname]}"><strong>{heading}</strong></a></p>{body}')
    if not parts:
        return "<p>Neither study is part of this build.</p>"
    return "".join(parts)


def _fill_intro(app, doctree, docname: str) -> None:
    from docutils import nodes

    placeholders = [n for n in doctree.findall(nodes.raw) if PLACEHOLDER in n.astext()]
    if not placeholders:
        return
    env = app.builder.env
    boxes, links = {}, {}
    for page in HEADLINE_PAGES:
        if page not in env.found_docs:
            continue
        links[page] = app.builder.get_relative_uri(docname, page)
        boxes[page] = results_box_html(env.get_doctree(page))
    html = f'<div class="{PLACEHOLDER}">{headlines_html(boxes, links)}</div>'
    for node in placeholders:
        node.replace_self(nodes.raw("", html, format="html"))


def setup(app) -> dict[str, Any]:
    """Sphinx extension: fill the intro's headline placeholder at write time."""
    app.connect("doctree-resolved", _fill_intro)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": False}
