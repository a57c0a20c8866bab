"""One call at the top of every book notebook: :func:`setup`; how the book shows tables
(:func:`table_html`: a missing value is an empty cell) and markdown (:func:`show_markdown`:
a model card as a part of the page, its headings below the page's)."""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

#: The book's palette (colour-blind safe, seaborn "colorblind").
PALETTE = "colorblind"


def _show_data_notes_as_text() -> None:
    """Show mpirad's warnings about the data (a dropped speck of a mask, an uncertain long
    axis) as a plain line of the page, ``note: ...``, each message once, instead of a
    Python warning on stderr (which names a source line and fails the book's build).
    Every other warning is shown as before."""
    from mpirad.heart.reorient import LongAxisWarning
    from mpirad.heart.segments import DroppedVoxelsWarning

    shown = warnings.showwarning
    if getattr(shown, "mpirad_notes", False):
        return
    seen: set[str] = set()

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, LongAxisWarning | DroppedVoxelsWarning):
            text = str(message)
            if text not in seen:
                seen.add(text)
                print(f"note: {text}")
            return
        shown(message, category, filename, lineno, file, line)

    show.mpirad_notes = True
    warnings.showwarning = show


class _NoteHandler(logging.Handler):
    """mpirad's logged warnings about the data as ``note: ...`` lines (stdout), each once."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.seen: set[str] = set()

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if text not in self.seen:
            self.seen.add(text)
            prefix = "note" if record.levelno < logging.ERROR else "error"
            print(f"{prefix}: {text}", flush=True)


def _show_data_logs_as_text() -> None:
    """mpirad's logged warnings (e.g. a Study A image whose outline falls outside the crop)
    go to the page as ``note:`` lines, as its Python warnings do
    (:func:`_show_data_notes_as_text`): on stderr they would be removed from the published
    page with a build warning, which fails the book (``-W``)."""
    logger = logging.getLogger("mpirad")
    if not any(isinstance(h, _NoteHandler) for h in logger.handlers):
        logger.addHandler(_NoteHandler())
    logger.propagate = False


def setup(*, chdir: bool = True, quiet: bool = True) -> Path:
    """Prepare a notebook: project root as working directory, one plotting style.

    Jupyter Book executes a notebook in its own folder and papermill in the folder it is
    told; both then see the same relative paths (``build/...``) after this call.

    Args:
        chdir: change the working directory to the project root (the manifest's folder).
        quiet: hide library deprecation/future warnings and progress bars, which would
            otherwise end up in the published pages.

    Returns:
        The project root.
    """
    import matplotlib as mpl
    import seaborn as sns

    from mpirad.manifest import project_root

    root = project_root()
    if chdir:
        os.chdir(root)
    sns.set_theme(context="notebook", style="whitegrid", palette=PALETTE)
    mpl.rcParams.update(
        {
            "figure.dpi": 110,
            "savefig.dpi": 150,
            "figure.figsize": (7.5, 4.2),
            "axes.titlesize": 12,
            "axes.titleweight": "bold",
            "axes.labelsize": 11,
            "legend.frameon": False,
        }
    )
    if quiet:
        for category in (DeprecationWarning, FutureWarning, PendingDeprecationWarning):
            warnings.filterwarnings("ignore", category=category)
        warnings.filterwarnings("ignore", message=".*[Tt]qdm.*")
        warnings.filterwarnings("ignore", message=".*IProgress not found.*")
        try:
            from tqdm import TqdmWarning

            warnings.filterwarnings("ignore", category=TqdmWarning)
        except ImportError:  # pragma: no cover
            pass
        os.environ.setdefault("TQDM_DISABLE", "1")
        logging.getLogger("radiomics").setLevel(logging.ERROR)
        _show_data_notes_as_text()
        _show_data_logs_as_text()
    import pandas as pd

    _numbered_styler_ids()
    pd.set_option("display.precision", 3)
    pd.set_option("display.max_columns", 30)
    pd.set_option("display.max_rows", 100)  # a summary table per split and metric is long
    pd.set_option("display.min_rows", 20)
    pd.set_option("display.width", 120)
    pd.set_option("styler.format.na_rep", NA_REP)
    pd.set_option("styler.format.precision", 3)
    _show_tables_with_empty_missing_values()
    return root


#: How a missing value (NaN, None, <NA>, NaT) shows in the book's tables: an empty cell
#: (a page explains what is missing where it matters).
NA_REP = ""


def table_html(frame) -> str:
    """``frame`` (a pandas DataFrame) as the book shows it: pandas' own HTML table and
    number format, its display options (``display.max_rows``...), and :data:`NA_REP` for
    every missing value, whatever the column's dtype (``DataFrame.to_html``'s ``na_rep``
    alone leaves nullable dtypes' ``<NA>``)."""
    import pandas as pd

    frame = frame.copy()
    for column in range(frame.shape[1]):
        values = frame.iloc[:, column]
        nullable = isinstance(values.dtype, pd.api.extensions.ExtensionDtype)
        if (nullable or values.dtype == object) and values.isna().any():
            frame.isetitem(column, values.astype(object).where(values.notna(), float("nan")))
    return frame.to_html(
        na_rep=NA_REP,
        max_rows=pd.get_option("display.max_rows"),
        max_cols=pd.get_option("display.max_columns"),
        show_dimensions=pd.get_option("display.show_dimensions") is True,
        notebook=True,
    )


def _show_tables_with_empty_missing_values() -> None:
    """Make IPython show every DataFrame through :func:`table_html` (one home for how the
    book shows a table); nothing outside IPython."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover
        return
    shell = get_ipython()
    if shell is None:
        return
    import pandas as pd

    shell.display_formatter.formatters["text/html"].for_type(pd.DataFrame, table_html)


def demote_headings(text: str, levels: int = 1) -> str:
    """Markdown ``text`` with every ATX heading (``#``...) ``levels`` deeper (at most
    ``######``), fenced code blocks left alone: a document shown inside a page (a model
    card) then has no second title."""
    out, fence = [], None
    for line in text.splitlines():
        stripped = line.lstrip()
        if fence is None and stripped.startswith(("```", "~~~")):
            fence = stripped[:3]
        elif fence is not None and stripped.startswith(fence):
            fence = None
        elif fence is None and line.startswith("#"):
            hashes = len(line) - len(line.lstrip("#"))
            if hashes <= 6 and (len(line) == hashes or line[hashes] == " "):
                line = "#" * min(hashes + levels, 6) + line[hashes:]
        out.append(line)
    return "\n".join(out)


def show_markdown(source, *, levels: int = 1) -> None:
    """Show a markdown document (a path such as a ``model_card.md``, or its text) as
    part of the page: rendered (tables as tables; the book renders markdown outputs with
    MyST, ``nb_render_markdown_format``), its headings ``levels`` below the page's."""
    from IPython.display import Markdown, display

    text = source.read_text(encoding="utf-8") if isinstance(source, Path) else str(source)
    display(Markdown(demote_headings(text, levels)))


def _numbered_styler_ids() -> None:
    """Give pandas ``Styler`` tables the ids ``T_00001``, ``T_00002``, ... in the order a
    notebook makes them, instead of a random uuid: the same results then give the same
    page, byte for byte (a rebuilt chapter can be compared with the last build)."""
    from itertools import count
    from uuid import UUID

    try:
        from pandas.io.formats import style_render
    except ImportError:  # pragma: no cover - another pandas layout: keep its random ids
        return
    if not hasattr(style_render, "uuid4"):  # pragma: no cover
        return
    numbers = count(1)
    # Styler takes the first 5 hex digits of the uuid: put the number there
    style_render.uuid4 = lambda: UUID(int=(next(numbers) % 0x100000) << 108)


#: Cell tags that already say how a cell's input shows; such a cell keeps its choice.
INPUT_TAGS = frozenset({"remove-cell", "remove-input", "hide-input", "hide-cell", "show-input"})


def fold_code_inputs(nb):
    """Tag every code cell of ``nb`` ``hide-input`` (the page shows its output and a
    button that opens the code) unless a tag in :data:`INPUT_TAGS` already decides;
    ``show-input`` keeps a cell's code open. Returns ``nb`` (changed in place)."""
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        tags = cell.metadata.setdefault("tags", [])
        if not INPUT_TAGS & set(tags):
            tags.append("hide-input")
    return nb


def read_book_notebook(text: str, fmt: str = "py:percent"):
    """The book's reader of its jupytext pages (``nb_custom_formats`` in ``_config.yml``):
    :func:`jupytext.reads` with the code inputs folded (:func:`fold_code_inputs`), so a
    page reads as a document and a reader can still open every cell's code."""
    import jupytext

    return fold_code_inputs(jupytext.reads(text, fmt=fmt))
