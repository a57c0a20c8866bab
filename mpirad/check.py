"""``mpirad check``: validate a whole dataset in one pass and list every problem at once.

The package's readers raise at the first problem of a file, which is right for analysis
but slow for fixing a site's export: one run per mistake. :func:`check_dataset` calls
the same readers and validators on every file (:mod:`mpirad.io`,
:mod:`mpirad.io.tomograms`, :mod:`mpirad.io.patient_volumes`, :mod:`mpirad.io.clinical_tables`),
collects their errors instead of stopping, and adds what only a whole-dataset view can
see: files that belong nowhere, patients with images but no clinical/CAC row (and the
reverse), and whether the cohort is large enough for each chapter:

- Study A (``labelme-export``): the five 8:2 splits, by patient and by image, drawn as
  the chapter draws them (image level unstratified, the paper's default), must each
  have both labels on both sides (:func:`mpirad.tomo.splits.make_splits`), and so must
  the inner selection group taken from each training part
  (:func:`mpirad.tomo.splits.selection_split`);
- Study B (``volumes``): the usable patients (image, seven valid masks, clinical and CAC
  rows) must reach :func:`mpirad.stats.minimum_cohort_size`; their voxel sizes must agree
  unless the manifest resamples (the extraction's :class:`~mpirad.radiomics.cohort.VoxelSizeError`,
  found here before anything is computed); with a manifest ``files:`` list, every folder
  that no mapping reads is an error (its patient would be left out).

Both studies: patients the manifest's ``exclude`` leaves out are not checked, and are
counted by reason in the summary (an excluded id the dataset lacks is a warning). Study A:
Labelme shapes that will not be drawn (other labels than the dataset's ``labels``, lines,
points) are counted and reported as a warning under the dataset's name.

The report is a list of :class:`Problem` (patient, file, severity, message); a problem
of the whole dataset has patient ``""``.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from mpirad.io.tomograms import NON_PATIENT_FOLDERS

if TYPE_CHECKING:
    from mpirad.io.labelme import ShapeTally
    from mpirad.io.layouts import VolumesLayout

#: Severities, worst first. ``error``: a chapter would refuse the dataset or a patient;
#: ``warning``: the dataset runs, but something is probably not what you meant.
SEVERITIES: tuple[str, ...] = ("error", "warning")

#: Files beside the patient folders that belong to the layout (not problems).
STUDY_A_ROOT_FILES = ("patients.csv", "README.md", "synthetic_cohort.json")
STUDY_B_ROOT_FILES = (
    "clinical.csv",
    "cac.csv",
    "demographics.csv",  # the PhysioNet MPS database (mpirad.io.physionet)
    "README.md",
    "synthetic_cohort.json",
    "truth.json",
)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a dataset.

    Attributes:
        patient: the patient id (folder name or table id), ``""`` for the whole dataset.
        file: the file concerned, relative to the dataset root (``""`` if none).
        severity: ``"error"`` or ``"warning"``.
        message: what is wrong (and, where the reader says it, how to fix it).
    """

    patient: str
    file: str
    severity: str
    message: str


@dataclass
class CheckReport:
    """The result of :func:`check_dataset`.

    Attributes:
        root: the dataset folder.
        study: ``"a"`` or ``"b"``.
        problems: every problem found, in dataset order.
        summary: counts (patients, images, usable patients, the protocol minimum, ...).
        name: the dataset's name in the manifest, or ``""``.
    """

    root: Path
    study: str
    problems: list[Problem] = field(default_factory=list)
    summary: dict[str, object] = field(default_factory=dict)
    name: str = ""

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def ok(self) -> bool:
        """No errors (warnings allowed)."""
        return not self.errors

    def table(self) -> pd.DataFrame:
        """The problems as a DataFrame: ``patient``, ``file``, ``severity``, ``message``."""
        return pd.DataFrame(
            [(p.patient, p.file, p.severity, p.message) for p in self.problems],
            columns=["patient", "file", "severity", "message"],
        )

    def by_patient(self) -> dict[str, list[Problem]]:
        """Problems grouped by patient: the dataset's own first (key ``""``), then by id."""
        groups: dict[str, list[Problem]] = {}
        for problem in self.problems:
            groups.setdefault(problem.patient, []).append(problem)
        return {key: groups[key] for key in sorted(groups, key=lambda k: (k != "", k))}

    def format(self) -> str:
        """The report as text, grouped by patient (what ``mpirad check`` prints)."""
        label = self.name or str(self.root)
        lines = [f"dataset {label} (study {self.study.upper()}, {self.root})"]
        lines += [f"  {key}: {value}" for key, value in self.summary.items()]
        for patient, problems in self.by_patient().items():
            lines.append("dataset" if patient == "" else f"patient {patient}")
            for problem in problems:
                where = f"{problem.file}: " if problem.file else ""
                lines.append(f"  {problem.severity:7s} {where}{problem.message}")
        n_err, n_warn = len(self.errors), len(self.warnings)
        patients = len({p.patient for p in self.problems if p.patient})
        if self.problems:
            lines.append(
                f"{n_err} error(s), {n_warn} warning(s) in {patients} patient(s) and "
                f"{sum(1 for p in self.problems if not p.patient)} dataset-level problem(s)"
            )
        else:
            lines.append("no problems found")
        return "\n".join(lines)


