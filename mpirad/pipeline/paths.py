"""Where every output of a dataset goes: one home for the ``build/`` layout.

Every path is derived from the dataset's manifest name (and, for trained models, the
run profile), so a chapter or command run on ``site-b`` can only read and write
``site-b``'s files::

    build/runs/<dataset>/<profile>/split_run/split_<k>_<unit>.ipynb   executed notebooks
    build/runs/<dataset>/<profile>/study_a/<unit>/split_<k>/          Study A results
    build/runs/<dataset>/<profile>/<notebook>/run.ipynb               other chapters (mpirad run)
    build/features/<dataset>/features.parquet                         Study B feature table
    build/features/<dataset>/selection/                               its blind-to-outcome selection
    build/stats/<dataset>/<criterion>/                                Study B protocol tables
    build/predict/<kind>/<model>/                                     mpirad predict outputs
                                                                      (cac: <model> is the
                                                                      dataset predicted)
    build/rois/<dataset>/                                             ROIs derived from the
                                                                      myocardium (mpirad rois)
    build/book/                                                       the book's generated files

A path *given* by a user instead (a chapter parameter) that lies in another dataset's
folder is refused by :func:`refuse_other_dataset`.
"""

from __future__ import annotations

from pathlib import Path

from mpirad.manifest import project_root

#: Output kinds whose folders are named by dataset, under ``build/``.
DATASET_FOLDERS = ("runs", "features", "stats", "rois")


def shown_path(path: str | Path) -> str:
    """``path`` as a page or message shows it: relative to the project root when inside
    it (``build/features/...``), so no page names the machine that built it; else as given."""
    try:
        return Path(path).resolve().relative_to(project_root().resolve()).as_posix()
    except ValueError:
        return str(path)


def build_dir() -> Path:
    """``<project>/build``: every generated file (never committed; ``make clean`` deletes it)."""
    return project_root() / "build"


def runs_dir(dataset: str, profile: str) -> Path:
    """``build/runs/<dataset>/<profile>``: executed notebooks and trained models of one profile."""
    return build_dir() / "runs" / dataset / profile


def executed_notebook(
    notebook: str | Path, *, dataset: str, profile: str, split: int | None = None, tag: str = ""
) -> Path:
    """The executed copy of ``notebook`` for one dataset, profile and split (+ a tag)."""
    name = f"split_{split}" if split is not None else "run"
    if tag:
        name = f"{name}_{tag}"
    return runs_dir(dataset, profile) / Path(notebook).stem / f"{name}.ipynb"


def predict_dir(kind: str, model: str) -> Path:
    """``build/predict/<kind>/<model>``: ``mpirad predict <kind>``'s outputs for one model
    (``tomo``: ``<dataset>-<profile>-<unit>[-split_K]``; ``cac``: the dataset predicted)."""
    return build_dir() / "predict" / kind / model


def features_path(dataset: str) -> Path:
    """``build/features/<dataset>/features.parquet``: the cohort feature table (Study B)."""
    return build_dir() / "features" / dataset / "features.parquet"


def selection_dir(dataset: str) -> Path:
    """``build/features/<dataset>/selection``: ``selected.txt``, ``n_bins.txt`` of the funnel."""
    return features_path(dataset).parent / "selection"


def stats_dir(dataset: str, criterion: str) -> Path:
    """``build/stats/<dataset>/<criterion>``: the protocol's tables for one stepwise criterion."""
    return build_dir() / "stats" / dataset / criterion


def rois_dir(dataset: str) -> Path:
    """``build/rois/<dataset>``: the ``volumes`` dataset ``mpirad rois`` derives from one whose
    patients have only a myocardium mask (seven ROIs + ``segments17`` per patient)."""
    return build_dir() / "rois" / dataset


def book_dir() -> Path:
    """``build/book``: the generated table of contents, dataset page and book context."""
    return build_dir() / "book"


def refuse_other_dataset(path: str | Path, dataset: str, *, parameter: str) -> Path:
    """``path`` as given, unless it lies in another dataset's ``build/`` folder.

    Args:
        path: a user-given input or output path.
        dataset: the dataset the chapter or command runs on.
        parameter: the parameter's name, for the message.

    Raises:
        ValueError: ``path`` is under ``build/<kind>/<other dataset>/``.
    """
    path = Path(path)
    absolute = path if path.is_absolute() else project_root() / path
    try:
        parts = absolute.resolve().relative_to(build_dir().resolve()).parts
    except ValueError:
        return path
    if len(parts) >= 2 and parts[0] in DATASET_FOLDERS and parts[1] != dataset:
        raise ValueError(
            f"{parameter} = {str(path)!r} is a file of dataset {parts[1]!r}, but this runs on "
            f"{dataset!r}; leave {parameter} empty to use {dataset!r}'s own"
        )
    return path


__all__ = [
    "book_dir",
    "build_dir",
    "executed_notebook",
    "features_path",
    "refuse_other_dataset",
    "rois_dir",
    "runs_dir",
    "selection_dir",
    "stats_dir",
]
