"""Study A results of all splits, side by side with the paper (Tables 1-4, AUCs).

:func:`collect_runs` gathers the per-split tables written by
:func:`mpirad.tomo.run.run_split`; the ``table*`` functions turn them into the paper's
tables, each with rows of the paper's published values (from
:mod:`mpirad.metrics.paper_a`) clearly labelled ``paper``. Proportions are shown in
percent as in the paper.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mpirad.constants import AHA_SEGMENTS, SPLIT_UNITS
from mpirad.io import read_parquet
from mpirad.metrics import TABLE3_LABELS
from mpirad.metrics.paper_a import PAPER_MISPRINTS, PAPER_TABLE2, PAPER_TABLE3, PAPER_TABLE4
from mpirad.tomo.run import SPLIT_TABLES, split_dir

#: How the runs are labelled in the tables.
UNIT_LABELS: dict[str, str] = {
    "patient": "this run, patient-level splits",
    "image": "this run, image-level splits",
}
PAPER_LABEL = "paper (image-level splits?)"

#: Table 3 indexes shown in percent.
PERCENT_INDEXES: tuple[str, ...] = ("SE", "SP", "PPV", "NPV", "AR")

#: The paper's Table 1 (103 patients, 5008 images). The paper's segment list names
#: segment 4 "basal lateral" and segment 10 "mid lateral" (AHA: basal / mid inferior);
#: its per-segment ischemia counts sum to 410 while its score table has 1751 - 1343 = 408
#: abnormal segments.
PAPER_TABLE1: dict[str, dict[str, int]] = {
    "sex": {"male": 87, "female": 16},
    "segments": dict(
        zip(
            range(1, 18),
            [14, 21, 13, 17, 15, 9, 29, 17, 14, 31, 15, 14, 44, 28, 50, 26, 53],
            strict=True,
        )
    ),
    "scores": {"0": 1343, "1": 106, "2": 185, "3": 79, "4": 38},
    "images": {"no myocardial ischemia": 2914, "presence of myocardial ischemia": 2094},
}
PAPER_AGE = "47-86, median 66 (P25 58, P75 71)"


class MissingRunsError(FileNotFoundError):
    """Some splits have not been run yet; the message lists them and how to run them."""


def collect_runs(
    out_dir: str | Path,
    dataset: str,
    *,
    profile: str = "quick",
    units: tuple[str, ...] = SPLIT_UNITS,
    n_splits: int = 5,
) -> dict[str, pd.DataFrame]:
    """Concatenate every split's output tables.

    Args:
        out_dir: the runs folder given to :func:`~mpirad.tomo.run.run_split`.
        dataset: the dataset's output name.
        profile: the run profile's name (runs of each profile have their own folder).
        units: split units to gather.
        n_splits: splits per unit.

    Returns:
        Table name (see :data:`mpirad.tomo.run.SPLIT_TABLES`) -> one DataFrame with
        columns ``split`` and ``unit`` first; ``overlays`` gets an absolute ``path``.

    Raises:
        MissingRunsError: a split has not finished (all missing ones are listed).
    """
    missing, frames = [], {name: [] for name in SPLIT_TABLES}
    for unit in units:
        for split in range(1, n_splits + 1):
            directory = split_dir(out_dir, dataset, unit, split, profile)  # type: ignore[arg-type]
            if not (directory / "run.json").is_file():
                missing.append(f"{unit} split {split}")
                continue
            for name in SPLIT_TABLES:
                table = read_parquet(directory / f"{name}.parquet")
                if name == "overlays":
                    table["path"] = [str(directory / f) for f in table["file"]]
                frames[name].append(table)
    if missing:
        raise MissingRunsError(
            f"{out_dir}/{dataset}/{profile}/study_a: not run yet: {', '.join(missing)}. Run "
            f"e.g. `mpirad train-a --dataset {dataset} --profile {profile} --all-splits --unit both`."
        )
    return {name: pd.concat(parts, ignore_index=True) for name, parts in frames.items()}


def _percent(count: int, total: int) -> str:
    return f"{count} ({100 * count / total:.2f})" if total else f"{count}"


def table1_cohort(dataset_root: str | Path) -> pd.DataFrame:
    """The paper's Table 1 for a dataset, next to the paper's values.

    Uses ``patients.csv`` (sex, age and the per-segment stress scores ``seg01`` ..
    ``seg17``, 0-4, when present) and every patient's ``labels.csv``.

    Args:
        dataset_root: the ``labelme-export`` folder.

    Returns:
        Rows (``section``, ``item``) with columns ``this dataset`` and ``paper``,
        cells "n (%)" as in the paper.
    """
    from mpirad.io.tomograms import scan_labelme_export

    root = Path(dataset_root)
    index = scan_labelme_export(root)
    patients_path = root / "patients.csv"
    patients = pd.read_csv(patients_path) if patients_path.is_file() else pd.DataFrame()
    n_patients = index["patient_id"].nunique()
    rows = [
        *_table1_sex(patients),
        ("patients", "total", str(n_patients), "103"),
        *_table1_age(patients),
        *_table1_segments(patients),
        *_table1_images(index),
    ]
    table = pd.DataFrame(rows, columns=["section", "item", "this dataset", "paper"])
    return table.set_index(["section", "item"])


Row = tuple[str, str, str, str]


def _table1_sex(patients: pd.DataFrame) -> list[Row]:
    if "sex" not in patients:
        return []
    sex = patients["sex"].astype(str).str.upper().str[0]
    return [
        (
            "sex",
            name,
            _percent(int((sex == code).sum()), len(sex)),
            _percent(PAPER_TABLE1["sex"][name], 103),
        )
        for code, name in (("M", "male"), ("F", "female"))
    ]


def _table1_age(patients: pd.DataFrame) -> list[Row]:
    if "age" not in patients:
        return []
    age = patients["age"].astype(float)
    q25, median, q75 = np.percentile(age, [25, 50, 75])
    return [
        (
            "age (years)",
            "range, median (P25, P75)",
            f"{age.min():.0f}-{age.max():.0f}, median {median:.0f} (P25 {q25:.0f}, P75 {q75:.0f})",
            PAPER_AGE,
        )
    ]


def table1_segment_counts(dataset_root: str | Path) -> pd.DataFrame:
    """Ischemic segments of Table 1 as counts per AHA segment: this dataset and the paper.

    Args:
        dataset_root: the ``labelme-export`` folder; its ``patients.csv`` holds the
            stress scores ``seg01`` .. ``seg17`` (0-4; > 0 counts as ischemic).

    Returns:
        Index ``segment`` 1-17; columns ``this dataset`` (patients with the segment
        ischemic; NaN when ``patients.csv`` has no scores) and ``paper``.
    """
    path = Path(dataset_root) / "patients.csv"
    patients = pd.read_csv(path) if path.is_file() else pd.DataFrame()
    columns = [f"seg{s:02d}" for s in AHA_SEGMENTS]
    if all(c in patients for c in columns):
        counts = [int((patients[c].astype(int) > 0).sum()) for c in columns]
    else:
        counts = [float("nan")] * len(columns)
    table = pd.DataFrame(
        {"this dataset": counts, "paper": [PAPER_TABLE1["segments"][s] for s in AHA_SEGMENTS]},
        index=pd.Index(list(AHA_SEGMENTS), name="segment"),
    )
    return table


def _table1_segments(patients: pd.DataFrame) -> list[Row]:
    """Ischemic segments and the distribution of the stress scores (``seg01`` .. ``seg17``)."""
    segment_columns = [f"seg{s:02d}" for s in AHA_SEGMENTS]
    if not all(c in patients for c in segment_columns):
        return []
    rows: list[Row] = []
    scores = patients[segment_columns].astype(int)
    ischemic = (scores > 0).sum(axis=0)
    total, paper_total = int(ischemic.sum()), sum(PAPER_TABLE1["segments"].values())
    for number, name in AHA_SEGMENTS.items():
        rows.append(
            (
                "segments with ischemia",
                f"{number} {name}",
                _percent(int(ischemic[f"seg{number:02d}"]), total),
                _percent(PAPER_TABLE1["segments"][number], paper_total),
            )
        )
    rows.append(("segments with ischemia", "total", str(total), str(paper_total)))
    values = scores.to_numpy().ravel()
    paper_scores = PAPER_TABLE1["scores"]
    for score in range(5):
        rows.append(
            (
                "semi-quantitative score",
                str(score),
                _percent(int((values == score).sum()), values.size),
                _percent(paper_scores[str(score)], sum(paper_scores.values())),
            )
        )
    return rows


def _table1_images(index: pd.DataFrame) -> list[Row]:
    counts = index["label"].value_counts()
    paper_images = PAPER_TABLE1["images"]
    rows: list[Row] = [
        (
            "images (manual classification)",
            name,
            _percent(int(counts.get(label, 0)), len(index)),
            _percent(paper_images[name], sum(paper_images.values())),
        )
        for label, name in ((0, "no myocardial ischemia"), (1, "presence of myocardial ischemia"))
    ]
    rows.append(("images (manual classification)", "total", str(len(index)), "5008"))
    return rows


def table2_confusion(runs: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Table 2: validation confusion matrices and McNemar's test per split.

    Returns:
        Rows (``source``, ``split``) for each unit of ``runs`` and the paper; columns
        TP, FP, FN, TN (TP = DL 1 and manual 1, FP = DL 1 and manual 0, ...), ``N`` and
        ``McNemar P`` (exact; for the paper recomputed from its counts) and, for the
        paper, its footnote mark.
    """
    confusion = runs["confusion"].copy()
    confusion["source"] = confusion["unit"].map(UNIT_LABELS)
    ours = confusion.rename(
        columns={"tp": "TP", "fp": "FP", "fn": "FN", "tn": "TN", "mcnemar_p": "McNemar P"}
    )[["source", "split", "TP", "FP", "FN", "TN", "McNemar P"]]
    from mpirad.metrics import mcnemar_test

    paper = PAPER_TABLE2.reset_index().rename(
        columns={"tp": "TP", "fp": "FP", "fn": "FN", "tn": "TN", "footnote": "paper footnote"}
    )
    paper["McNemar P"] = [
        mcnemar_test(fp=int(fp), fn=int(fn)).pvalue
        for fp, fn in zip(paper["FP"], paper["FN"], strict=True)
    ]
    paper["source"] = PAPER_LABEL
    table = pd.concat([ours, paper], ignore_index=True)
    table["N"] = table[["TP", "FP", "FN", "TN"]].sum(axis=1)
    columns = ["TP", "FP", "FN", "TN", "N", "McNemar P", "paper footnote"]
    table["paper footnote"] = table["paper footnote"].fillna("")
    return table.set_index(["source", "split"])[columns]


