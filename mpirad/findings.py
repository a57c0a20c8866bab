"""The "Results" and "Compared with the paper" boxes of the book's chapters.

One small renderer shared by the studies' ``findings`` modules
(:mod:`mpirad.stats.findings`, :mod:`mpirad.radiomics.findings`,
:mod:`mpirad.tomo.findings`), which turn a run's tables into sentences; nothing here is
typed by hand. A box is an IPython display object: HTML (a Sphinx ``admonition`` div with
inline styles, so it looks like a box in the built book *and* in JupyterLab, which has no
Sphinx CSS) with a Markdown fallback (a bulleted list under a bold title).

A chapter opens its box before the numbers exist (:func:`open_box`, a placeholder with a
display id) and fills it at the end (:meth:`BoxHandle.update`): the executed notebook, and
so the HTML page, shows the final text at the top.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

#: Admonition class of each kind of box (Sphinx book theme colours), and its border colour.
KINDS: dict[str, tuple[str, str]] = {
    "results": ("admonition note", "#2e86c1"),
    "paper": ("admonition seealso", "#7d3c98"),
}


def number(value: float, digits: int = 2) -> str:
    """``value`` with ``digits`` decimals; "n/a" for None or NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def p_value(p: float) -> str:
    """A p-value as a reader expects it: "p = 0.03", "p < 0.001", "p n/a"."""
    if p is None or math.isnan(p):
        return "p n/a"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def listing(items: Sequence[str], empty: str = "none") -> str:
    """``["a", "b", "c"]`` -> "a, b and c"; ``empty`` for none."""
    items = list(items)
    if not items:
        return empty
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _inline_markdown_to_html(text: str) -> str:
    """Escape ``text`` and render its ``**bold**``, ``*italic*`` and ```code``` spans."""
    escaped = html.escape(text, quote=False)
    escaped = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", escaped)
    escaped = re.sub(r"(?<![*\w])\*([^*\s][^*]*?)\*(?![*\w])", r"<em>\1</em>", escaped)
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)


@dataclass
class Box:
    """A titled list of sentences, displayed as a box (HTML) or a list (Markdown)."""

    title: str
    sentences: list[str] = field(default_factory=list)
    kind: str = "results"

    def _repr_markdown_(self) -> str:
        lines = [f"**{self.title}**", ""] + [f"- {s}" for s in self.sentences]
        return "\n".join(lines) + "\n"

    def _repr_html_(self) -> str:
        css_class, colour = KINDS[self.kind]
        items = "".join(f"<li>{_inline_markdown_to_html(s)}</li>" for s in self.sentences)
        return (
            f'<div class="{css_class} mpirad-findings" style="border-left: 4px solid {colour};'
            ' padding: 0.4em 0.8em; margin: 0.6em 0; background: rgba(0, 0, 0, 0.03);">'
            f'<p class="admonition-title" style="font-weight: bold; margin: 0 0 0.3em 0;">'
            f"{html.escape(self.title)}</p><ul style='margin: 0;'>{items}</ul></div>"
        )


def results_box(sentences: Sequence[str], title: str = "Results") -> Box:
    """The "Results" box of a chapter."""
    return Box(title, list(sentences), "results")


def paper_box(sentences: Sequence[str], title: str = "Compared with the paper") -> Box:
    """The "Compared with the paper" box of a chapter."""
    return Box(title, list(sentences), "paper")


class BoxHandle:
    """A box displayed now (a placeholder) and filled later (same display id)."""

    def __init__(self, title: str = "Results") -> None:
        from IPython.display import display

        self.title = title
        placeholder = results_box(
            [
                "Filled in at the end of this page from its numbers; if this line is still here, the page stopped before its results (see below)."
            ],
            title,
        )
        self._handle = display(placeholder, display_id=True)

    def update(self, box: Box) -> Box:
        """Replace the placeholder with ``box``; returns it."""
        if self._handle is not None:
            self._handle.update(box)
        return box


def open_box(title: str = "Results") -> BoxHandle:
    """Display a placeholder box at the top of a chapter; fill it with ``.update(box)``."""
    return BoxHandle(title)