class _Collector:
    """Collects problems; :meth:`attempt` runs a reader and records its error."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.problems: list[Problem] = []

    def rel(self, path: Path | str | None) -> str:
        if path is None or path == "":
            return ""
        path = Path(path)
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            try:
                return path.resolve().relative_to(self.root.resolve()).as_posix()
            except ValueError:
                return str(path)

    def add(self, patient: str, file: Path | str | None, message: str, severity: str = "error"):
        self.problems.append(Problem(patient, self.rel(file), severity, self._short(message)))

    def _short(self, message: str) -> str:
        """Drop the absolute dataset root from a reader's message (the file is named)."""
        for prefix in (str(self.root.resolve()) + "/", str(self.root) + "/"):
            message = message.replace(prefix, "")
        return message

    def attempt(self, patient: str, file: Path | str | None, call: Callable, *args, **kwargs):
        """``call(*args, **kwargs)``, or None with its error recorded (ValueError, OSError)."""
        try:
            return call(*args, **kwargs)
        except (ValueError, OSError) as error:
            self.add(patient, file, str(error))
            return None


# --------------------------------------------------------------------------------------
# Study A
# --------------------------------------------------------------------------------------


def _patient_folders(
    root: Path, out: _Collector, root_files: tuple[str, ...], exclude: Collection[str] = ()
):
    """Yield the patient folders of ``root`` in sorted order, but those in ``exclude``;
    warn (in that order) about files beside them other than ``root_files``."""
    for child in sorted(root.iterdir()):
        if child.name.startswith("."):
            continue
        if child.is_file():
            if child.name not in root_files:
                out.add("", child, "unexpected file beside the patient folders", "warning")
            continue
        if child.name in NON_PATIENT_FOLDERS or child.name in exclude:
            continue
        yield child


def _check_study_a(
    root: Path,
    out: _Collector,
    summary: dict[str, object],
    *,
    labels: Sequence[str],
    exclude: Mapping[str, str],
    name: str,
) -> None:
    from mpirad.io.labelme import ShapeTally

    rows: list[dict] = []
    patients = []
    tally = ShapeTally()
    for child in _patient_folders(root, out, STUDY_A_ROOT_FILES, exclude):
        patients.append(child.name)
        patient_rows, patient_tally = _check_a_patient(child, out, labels)
        rows += patient_rows
        tally += patient_tally
    _report_exclusions(exclude, {p.name for p in root.iterdir() if p.is_dir()}, out, summary)
    if not patients:
        out.add("", "", "no patient folders (labelme-export layout: <root>/<patient_id>/...)")
    index = pd.DataFrame(rows, columns=["patient_id", "image", "label"])
    positive = index[index["label"] == 1]
    summary.update(
        {
            "patients": len(patients),
            "readable images": len(index),
            "images labelled 1": len(positive),
            "patients with an image labelled 1": positive["patient_id"].nunique(),
            f"Labelme shapes (labels drawn: {', '.join(labels)})": tally.summary(),
        }
    )
    if tally.skipped:
        out.add(
            "",
            "",
            f"dataset {name}: {tally.skipped} Labelme shape(s) will not be drawn into the "
            f"ischemia masks ({tally.summary()}); if a label also marks ischemia, add it to "
            "the dataset's 'labels' in data_manifest.yaml",
            "warning",
        )
    if index.empty:
        return
    for unit in ("patient", "image"):
        try:
            _study_a_splits_feasible(index, unit)
        except ValueError as error:
            out.add(
                "",
                "",
                f"too small for the Study A chapter's 5 random 8:2 splits by {unit}: {error}",
            )