def _indexes_wide(runs: dict[str, pd.DataFrame]) -> pd.DataFrame:
    metrics = runs["classification_metrics"].copy()
    scale = np.where(metrics["metric"].isin(PERCENT_INDEXES), 100.0, 1.0)
    for column in ("estimate", "ci_low", "ci_high"):
        metrics[column] = metrics[column] * scale
    return metrics


def table3_indexes(runs: dict[str, pd.DataFrame], *, ci: bool = True) -> pd.DataFrame:
    """Table 3: SE, SP, +LR, -LR, PPV, NPV, YI, AR, Kappa (and AUC) per split.

    Args:
        runs: from :func:`collect_runs`.
        ci: cells "estimate (low-high)" with the 95% CI; else numbers.

    Returns:
        Rows (``source``, ``split``), columns the paper's labels (proportions in %),
        plus ``AUC``; the paper's printed rows come last (its AUCs are not printed).
    """
    metrics = _indexes_wide(runs)
    labels = [*TABLE3_LABELS.values(), "AUC"]
    metrics["source"] = metrics["unit"].map(UNIT_LABELS)
    if ci:

        def cell(row: pd.Series) -> str:
            digits = 1 if row["metric"] in PERCENT_INDEXES else 2
            if np.isnan(row["estimate"]):
                return "undefined"
            if np.isnan(row["ci_low"]):
                return f"{row['estimate']:.{digits}f}"
            return f"{row['estimate']:.{digits}f} ({row['ci_low']:.{digits}f}-{row['ci_high']:.{digits}f})"

        metrics["value"] = metrics.apply(cell, axis=1)
    else:
        metrics["value"] = metrics["estimate"]
    ours = metrics.pivot(index=["source", "split"], columns="metric", values="value")
    ours = ours.reindex(pd.MultiIndex.from_frame(metrics[["source", "split"]].drop_duplicates()))
    ours = ours[labels]
    paper = PAPER_TABLE3.copy()
    paper.columns = [c.replace(" (%)", "") for c in paper.columns]
    paper["AUC"] = "> 0.95 (not printed)" if ci else np.nan
    if ci:
        paper = paper.apply(lambda col: col if col.name == "AUC" else col.map(lambda v: f"{v:.2f}"))
    paper.index = pd.MultiIndex.from_product(
        [[PAPER_LABEL], paper.index], names=["source", "split"]
    )
    table = pd.concat([ours, paper[labels]])
    table.columns.name = None
    return table


