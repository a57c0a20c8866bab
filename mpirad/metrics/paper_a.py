"""Study A's published tables (seed ``000_ef32bac66943f98a``) as data, with its misprints.

Tables 2-4 of the D-SPECT ResNet18 study, five random 8:2 train/validation splits of 5008
images from 103 patients, as printed. Treat the DataFrames as read-only (``.copy()``
before changing them).

- :data:`PAPER_TABLE2`: the validation confusion matrices (rows = DL prediction, columns =
  manual reading) and the footnote mark of each split.
- :data:`PAPER_TABLE3`: the indexes as printed; labels as :func:`mpirad.metrics.diagnostic_table`
  writes them with ``percent=True``.
- :data:`PAPER_TABLE4`: segmentation IOU, Dice and Hausdorff distance (pixels; the minima
  1.41, 2.00, 2.24 are sqrt(2), 2 and sqrt(5)) as min/P25/median/P75/max per split.
- :data:`PAPER_MISPRINTS`: the printed values of Table 3 that Table 2 contradicts.

Table 2's footnote marks splits 1-4 ``*: P < 0.05`` and split 5 ``**: P > 0.05`` without
naming the test. McNemar's test on the discordant cells gives the reverse (splits 1-4:
exact P = 0.105, 0.235, 0.911, 0.148; split 5: P = 0.0003); see
:mod:`mpirad.metrics.diagnostic`. The abstract says the AUCs all exceed 0.95, the
discussion that they exceed 0.97 (:data:`PAPER_AUC_CLAIMS`); the AUCs themselves appear
only in Figure 1.
"""

from __future__ import annotations

from typing import NamedTuple

import pandas as pd

__all__ = [
    "PAPER_AUC_CLAIMS",
    "PAPER_MISPRINTS",
    "PAPER_TABLE2",
    "PAPER_TABLE3",
    "PAPER_TABLE4",
    "Misprint",
]


class Misprint(NamedTuple):
    """A printed value that the paper's own data contradict.

    Attributes:
        split: training-validation split, 1..5.
        column: the Table 3 column label.
        printed: the value as printed.
        correct: the value recomputed from Table 2 at the printed precision.
        note: how the correct value follows.
    """

    split: int
    column: str
    printed: float
    correct: float
    note: str


_SPLITS = pd.Index([1, 2, 3, 4, 5], name="split")

#: Table 2: TP, FP, FN, TN per split (DL 1/manual 1, DL 1/manual 0, DL 0/manual 1,
#: DL 0/manual 0) and the footnote mark of the split.
PAPER_TABLE2: pd.DataFrame = pd.DataFrame(
    {
        "tp": [354, 385, 385, 367, 388],
        "fp": [51, 30, 39, 28, 28],
        "fn": [35, 41, 41, 41, 63],
        "tn": [561, 545, 536, 565, 522],
        "footnote": ["P<0.05", "P<0.05", "P<0.05", "P<0.05", "P>0.05"],
    },
    index=_SPLITS,
)

#: Table 3 as printed (SE, SP, PPV, NPV, AR in percent).
PAPER_TABLE3: pd.DataFrame = pd.DataFrame(
    [
        [91.00, 91.67, 10.92, 0.09, 87.41, 94.31, 0.83, 91.41, 0.82],
        [90.38, 94.78, 17.32, 0.10, 92.77, 93.00, 0.85, 92.91, 0.85],
        [90.38, 93.22, 13.32, 0.10, 90.80, 92.89, 0.84, 92.01, 0.84],
        [89.95, 95.28, 19.05, 0.11, 92.91, 93.23, 0.85, 93.11, 0.86],
        [86.03, 94.91, 16.90, 0.15, 93.27, 89.23, 0.81, 90.91, 0.82],
    ],
    index=_SPLITS,
    columns=["SE (%)", "SP (%)", "+LR", "-LR", "PPV (%)", "NPV (%)", "YI", "AR (%)", "Kappa"],
)

_TABLE4_TEXT: dict[int, dict[str, str]] = {
    1: {
        "IOU": "0.00/0.58/0.69/0.76/0.90",
        "DICE": "0.00/0.73/0.82/0.86/0.95",
        "Hausdorff": "2.24/5.00/7.45/12.65/107.79",
    },
    2: {
        "IOU": "0.00/0.56/0.68/0.75/0.88",
        "DICE": "0.00/0.72/0.81/0.86/0.94",
        "Hausdorff": "2.00/5.00/7.21/13.53/89.69",
    },
    3: {
        "IOU": "0.00/0.54/0.66/0.74/0.88",
        "DICE": "0.00/0.70/0.80/0.85/0.94",
        "Hausdorff": "2.00/5.39/8.06/18.14/128.08",
    },
    4: {
        "IOU": "0.00/0.58/0.69/0.76/0.90",
        "DICE": "0.00/0.73/0.81/0.87/0.95",
        "Hausdorff": "1.41/5.00/7.28/14.14/90.45",
    },
    5: {
        "IOU": "0.00/0.57/0.68/0.75/0.89",
        "DICE": "0.00/0.73/0.81/0.86/0.94",
        "Hausdorff": "2.00/5.10/7.62/14.32/99.72",
    },
}

#: Table 4: rows (split, metric) with metric in IOU / DICE / Hausdorff (pixels); columns
#: min, P25, median, P75, max (the labels of :func:`mpirad.metrics.summarize`).
PAPER_TABLE4: pd.DataFrame = pd.DataFrame(
    [
        [float(value) for value in text.split("/")]
        for metrics in _TABLE4_TEXT.values()
        for text in metrics.values()
    ],
    index=pd.MultiIndex.from_tuples(
        [(split, metric) for split, metrics in _TABLE4_TEXT.items() for metric in metrics],
        names=["split", "metric"],
    ),
    columns=["min", "P25", "median", "P75", "max"],
)

#: Printed Table 3 values that disagree with Table 2.
PAPER_MISPRINTS: list[Misprint] = [
    Misprint(
        split=1,
        column="-LR",
        printed=0.09,
        correct=0.10,
        note="(1 - SE)/SP = (35/389)/(561/612) = 0.0982, which rounds to 0.10",
    ),
    Misprint(
        split=1,
        column="NPV (%)",
        printed=94.31,
        correct=94.13,
        note="TN/(TN + FN) = 561/596 = 94.13 %; the printed value transposes two digits",
    ),
]

#: Claims about the AUCs of Figure 1 (the AUC values themselves are not printed).
PAPER_AUC_CLAIMS: dict[str, float] = {
    "abstract: all AUCs exceed": 0.95,
    "discussion: all AUCs exceed": 0.97,
}