def _study_a_splits_feasible(index: pd.DataFrame, unit: str) -> None:
    """Draw the chapter's default splits and inner selection groups; raise if one fails.

    Args:
        index: ``patient_id``, ``image``, ``label`` of every readable image.
        unit: ``"patient"`` or ``"image"``.

    Raises:
        ValueError: a split, or the selection group of a training part, lacks a label
            on one side (:class:`mpirad.tomo.splits.SplitError`).
    """
    from mpirad.tomo.splits import make_splits, selection_seed, selection_split

    splits = make_splits(index, unit=unit)  # type: ignore[arg-type]
    for number, part in splits[splits["subset"] == "train"].groupby("split"):
        try:
            selection_split(part, unit=unit, seed=selection_seed(0, number))  # type: ignore[arg-type]
        except ValueError as error:
            raise ValueError(f"split {number}, model-selection group: {error}") from None


def _check_a_patient(
    child: Path, out: _Collector, labels: Sequence[str]
) -> tuple[list[dict], ShapeTally]:
    """Check one Study A patient folder: labels.csv, every slice it lists, stray files.

    Args:
        child: the patient folder.
        out: the collector.
        labels: the Labelme labels drawn into the ischemia mask.

    Returns:
        ``{"patient_id", "image", "label"}`` rows of the slices that could be read, and
        the tally of their Labelme shapes (drawn and not).
    """
    from mpirad.io.labelme import ShapeTally
    from mpirad.io.labels import read_label_csv, read_label_csv_unchecked
    from mpirad.io.tomograms import read_slice_and_tally

    patient = child.name
    tally = ShapeTally()
    labels_path = child / "labels.csv"
    if not labels_path.is_file():
        out.add(
            patient,
            child,
            "patient folder without labels.csv (labelme-export layout: "
            "<root>/<patient_id>/labels.csv, *.png, *.json)",
        )
        return [], tally
    # The checked reader reports listed-but-missing and present-but-unlisted images.
    table = out.attempt(patient, labels_path, read_label_csv, labels_path, child)
    if table is None:
        try:
            table = read_label_csv_unchecked(labels_path)
        except ValueError:
            return [], tally  # the content error is already recorded
    rows = []
    known = {"labels.csv"}
    for image, label in zip(table["image"], table["label"], strict=True):
        png_path = child / image
        json_path = png_path.with_suffix(".json")
        known.update({png_path.name, json_path.name})
        if not png_path.is_file():
            continue  # named by read_label_csv above
        has_json = json_path.is_file()
        if label == 1 and not has_json:
            out.add(
                patient,
                png_path,
                f"labelled 1 (ischemia) in labels.csv but {json_path.name} "
                "(the Labelme outline) is missing",
            )
            continue
        where = json_path if has_json else png_path
        read = out.attempt(
            patient,
            where,
            read_slice_and_tally,
            png_path,
            json_path if has_json else None,
            int(label),
            labels,
        )
        if read is not None:
            rows.append({"patient_id": patient, "image": image, "label": int(label)})
            tally += read[2]
    _check_a_strays(child, known, out)
    return rows, tally


def _check_a_strays(child: Path, known: set[str], out: _Collector) -> None:
    """Files of a Study A patient folder that labels.csv does not account for."""
    from mpirad.io.labels import IMAGE_SUFFIXES

    for path in sorted(child.iterdir()):
        if path.name in known or path.name.startswith("."):
            continue
        if path.suffix.lower() == ".json" and path.with_suffix(".png").name not in known:
            out.add(child.name, path, "Labelme file without an image listed in labels.csv")
        elif path.suffix.lower() not in IMAGE_SUFFIXES:  # unlisted images: named above
            out.add(child.name, path, "unexpected file in the patient folder", "warning")


