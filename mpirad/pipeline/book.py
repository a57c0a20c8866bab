"""The book's datasets: which data each study runs on, and the files generated from that.

``make book DATASET_A=site-a DATASET_B=site-b`` runs ``mpirad book-inputs`` with those
names, which writes under ``build/book/``:

- ``context.json``: the two datasets (``None`` for a study left out with ``none``), the
  profile, the datasets' fingerprints and the records of every input step;
- ``_toc.yml``: the table of contents for those datasets (Jupyter Book reads it with
  ``--toc``); the committed ``_toc.yml`` is this file for the defaults, and a test keeps
  them equal, so neither is edited by hand;
- ``datasets.md``: the paragraph of the introduction that names the datasets (name,
  provenance, fingerprint) and says "synthetic" only of synthetic ones.

Chapters whose ``dataset`` parameter is empty run on the book's dataset of their study
(:func:`book_dataset`): the one in ``context.json``, else the synthetic default.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from mpirad.manifest import Dataset, get_dataset, project_root
from mpirad.pipeline.paths import book_dir, executed_notebook

#: The datasets a book uses when none is named.
DEFAULT_DATASETS = {"a": "synthetic-a", "b": "synthetic-b"}
#: The dataset name that leaves a study out of the book.
LEAVE_OUT = "none"
#: The per-split notebook of Study A.
STUDY_A_NOTEBOOK = Path("book/study_a/split_run.py")


@dataclass(frozen=True)
class BookContext:
    """Which dataset each study of the book runs on.

    Attributes:
        dataset_a: Study A's dataset name, or ``None`` when Study A is left out.
        dataset_b: Study B's dataset name, or ``None`` when Study B is left out.
        profile: the run profile (``quick`` or ``paper``).
        profile_overrides: changes to the Study A profile (e.g. a test's tiny book).
        fingerprints: dataset name -> fingerprint when the inputs were made.
        inputs: step -> record digest of every input the chapters read.
    """

    dataset_a: str | None = DEFAULT_DATASETS["a"]
    dataset_b: str | None = DEFAULT_DATASETS["b"]
    profile: str = "quick"
    profile_overrides: dict = field(default_factory=dict)
    fingerprints: dict[str, str] = field(default_factory=dict)
    inputs: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_names(cls, dataset_a: str, dataset_b: str, profile: str = "quick") -> BookContext:
        """A context from command-line names (``none`` leaves a study out)."""

        def name(value: str) -> str | None:
            return None if value.strip().lower() in (LEAVE_OUT, "") else value.strip()

        return cls(dataset_a=name(dataset_a), dataset_b=name(dataset_b), profile=profile)

    def dataset(self, study: str) -> str | None:
        """The dataset name of ``study`` (``"a"`` or ``"b"``)."""
        return self.dataset_a if study == "a" else self.dataset_b

    def datasets(self) -> list[str]:
        """The datasets the book uses, Study A's first."""
        return [name for name in (self.dataset_a, self.dataset_b) if name]


def context_path() -> Path:
    return book_dir() / "context.json"


def read_context() -> BookContext:
    """The context written by the last ``mpirad book-inputs``, else the defaults."""
    path = context_path()
    if not path.is_file():
        return BookContext()
    return BookContext(**json.loads(path.read_text(encoding="utf-8")))


def book_profile(profile: str = "", overrides: dict | None = None):
    """The Study A profile a chapter runs with.

    Args:
        profile: a profile name, or ``""`` for the book's (``quick`` unless ``make book
            PROFILE=paper``) with the book's profile overrides.
        overrides: changes to the profile (on top of the book's, for ``""``).

    Returns:
        A :class:`mpirad.tomo.profiles.StudyAProfile`.
    """
    from mpirad.tomo.profiles import get_profile

    if profile:
        return get_profile(profile, **(overrides or {}))
    context = read_context()
    return get_profile(context.profile, **{**context.profile_overrides, **(overrides or {})})


def book_dataset(name: str, study: str) -> Dataset:
    """The dataset a chapter runs on: ``name``, or the book's dataset of ``study`` if empty.

    Args:
        name: a manifest name, or ``""`` for the book's dataset (:func:`read_context`).
        study: ``"a"`` or ``"b"``.

    Returns:
        The dataset, its files in place (:meth:`~mpirad.manifest.Dataset.ensure`).

    Raises:
        ValueError: the study is left out of the book, or the dataset is of another study.
    """
    name = name or read_context().dataset(study)
    if not name:
        raise ValueError(
            f"Study {study.upper()} is left out of this book (dataset 'none'); name a dataset "
            "with the chapter's `dataset` parameter"
        )
    ds = get_dataset(name)
    if ds.study != study:
        raise ValueError(
            f"dataset {name!r} is a Study {ds.study.upper()} dataset, not Study {study.upper()}"
        )
    return ds.ensure()


def book_datasets(
    dataset_a: str = "", dataset_b: str = "", *, ensure: bool = True
) -> list[Dataset]:
    """The datasets a book chapter covers: the names given, else the book's (none left out).

    Args:
        dataset_a: Study A's dataset name, ``""`` for the book's, ``"none"`` for none.
        dataset_b: Study B's dataset name, ``""`` for the book's, ``"none"`` for none.
        ensure: put the files in place (generating synthetic ones if absent).
    """
    context = read_context()
    datasets = []
    for study, name in (("a", dataset_a), ("b", dataset_b)):
        name = name or context.dataset(study)
        if name and name.lower() != LEAVE_OUT:
            ds = get_dataset(name)
            datasets.append(ds.ensure() if ensure else ds)
    return datasets


def split_notebooks(
    dataset: str, profile: str, n_splits: int | None = None
) -> list[tuple[int, str, Path]]:
    """``(split, unit, executed notebook)`` of every Study A split run, in book order.

    ``n_splits`` defaults to the profile's.
    """
    from mpirad.constants import SPLIT_UNITS
    from mpirad.tomo.profiles import get_profile

    n_splits = n_splits or get_profile(profile).n_splits
    return [
        (split, unit, executed_notebook(STUDY_A_NOTEBOOK, dataset=dataset, profile=profile, split=split, tag=unit))
        for unit in SPLIT_UNITS
        for split in range(1, n_splits + 1)
    ]  # fmt: skip


def _uses_synthetic_only(context: BookContext) -> bool:
    from mpirad.manifest import load_manifest

    manifest = load_manifest()
    names = context.datasets()
    return bool(names) and all(
        n in manifest and manifest[n].provenance == "synthetic" for n in names
    ) and len(names) == 2  # fmt: skip


def toc_yaml(context: BookContext) -> str:
    """The table of contents for ``context`` (YAML text; paths relative to the project)."""
    root = project_root()
    lines = [
        "# Table of contents of the mpirad book (Jupyter Book 1).",
        "# Generated by `mpirad book-inputs` (mpirad.pipeline.book.toc_yaml): do not edit.",
        "format: jb-book",
        "root: book/intro",
        "parts:",
        "  - caption: Getting started",
        "    chapters:",
        "      - file: book/datasets",
    ]
    if _uses_synthetic_only(context):
        lines.append("      - file: book/synthetic_cohort")
        lines.append("      - file: book/real_scans")
    if context.dataset_a:
        lines += [
            '  - caption: "Study A: ischemia on D-SPECT LV tomograms"',
            "    chapters:",
            "      - file: book/study_a/results",
            "        sections:",
        ]
        n_splits = context.profile_overrides.get("n_splits")
        for split, unit, path in split_notebooks(context.dataset_a, context.profile, n_splits):
            relative = path.relative_to(root).with_suffix("").as_posix()
            lines += [
                f"          - file: {relative}",
                f'            title: "Split {split}, {unit}-level"',
            ]
    if context.dataset_b:
        lines += [
            '  - caption: "Study B: radiomics of normal stress SPECT and coronary calcium"',
            "    chapters:",
            "      - file: book/study_b/ibsi_conformance",
            "      - file: book/study_b/radiomics",
            "      - file: book/study_b/outcome",
        ]
    lines += [
        "  - caption: Applying the models",
        "    chapters:",
        "      - file: book/using_a_model",
        "  - caption: Your own data",
        "    chapters:",
        "      - file: book/own_data",
        "      - file: book/patient_data",
        "  - caption: Appendix",
        "    chapters:",
        "      - file: book/reproducibility",
        "      - file: book/decisions",
        "      - file: book/bibliography",
    ]
    return "\n".join(lines) + "\n"


def datasets_markdown(context: BookContext) -> str:
    """The introduction's section on the data: each dataset's name, provenance, fingerprint."""
    from mpirad.manifest import load_manifest

    manifest = load_manifest()
    studies = {"a": "Study A", "b": "Study B"}
    rows, synthetic = [], []
    for study in ("a", "b"):
        name = context.dataset(study)
        if not name:
            rows.append(f"| {studies[study]} | left out of this book | | |")
            continue
        ds = manifest[name]
        kind = "synthetic (generated by mpirad)" if ds.provenance == "synthetic" else "site data"
        fingerprint = context.fingerprints.get(name, "")
        rows.append(f"| {studies[study]} | `{name}` | {kind} | `{fingerprint[:23]}` |")
        if ds.provenance == "synthetic":
            synthetic.append(name)
    names = context.datasets()
    heading = (
        "## The data in this book is synthetic"
        if names and len(synthetic) == len(names)
        else "## The data in this book"
    )
    text = [heading, ""]
    if synthetic:
        text += [
            f"The synthetic dataset{'s' if len(synthetic) > 1 else ''} "
            + ", ".join(f"`{n}`" for n in synthetic)
            + " are generated deterministically by mpirad (seed in the reproducibility appendix), "
            "with known ground truth: where the ischemic defects are, how large the LV is, "
            "which image textures were made to depend on CAC and how strongly. Results on them "
            "test whether the *methods* recover what was planted; they say nothing about "
            "patients.",
            "",
        ]
    site = [n for n in names if n not in synthetic]
    if site:
        text += [
            "The site dataset" + ("s " if len(site) > 1 else " ")
            + ", ".join(f"`{n}`" for n in site)
            + " come from the site's own exports, named in `data_manifest.yaml`. Where a paper "
            "prints numbers, the pages put them next to this run's, labelled \"paper\" and "
            "\"this run\".",
            "",
        ]  # fmt: skip
    text += [
        "| study | dataset | provenance | fingerprint |",
        "|---|---|---|---|",
        *rows,
        "",
        f"Run profile: `{context.profile}`. The fingerprint is the manifest checksum when one "
        "is recorded, else a stamp of the files' names, sizes and modification times.",
        "",
    ]
    return "\n".join(text)


def write_book_files(context: BookContext) -> Path:
    """Write ``context.json``, ``_toc.yml`` and ``datasets.md`` under ``build/book/``.

    Which pages then need executing again is decided page by page from ``context.json``
    when Jupyter Book builds (:mod:`mpirad.pipeline.pages`), not here.

    Returns:
        The folder written.
    """
    from mpirad.io.atomic import atomic_write

    folder = book_dir()
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "context.json": json.dumps(asdict(context), indent=1, sort_keys=True) + "\n",
        "_toc.yml": toc_yaml(context),
        "datasets.md": datasets_markdown(context),
    }
    for name, text in files.items():
        path = folder / name
        if path.is_file() and path.read_text(encoding="utf-8") == text:
            continue  # unchanged: keep its time, so Sphinx does not re-read what includes it
        with atomic_write(path, "w", encoding="utf-8") as handle:
            handle.write(text)
    return folder


__all__ = [
    "BookContext",
    "DEFAULT_DATASETS",
    "LEAVE_OUT",
    "book_dataset",
    "book_datasets",
    "book_profile",
    "datasets_markdown",
    "read_context",
    "split_notebooks",
    "toc_yaml",
    "write_book_files",
]
