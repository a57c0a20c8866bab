"""One call at the top of every book notebook: :func:`setup`."""

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
    import pandas as pd

    _numbered_styler_ids()
    pd.set_option("display.precision", 3)
    pd.set_option("display.max_columns", 30)
    pd.set_option("display.width", 120)
    return root


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