def _report_exclusions(
    exclude: Mapping[str, str], known: set[str], out: _Collector, summary: dict[str, object]
) -> None:
    """Count the manifest's exclusions by reason (summary); warn about an excluded id the
    dataset does not hold (a typo would leave the patient in)."""
    reasons: dict[str, int] = {}
    for patient, reason in sorted(exclude.items()):
        if patient not in known:
            out.add(
                patient,
                "",
                "excluded in the manifest ('exclude') but not in the dataset: check the id",
                "warning",
            )
            continue
        reasons[reason] = reasons.get(reason, 0) + 1
    for reason, n in sorted(reasons.items()):
        summary[f"excluded in the manifest ({reason})"] = n


# --------------------------------------------------------------------------------------
# Study B
# --------------------------------------------------------------------------------------


def _check_b_patient(
    layout: VolumesLayout, patient: str
) -> tuple[str, list[tuple], bool, tuple[float, ...] | None]:
    """Image, seven masks and stray files of one patient (a parallel task).

    The files are found and read as the chapters read them, through the dataset's
    ``layout`` (manifest ``files:`` patterns, ``spacing``, ``origin``, ``direction``).
    Where its ROIs are derived (manifest ``rois: derive``) only the myocardium mask is
    read, and the seven ROIs are derived from it as the chapters will (a myocardium that
    cannot be segmented is a problem of that patient). Stray files are looked for in the
    default layout's patient folder only.

    Returns:
        ``(patient, problems as Problem fields, usable, voxel size)``; usable: image and
        every mask valid; the image's voxel size ``(z, y, x)`` in mm, None if unreadable.
    """
    from mpirad.heart.reorient import LongAxisWarning
    from mpirad.heart.segments import DroppedVoxelsWarning
    from mpirad.io.patient_volumes import read_patient_image

    out = _Collector(layout.root)
    with warnings.catch_warnings(record=True) as caught:  # the derivation's, by patient
        warnings.simplefilter("always", DroppedVoxelsWarning)
        warnings.simplefilter("always", LongAxisWarning)
        image = out.attempt(
            patient, _source_path(layout.image_source, patient), read_patient_image, layout, patient
        )
        ok = image is not None and _check_b_masks(layout, patient, image, out)
    for message in dict.fromkeys(
        str(w.message)
        for w in caught
        if issubclass(w.category, DroppedVoxelsWarning | LongAxisWarning)
    ):
        out.add(
            patient, _source_path(layout.mask_source, patient, "myocardium"), message, "warning"
        )
    if layout.is_default(patient):
        _check_b_strays(layout.root / patient, out, patient)
    fields = [(p.patient, p.file, p.severity, p.message) for p in out.problems]
    spacing = None if image is None else tuple(float(v) for v in image.spacing)
    return patient, fields, ok, spacing


def _source_path(find: Callable, *args) -> Path | None:
    """The file ``find(*args)`` names (a layout's image or mask source), or None."""
    from mpirad.io.layouts import LayoutError

    try:
        return find(*args).path
    except LayoutError:
        return None


def _check_b_masks(layout: VolumesLayout, patient: str, image: object, out: _Collector) -> bool:
    """Read every ROI mask of a patient (the myocardium only, then the derivation, where
    the ROIs are derived); True when all are valid."""
    from mpirad.constants import ROI_NAMES
    from mpirad.io.patient_volumes import read_roi_mask

    if layout.is_default(patient) and not (layout.root / patient / "masks").is_dir():
        out.add(
            patient, layout.root / patient / "masks", "no masks/ folder (one <roi>.nii.gz per ROI)"
        )
        return False
    files = replace(layout, derive=None)
    ok = True
    for roi in ("myocardium",) if layout.derive is not None else ROI_NAMES:
        mask_path = _source_path(files.mask_source, patient, roi)
        if out.attempt(patient, mask_path, read_roi_mask, files, patient, roi, image) is None:
            ok = False
    if ok and layout.derive is not None:
        where = _source_path(files.mask_source, patient, "myocardium")
        ok = out.attempt(patient, where, read_roi_mask, layout, patient, "LAD17", image) is not None
    _check_b_mask_objects(layout, patient, out)
    return ok


#: The ``patient P, ROI R: `` lead a mask reader's error gets once per ROI.
_REPEATED_ROI = re.compile(r"^patient [^,]+, ROI [^:,]+: ")


