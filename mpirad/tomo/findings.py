"""Study A's results chapter in sentences: what this run found, and how it compares with the
paper (:mod:`mpirad.metrics.paper_a`), from the run's tables (:func:`report.collect_runs`).

Each function takes the run's tables and returns sentences (Markdown, for
:mod:`mpirad.findings`); nothing is typed by hand.
"""

from __future__ import annotations

import pandas as pd

from mpirad.findings import number
from mpirad.metrics.paper_a import PAPER_AUC_CLAIMS

#: The paper's weaker claim about its AUCs (abstract): all five exceed this.
PAPER_AUC_FLOOR = PAPER_AUC_CLAIMS["abstract: all AUCs exceed"]


def _per_unit(metrics: pd.DataFrame, metric: str) -> pd.DataFrame:
    rows = metrics[metrics["metric"] == metric]
    return rows.groupby("unit", sort=True)["estimate"].agg(["mean", "min", "max", "count"])


def study_a_results(metrics: pd.DataFrame, per_image: pd.DataFrame) -> list[str]:
    """What the run found, one sentence per split unit, plus segmentation.

    Args:
        metrics: ``classification_metrics`` (``split``, ``unit``, ``metric``, ``estimate``).
        per_image: ``segmentation_per_image`` (``unit``, ``dice``).
    """
    sentences = []
    auc, se, sp = (_per_unit(metrics, m) for m in ("AUC", "SE", "SP"))
    for unit in auc.index:
        row = auc.loc[unit]
        sentences.append(
            f"**{unit.capitalize()}-level splits**: mean AUC {number(row['mean'])} over "
            f"{int(row['count'])} splits (range {number(row['min'])}-{number(row['max'])}); "
            f"mean sensitivity {number(se.loc[unit, 'mean'])}, specificity "
            f"{number(sp.loc[unit, 'mean'])} at probability 0.5."
        )
    if not per_image.empty and "dice" in per_image:
        dice = per_image.groupby("unit", sort=True)["dice"].median()
        parts = [f"{number(value)} ({unit}-level)" for unit, value in dice.items()]
        sentences.append(
            "Segmentation of the ischemic area: median Dice over the validation images "
            + ", ".join(parts)
            + "."
        )
    return sentences


def _profile_sentence(profile) -> str:
    """How a (non-paper) profile's training differs from the paper-sized one."""
    name = getattr(profile, "name", profile)
    try:
        pre, cls, seg = profile.preprocess, profile.classifier, profile.segmenter
    except AttributeError:
        return f"The `{name}` profile is smaller than the paper's; the `paper` profile is the one to compare."
    return (
        f"The `{name}` profile resizes {pre.crop_size}-pixel crops to {pre.input_size} x "
        f"{pre.input_size} and trains {cls.epochs} (classifier) and {seg.epochs} (segmenter) "
        "epochs; the paper's images are 512-pixel crops, and the `paper` profile is the one "
        "to compare."
    )


def study_a_comparison(metrics: pd.DataFrame, synthetic: bool, profile) -> list[str]:
    """How the run compares with the paper's claim that all AUCs exceed 0.95, and why.

    Args:
        metrics: ``classification_metrics``.
        synthetic: whether the dataset is mpirad's synthetic cohort.
        profile: the book profile (a :class:`mpirad.tomo.profiles.StudyAProfile`, or its name).
    """
    auc = _per_unit(metrics, "AUC")
    if auc.empty:
        return ["No AUC was computed in this run: nothing to compare with the paper."]
    above = {u: int((metrics[(metrics.metric == "AUC") & (metrics.unit == u)].estimate
                     > PAPER_AUC_FLOOR).sum()) for u in auc.index}  # fmt: skip
    sentences = [
        f"The paper reports AUCs all above {PAPER_AUC_FLOOR:.2f} (values not printed); this "
        "run's mean AUC is "
        + ", ".join(
            f"{number(auc.loc[u, 'mean'])} ({u}-level, {above[u]} of "
            f"{int(auc.loc[u, 'count'])} splits above)"
            for u in auc.index
        )  # fmt: skip
        + "."
    ]
    if {"image", "patient"} <= set(auc.index):
        gap = auc.loc["image", "mean"] - auc.loc["patient", "mean"]
        sentences.append(
            f"Image-level splits score {number(gap)} higher than patient-level ones: slices of "
            "one heart fall on both sides of an image-level split, as they most likely did "
            "in the paper, so part of its AUC may be memory of the patient."
        )
    name = getattr(profile, "name", profile)
    if name != "paper":
        sentences.append(_profile_sentence(profile))
    if synthetic:
        sentences.append(
            "On the synthetic cohort the planted defects include equivocal ones (10-18% "
            "reduction, never outlined) and attenuation and hot spots: how high an AUC can "
            "go is set by that simulation, not by patients."
        )
    return sentences


def heldout_results(table: pd.DataFrame) -> list[str]:
    """What the split models said about new patients' images (``mpirad predict tomo``).

    Args:
        table: :func:`mpirad.tomo.predict.write_predictions`' table (``predicted``, and
            ``label`` where the truth is known).
    """
    if table.empty:
        return ["Study A: no image was predicted."]
    called = int(table["predicted"].astype(bool).sum())
    text = f"Study A: {called} of {len(table)} new images called ischemic by the ensemble"
    if "label" in table and table["label"].notna().all():
        agree = int((table["predicted"].astype(int) == table["label"].astype(int)).sum())
        text += f"; {agree} of {len(table)} agree with the synthetic truth"
    return [text + "."]
