"""Shared figure helpers: the "no data" panel drawn instead of crashing on empty input.

A site's cohort can leave a figure with nothing to show (no winning model on any test
set, every value NaN, a step that removed all features). Matplotlib then fails with an
unhelpful error deep inside (a zero-size array, NaN axis limits). The chapter's figure
functions check their input first and return :func:`no_data_figure`, which says what is
missing and why, so a notebook still runs to the end and its reader sees the reason.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure


def finite_values(values: object) -> np.ndarray:
    """The finite values of ``values`` as a float array (NaN, inf and None dropped).

    Non-numeric values count as missing (they are coerced to NaN).
    """
    import pandas as pd

    array = pd.to_numeric(pd.Series(np.ravel(np.asarray(values, dtype=object))), errors="coerce")
    array = array.to_numpy(dtype=float)
    return array[np.isfinite(array)]


def has_finite(values: object) -> bool:
    """Whether ``values`` holds at least one finite number."""
    return finite_values(values).size > 0


def no_data_figure(title: str, reason: str, figsize: tuple[float, float] = (7.5, 2.4)) -> Figure:
    """A figure with one empty panel that explains why there is nothing to plot.

    Args:
        title: the figure's usual title (so the reader knows which figure this is).
        reason: what is missing, e.g. ``"no test set had a winning model"``.
        figsize: size in inches.

    Returns:
        The figure; its axes carry the label ``"no data"`` (``ax.get_label()``).
    """
    fig, ax = plt.subplots(figsize=figsize)
    ax.set_label("no data")
    ax.set_axis_off()
    ax.set_title(title)
    ax.text(
        0.5,
        0.5,
        f"no data: {reason}",
        ha="center",
        va="center",
        wrap=True,
        fontsize=10,
        color="dimgrey",
        transform=ax.transAxes,
    )
    return fig


def is_no_data(fig: Figure) -> bool:
    """Whether ``fig`` is a :func:`no_data_figure`."""
    return any(ax.get_label() == "no data" for ax in fig.axes)