def _check_b_mask_objects(layout: VolumesLayout, patient: str, out: _Collector) -> None:
    """RTSTRUCT/SEG mask files: an error every ROI of the file repeats (a Frame of
    Reference mismatch) once, and a warning for structures no ROI name maps."""
    seen: set[tuple[str, str, str]] = set()
    kept = []
    for problem in out.problems:
        key = (problem.patient, problem.file, _REPEATED_ROI.sub("", problem.message))
        if problem.file.lower().endswith(".dcm") and key in seen:
            continue
        seen.add(key)
        kept.append(problem)
    out.problems[:] = kept
    found = out.attempt(patient, None, layout.unknown_structures, patient) or {}
    for path, names in found.items():
        out.add(
            patient, path, f"{len(names)} structure(s) no ROI name maps, skipped: "
            + ", ".join(repr(n) for n in names) + " (add them to the manifest's roi_names)",
            "warning",
        )  # fmt: skip


def _check_b_strays(folder: Path, out: _Collector, patient: str) -> None:
    """Warn about files in a default-layout patient folder other than its image (a file,
    or the documented DICOM series folder ``image/``) and masks/."""
    from mpirad.io.patient_volumes import VOLUME_SUFFIXES

    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or path.name == "masks":
            continue
        if path.name == "image" and path.is_dir():
            continue  # a DICOM series (its files are read, and checked, as the image)
        if not any(path.name == f"image{suffix}" for suffix in VOLUME_SUFFIXES):
            out.add(patient, path, "unexpected file in the patient folder", "warning")


def _check_study_b(
    layout: VolumesLayout,
    out: _Collector,
    summary: dict[str, object],
    n_jobs: int | None = None,
    scheduler: object = None,
    resample: bool = False,
) -> None:
    from mpirad.io.clinical_tables import outcome_unavailable
    from mpirad.stats.protocol import minimum_cohort_size

    with_images = _b_patients_with_images(layout, out)
    usable_volumes, spacings = _check_b_volumes(layout, with_images, out, n_jobs, scheduler)
    excluded = layout.excluded()
    table_ids: dict[str, set[str]] = {}
    no_outcome = outcome_unavailable(layout)
    if no_outcome is None:
        clinical, cac, bad_rows = _check_b_tables(layout, out)
        table_ids = _check_b_table_ids(
            set(with_images), {"clinical.csv": clinical, "cac.csv": cac}, out, set(excluded)
        )
        usable = usable_volumes - bad_rows
        for ids in table_ids.values():
            usable &= ids
        if len(table_ids) < 2:
            usable = set()
    else:  # a stated condition: features, funnel and polar maps run; the outcome cannot
        out.add("", layout.cac_path, no_outcome, "warning")
        usable = set()
    minimum = minimum_cohort_size()
    summary.update(
        {
            "patients with an image": len(with_images),
            "patients with valid image and masks": len(usable_volumes),
            "usable patients (valid volumes, clinical and CAC rows)": (
                len(usable) if no_outcome is None else "none: no cac.csv (no outcome)"
            ),
            "protocol minimum (50 x 20 stepwise)": minimum,
        }
    )
    known = set(with_images) | {u for ids in table_ids.values() for u in ids}
    try:
        known |= set(layout.all_patients(strict=False))
    except ValueError:
        pass
    _report_exclusions(excluded, known, out, summary)
    # every readable image: the extraction checks the voxel sizes of all computed cases
    _check_b_voxel_sizes(spacings, resample, out, summary)
    if not with_images:
        wanted = "<patient_id>/image.nii.gz" if layout.image is None else layout.wanted()
        out.add("", "", f"no patient with an image volume ({wanted})")
    if no_outcome is None and len(usable) < minimum:
        out.add(
            "",
            "",
            f"{len(usable)} usable patients; the Study B outcome chapter's 50 x 20 stepwise "
            f"protocol needs at least {minimum} (mpirad.stats.minimum_cohort_size)",
        )


