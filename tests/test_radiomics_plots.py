"""The chapter's figures draw what they are given, with labelled axes."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from mpirad.radiomics.paper_b import PAPER_FUNNEL_COUNTS
from mpirad.radiomics.plots import (
    plot_funnel_counts,
    plot_per_bin_statistics,
    plot_variety_heatmaps,
)


def test_funnel_counts_plot():
    run = dict(PAPER_FUNNEL_COUNTS, rho_095=50, bin_number=50)
    fig = plot_funnel_counts(run, PAPER_FUNNEL_COUNTS)
    ax = fig.axes[0]
    widths = sorted(p.get_width() for p in ax.patches)
    assert len(ax.patches) == 2 * len(run) and widths[0] == 50
    assert ax.get_xlabel() and ax.get_title()
    plt.close(fig)


def test_variety_heatmaps_plot():
    names = ["joint_max", "joint_entr"]
    matrix = pd.DataFrame(np.array([[0.99, 0.1], [0.2, 0.98]]), index=names, columns=names)
    fig = plot_variety_heatmaps({"GLCM": matrix, "GLRLM": matrix})
    heatmaps = [ax for ax in fig.axes if ax.images]
    assert len(heatmaps) == 2
    np.testing.assert_allclose(heatmaps[0].images[0].get_array(), matrix.to_numpy())
    assert heatmaps[0].get_xlabel() == "3D merged feature"
    plt.close(fig)


def test_per_bin_statistics_plot():
    stats = pd.DataFrame(
        {
            "n_bins": [4, 64, 512],
            "identical": [3, 0, 0],
            "low_range": [1, 0, 2],
            "correlated_pairs": [9, 5, 12],
            "chosen": [False, True, False],
        }
    )
    fig = plot_per_bin_statistics(stats)
    assert len(fig.axes) == 3
    line = fig.axes[2].lines[0]
    assert list(line.get_ydata()) == [9, 5, 12]
    assert all(ax.get_xlabel() == "bin number" for ax in fig.axes)
    plt.close(fig)