def auc_table(runs: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """AUC with DeLong's 95% CI per unit and split (Figure 1's legend)."""
    metrics = runs["classification_metrics"]
    auc = metrics[metrics["metric"] == "AUC"][["unit", "split", "estimate", "ci_low", "ci_high"]]
    return auc.rename(columns={"estimate": "AUC"}).set_index(["unit", "split"])


#: The five-number summary's columns (as :func:`mpirad.metrics.summarize` names them).
SUMMARY_COLUMNS = ["min", "P25", "median", "P75", "max"]


def _summary_columns(
    runs: dict[str, pd.DataFrame], metrics: list[str], decimals: int
) -> pd.DataFrame:
    """The five-number summaries of ``metrics`` per split as columns: rows (``source``,
    ``split``, ``metric``) in run and ``metrics`` order; columns :data:`SUMMARY_COLUMNS`
    (rounded to ``decimals``; empty when undefined), ``n`` (ischemic validation images)
    and ``empty predictions``."""
    summary = runs["segmentation_summary"]
    summary = summary[summary["metric"].isin(metrics)].copy()
    summary["source"] = summary["unit"].map(UNIT_LABELS)
    summary["order"] = summary["metric"].map({m: i for i, m in enumerate(metrics)})
    splits = summary[["source", "split"]].drop_duplicates().reset_index(drop=True)
    summary["run"] = summary.set_index(["source", "split"]).index.map(
        {key: i for i, key in enumerate(splits.itertuples(index=False, name=None))}
    )
    summary = summary.sort_values(["run", "order"])
    table = summary.set_index(["source", "split", "metric"])[SUMMARY_COLUMNS].astype(float)
    table = table.round(decimals)
    per_image = runs["segmentation_per_image"]
    grouped = per_image.assign(source=per_image["unit"].map(UNIT_LABELS)).groupby(
        ["source", "split"], sort=False
    )
    counts = pd.DataFrame(
        {
            "n": grouped.size(),
            "empty predictions": grouped["predicted_pixels"].apply(lambda v: int((v == 0).sum())),
        }
    )
    table = table.join(counts, on=["source", "split"])
    table[["n", "empty predictions"]] = table[["n", "empty predictions"]].astype("Int64")
    return table


def table4_segmentation(runs: dict[str, pd.DataFrame], *, decimals: int = 2) -> pd.DataFrame:
    """Table 4: min/P25/median/P75/max of IOU, DICE and Hausdorff per split, as columns.

    Hausdorff distances are in network-input pixels for this run (the paper's are in
    its 512 x 512 crop pixels). Empty predictions have Dice = IoU = 0 and no Hausdorff
    distance; their count is given as ``empty predictions``.

    Returns:
        Rows (``source``, ``split``, ``metric``) with metric IOU, DICE, Hausdorff, this
        run's splits first and then the paper's; columns ``min``, ``P25``, ``median``,
        ``P75``, ``max``, ``n`` (ischemic validation images) and ``empty predictions``
        (both empty for the paper, which does not give them).
    """
    metrics = ["IOU", "DICE", "Hausdorff"]
    ours = _summary_columns(runs, metrics, decimals)
    paper = PAPER_TABLE4.reset_index().assign(source=PAPER_LABEL)
    paper["order"] = paper["metric"].map({m: i for i, m in enumerate(metrics)})
    paper = paper.sort_values(["split", "order"]).set_index(["source", "split", "metric"])
    table = pd.concat([ours, paper[SUMMARY_COLUMNS]])
    table[["n", "empty predictions"]] = table[["n", "empty predictions"]].astype("Int64")
    return table


def hausdorff_table(runs: dict[str, pd.DataFrame], *, decimals: int = 1) -> pd.DataFrame:
    """Hausdorff distance and HD95 with empty predictions left out and counted.

    Beside Table 4's Hausdorff column (empty predictions left out, which flatters the
    distance), the same over *all* ischemic validation images with an empty prediction
    counted as the diagonal of the network grid, and HD95; in network-input pixels and,
    when the dataset's pixel size is known, in mm (one network pixel is
    ``pixel_spacing_mm * crop_size / input_size`` mm). See
    :mod:`mpirad.tomo.evaluate`.

    Args:
        runs: from :func:`collect_runs`.
        decimals: digits of the summary columns.

    Returns:
        Rows (``source``, ``split``, ``metric``) for the metrics of
        :data:`mpirad.tomo.evaluate.HAUSDORFF_METRICS` present in the runs (mm metrics
        only when some split knows the pixel size); columns ``min``, ``P25``, ``median``,
        ``P75``, ``max`` (empty when undefined), ``n`` and ``empty predictions``.
    """
    from mpirad.tomo.evaluate import HAUSDORFF_METRICS

    summary = runs["segmentation_summary"]
    present = set(summary["metric"])
    known = [
        m
        for m in HAUSDORFF_METRICS.values()
        if m in present
        and ("mm" not in m or summary.loc[summary["metric"] == m, "median"].notna().any())
    ]
    return _summary_columns(runs, known, decimals)


def unit_comparison(runs: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Patient-level vs image-level splits: mean and range over the splits.

    Returns:
        Rows: AUC, SE (%), SP (%), AR (%), Kappa, median Dice, median IoU, median
        Hausdorff (px); columns per unit "mean (min-max)".
    """
    metrics = _indexes_wide(runs)
    wanted = {"AUC": "AUC", "SE": "SE (%)", "SP": "SP (%)", "AR": "AR (%)", "Kappa": "Kappa"}
    values = metrics[metrics["metric"].isin(list(wanted))].copy()
    values["row"] = values["metric"].map(wanted)
    values = values[["unit", "split", "row", "estimate"]]
    summary = runs["segmentation_summary"]
    seg_rows = {"DICE": "median Dice", "IOU": "median IoU", "Hausdorff": "median Hausdorff (px)"}
    seg = summary[summary["metric"].isin(list(seg_rows))].assign(
        row=lambda t: t["metric"].map(seg_rows), estimate=lambda t: t["median"]
    )[["unit", "split", "row", "estimate"]]
    long = pd.concat([values, seg], ignore_index=True)
    order = [*wanted.values(), *seg_rows.values()]
    cells = {}
    for (row, unit), group in long.groupby(["row", "unit"]):
        digits = 1 if ("%" in row or "px" in row) else 3
        estimate = group["estimate"]
        cells[(row, UNIT_LABELS.get(unit, unit))] = (
            f"{estimate.mean():.{digits}f} ({estimate.min():.{digits}f}-{estimate.max():.{digits}f})"
        )
    frame = pd.Series(cells).unstack()
    frame = frame.reindex(
        index=[r for r in order if r in frame.index],
        columns=[c for c in UNIT_LABELS.values() if c in frame.columns],
    )
    frame.index.name = "mean (min-max) over splits"
    frame.columns.name = None
    return frame


def misprints_table() -> pd.DataFrame:
    """The paper's misprinted Table 3 values (split, column, printed, correct, note)."""
    return pd.DataFrame([m._asdict() for m in PAPER_MISPRINTS]).set_index(["split", "column"])


def confusion_matrix_frame(confusion: pd.DataFrame) -> pd.DataFrame:
    """One split's 2x2 table in the paper's Table 2 layout.

    Args:
        confusion: the one-row ``confusion`` table of a split.

    Returns:
        Rows "DL 1" / "DL 0" (prediction), columns "manual 1" / "manual 0".
    """
    row = confusion.iloc[0]
    return pd.DataFrame(
        [[int(row["tp"]), int(row["fp"])], [int(row["fn"]), int(row["tn"])]],
        index=pd.Index(["DL 1", "DL 0"], name="DL classification"),
        columns=pd.Index(["manual 1", "manual 0"], name="manual classification"),
    )


def split_summary(record: dict) -> pd.DataFrame:
    """What one split ran on and how long it took, from its ``run.json``.

    Returns:
        Two-column table (item, value).
    """
    counts, seconds = record["counts"], record["seconds"]
    rows = [
        ("training images (patients)", f"{counts['train']} ({counts['train_patients']})"),
        (
            "validation images (patients)",
            f"{counts['validation']} ({counts['validation_patients']})",
        ),
        ("ischemic training / validation images (segmentation)",
         f"{counts['segmentation_train']} / {counts['segmentation_validation']}"),
        ("best epoch: classifier / segmenter",
         f"{record['best_epoch']['classification']} / {record['best_epoch']['segmentation']}"),
        ("device", f"{record['device']} ({record['threads']} CPU threads)"),
        ("time: classifier / segmenter / total (s)",
         f"{seconds['classification']:.0f} / {seconds['segmentation']:.0f} / {seconds['total']:.0f}"),
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=["item", "value"]).set_index("item")