def _b_patients_with_images(layout: VolumesLayout, out: _Collector) -> list[str]:
    """The Study B patients that have an image volume: the patient folders holding one
    (default layout; the others are reported), or the files matching ``files.image``."""
    from mpirad.io.patient_volumes import find_volume

    if layout.image is not None:
        from mpirad.io.layouts import LayoutError

        for folder in layout.unmatched_folders():
            out.add(
                folder.name,
                folder,
                f"folder that no files: pattern reads (looked for {layout.wanted()}): its "
                "patient would be left out of every chapter; add a mapping for its format "
                "to the manifest's files: list, or 'default' as its last item",
            )
        try:
            return layout.patients(strict=False)
        except LayoutError as error:
            if "no patient found" not in str(error):
                out.add("", "", str(error))
            return []  # reported as "no patient with an image volume"
    with_images: list[str] = []
    for child in _patient_folders(layout.root, out, STUDY_B_ROOT_FILES, layout.excluded()):
        if find_volume(child, "image") is None:
            out.add(child.name, child, "patient folder without an image volume (image.nii.gz)")
            continue
        with_images.append(child.name)
    return with_images


def _check_b_volumes(
    layout: VolumesLayout,
    patients: list[str],
    out: _Collector,
    n_jobs: int | None,
    scheduler: object = None,
) -> tuple[set[str], dict[str, tuple[float, ...]]]:
    """Check every patient's image and masks (:func:`_check_b_patient`, in parallel).

    Returns:
        The patients whose image and every mask are valid, and patient -> the voxel
        size ``(z, y, x)`` in mm of every readable image.
    """
    from mpirad.parallel import imap

    usable_volumes: set[str] = set()
    spacings: dict[str, tuple[float, ...]] = {}
    args = [(layout, patient) for patient in patients]
    for patient, problems, usable, spacing in imap(
        _check_b_patient, args, n_jobs=n_jobs, scheduler=scheduler
    ):
        out.problems.extend(Problem(*fields) for fields in problems)
        if usable:
            usable_volumes.add(patient)
        if spacing is not None:
            spacings[patient] = spacing
    return usable_volumes, spacings


def _check_b_voxel_sizes(
    spacings: dict[str, tuple[float, ...]],
    resample: bool,
    out: _Collector,
    summary: dict[str, object],
) -> None:
    """Count the voxel sizes; without the manifest's ``resample``, mixed sizes are the
    error the extraction would raise after computing every patient
    (:func:`mpirad.radiomics.cohort.check_voxel_sizes`), reported here first."""
    from mpirad.radiomics.cohort import VoxelSizeError, check_voxel_sizes

    counts: dict[str, int] = {}
    for spacing in spacings.values():
        key = " x ".join(f"{s:g}" for s in spacing)
        counts[key] = counts.get(key, 0) + 1
    summary["voxel sizes (z x y x x mm: patients)"] = (
        ", ".join(f"{k}: {n}" for k, n in sorted(counts.items())) or "none read"
    )
    if resample:
        return
    try:
        check_voxel_sizes(spacings)
    except VoxelSizeError as error:
        out.add("", "", f"the feature extraction would stop: {error}")


def _check_b_tables(layout: VolumesLayout, out: _Collector):
    """Check clinical.csv and cac.csv.

    Returns:
        ``(clinical, cac, bad_rows)``: the tables (``None`` if unreadable) and the
        patients with an invalid row.
    """
    from mpirad.io.clinical_tables import MISSING_VALUE_FIX, cohort_table_problems

    clinical, cac, table_problems = cohort_table_problems(layout)
    bad_rows: set[str] = set()
    for problem in table_problems:
        if not problem.patients:
            out.add("", problem.path, problem.message)
            continue
        for patient in problem.patients:
            message = f"column {problem.column!r}: {problem.what}"
            if problem.column == "patient_id":
                message = problem.what
            elif "missing" in problem.what:
                message += f"; {MISSING_VALUE_FIX}"
            out.add(patient, problem.path, message)
            bad_rows.add(patient)
    return clinical, cac, bad_rows


def _check_b_table_ids(
    image_ids: set[str],
    tables: dict[str, pd.DataFrame | None],
    out: _Collector,
    excluded: set[str] | frozenset[str] = frozenset(),
) -> dict[str, set[str]]:
    """Warn about patients with an image but no table row, and the reverse (patients
    the manifest excludes are not warned about).

    Returns:
        Table file name -> its patient ids (readable tables only, excluded patients left
        out).
    """
    table_ids: dict[str, set[str]] = {}
    for name, table in tables.items():
        if table is None:
            continue
        ids = set(table["patient_id"].dropna().astype(str)) - excluded
        table_ids[name] = ids
        for patient in sorted(image_ids - ids):
            out.add(
                patient,
                name,
                f"has an image but no row in {name}: left out of the outcome analysis",
                "warning",
            )
        for patient in sorted(ids - image_ids):
            out.add(
                patient,
                name,
                f"row in {name} but no image folder: left out of the outcome analysis",
                "warning",
            )
    return table_ids


# --------------------------------------------------------------------------------------
# entry points
# --------------------------------------------------------------------------------------


def check_root(
    root: str | Path | VolumesLayout,
    study: str,
    *,
    name: str = "",
    n_jobs: int | None = None,
    scheduler: object = None,
    labels: Sequence[str] | None = None,
    exclude: Mapping[str, str] | None = None,
    resample: bool = False,
) -> CheckReport:
    """Check a dataset folder of study ``"a"`` (labelme-export) or ``"b"`` (volumes).

    Args:
        root: the dataset folder; for Study B also a
            :class:`~mpirad.io.layouts.VolumesLayout` (a manifest dataset's ``files:``
            patterns, ``spacing``, ``origin``/``direction`` and ``rois: derive``, where
            only the myocardium masks are required and the derivation is tried per
            patient).
        study: ``"a"`` or ``"b"``.
        name: the dataset's name, for the report.
        n_jobs: joblib workers over Study B patients (volumes are the slow part;
            default: :func:`mpirad.parallel.resolve_n_jobs`); the report is the same for any number.
        scheduler: a Dask scheduler for the Study B patients
            (:func:`mpirad.parallel.resolve_scheduler`; default ``MPIRAD_DASK_SCHEDULER``).
        labels: Study A: the Labelme labels drawn into the ischemia mask (default
            ``[ischemia]``); shapes of other labels, and lines and points, are counted
            and reported as a warning.
        exclude: Study A: patient id -> reason, for the patients left out on purpose
            (Study B: the layout's manifest ``exclude``).
        resample: Study B: the dataset is resampled before extraction (manifest
            ``resample``), so mixed voxel sizes are allowed.

    Returns:
        The :class:`CheckReport` (nothing is raised for problems of the data).

    Raises:
        ValueError: an unknown study.
    """
    from mpirad.io.layouts import volumes_layout

    if study not in ("a", "b"):
        raise ValueError(f"study must be 'a' or 'b', got {study!r}")
    layout = volumes_layout(root) if study == "b" else None
    root = layout.root if layout is not None else Path(root)  # type: ignore[arg-type]
    out = _Collector(root)
    summary: dict[str, object] = {}
    if not root.is_dir():
        out.add("", "", f"{root}: dataset folder does not exist")
    elif layout is None:
        from mpirad.io.layouts import DEFAULT_LABELME_LABELS

        _check_study_a(
            root,
            out,
            summary,
            labels=tuple(labels) if labels else DEFAULT_LABELME_LABELS,
            exclude=dict(exclude or {}),
            name=repr(name) if name else str(root),
        )
    else:
        _check_study_b(layout, out, summary, n_jobs, scheduler, resample)
    return CheckReport(root=root, study=study, problems=out.problems, summary=summary, name=name)


def check_dataset(
    dataset: object, *, n_jobs: int | None = None, scheduler: object = None
) -> CheckReport:
    """Check a manifest dataset (:class:`mpirad.manifest.Dataset`) in one pass.

    Study B files are found and read through the dataset's manifest entry (``files:``
    patterns, ``spacing``, ``origin``, ``direction``, ``rois: derive``), as the chapters
    read them.

    Args:
        dataset: the dataset.
        n_jobs, scheduler: see :func:`check_root`.

    Returns:
        The :class:`CheckReport`.
    """
    from mpirad.io.layouts import volumes_layout

    entry = dataset.entry  # type: ignore[attr-defined]
    source = volumes_layout(dataset) if dataset.study == "b" else dataset.root  # type: ignore[attr-defined]
    return check_root(
        source,
        dataset.study,  # type: ignore[attr-defined]
        name=dataset.name,  # type: ignore[attr-defined]
        n_jobs=n_jobs,
        scheduler=scheduler,
        labels=entry.labels,
        exclude=entry.exclude,
        resample=entry.resample is not None,
    )
