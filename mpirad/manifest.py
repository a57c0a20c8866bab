"""Named datasets: ``data_manifest.yaml``.

A manifest lists datasets by name. Notebooks and commands pick one by name::

    from mpirad.manifest import get_dataset
    ds = get_dataset("synthetic-a").ensure()   # generates the synthetic cohort if absent
    ds.root                                     # absolute Path to the files

Each entry has ``study`` (``a`` or ``b``), ``format`` (``labelme-export`` for Study A,
``volumes`` for Study B; layouts in CONTRIBUTING.md and the book's "Your own data"),
``root`` (relative to the manifest file, or absolute), ``provenance`` (``synthetic`` or
``site``), an optional ``checksum`` (``sha256:<hex>`` over the dataset's files, see
:func:`tree_checksum`) and, for synthetic datasets, the generator options. Study B
(``volumes``) entries may map their files by pattern (``files``, :class:`VolumeFiles`, or a list of them, one per format,
optionally ending with ``default``; see :mod:`mpirad.io.layouts`) and
give the voxel size of files that carry none (``spacing: [z, y, x]`` in mm; and, if
needed, their place: ``origin: [x, y, z]`` in mm and ``direction``, 9 numbers, both LPS as
SimpleITK's ``GetOrigin``/``GetDirection``), and may
hold only a myocardium mask (``rois: derive``, with ``short_axis: false`` for volumes
not in short-axis orientation and an optional ``rv_insertion_deg``): the seven ROIs are
then derived from it when read (:mod:`mpirad.heart`); Study A
entries may name the Labelme labels drawn into the ischemia mask (``labels``, default
``[ischemia]``) and the side of a (square) source pixel in mm (``pixel_spacing_mm``,
optional; gives Study A's Hausdorff distances in mm). Either study may leave patients
out on purpose: ``exclude: {patient_id: reason, ...}`` (their folders stay; every chapter
skips them and counts them by reason). :mod:`mpirad.io.layouts` reads these. The file is validated with pydantic; a bad manifest raises :class:`ManifestError` naming the dataset, the key and
the problem.

The manifest is found from ``$MPIRAD_MANIFEST``, else the first ``data_manifest.yaml``
in the current folder or its parents.
"""

from __future__ import annotations

import hashlib
import math
import os
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

MANIFEST_NAME = "data_manifest.yaml"


class ManifestError(ValueError):
    """A manifest that cannot be used; the message names the file, dataset and key."""


class ChecksumMismatch(ManifestError):
    """A dataset whose files differ from the checksum recorded in the manifest."""


class SyntheticOptions(BaseModel):
    """Options of :func:`mpirad.phantom.synthesize` for a synthetic dataset."""

    model_config = ConfigDict(extra="forbid")
    seed: int = 0
    patients: int | None = Field(default=None, gt=0)
    image_size: int | None = Field(default=None, gt=15)
    profile: Literal["quick", "paper"] = "quick"


class VolumeFiles(BaseModel):
    """Where a ``volumes`` dataset keeps its files, by pattern (:mod:`mpirad.io.layouts`).

    Patterns are relative to the dataset root, use ``{patient_id}`` (and ``{roi}`` in a
    single masks pattern) and, after a ``.mat`` file, ``:variable`` for the MATLAB variable.
    """

    model_config = ConfigDict(extra="forbid")
    image: str
    masks: str | dict[str, str]
    clinical: str = "clinical.csv"
    cac: str = "cac.csv"

    @field_validator("image")
    @classmethod
    def _image_pattern(cls, value: str) -> str:
        from mpirad.io.layouts import FilePattern

        FilePattern.parse(value, require=("patient_id",))
        return value

    @field_validator("masks")
    @classmethod
    def _mask_patterns(cls, value: str | dict[str, str]) -> str | dict[str, str]:
        from mpirad.io.layouts import FilePattern, check_roi_name

        if isinstance(value, str):  # one .dcm RTSTRUCT/SEG for all ROIs needs no {roi}
            from mpirad.io.layouts import mask_pattern_requires

            FilePattern.parse(
                value, placeholders=("patient_id", "roi"), require=mask_pattern_requires(value)
            )
            return value
        if not value:
            raise ValueError("map at least one ROI to a pattern, or give one pattern with {roi}")
        for roi, text in value.items():
            check_roi_name(roi)
            try:
                FilePattern.parse(text, require=("patient_id",))
            except ValueError as error:
                raise ValueError(f"ROI {roi!r}: {error}") from None
        return value

    @field_validator("clinical", "cac")
    @classmethod
    def _table_path(cls, value: str) -> str:
        from mpirad.io.layouts import FilePattern

        pattern = FilePattern.parse(value, placeholders=())
        if pattern.variable is not None:
            raise ValueError(f"{value!r}: a table is a CSV file, not a MATLAB variable")
        return value


class Resample(BaseModel):
    """Study B ``resample``: IBSI resampling to isotropic voxels before every engine."""

    model_config = ConfigDict(extra="forbid")
    #: Side of the isotropic voxels, mm.
    spacing_mm: float
    #: Image interpolation (the mask is interpolated linearly, kept where >= 0.5).
    interpolation: Literal["linear", "cubic"] = "linear"

    @field_validator("spacing_mm")
    @classmethod
    def _positive(cls, value: float) -> float:
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"must be a positive voxel size in mm, got {value}")
        return value


class Resegment(BaseModel):
    """Study B ``resegment``: IBSI re-segmentation of every ROI by intensity."""

    model_config = ConfigDict(extra="forbid")
    #: Intensities kept in the ROI, ``[low, high]`` (inclusive).
    range: tuple[float, float] | None = None
    #: Drop ROI voxels beyond mean +- this many standard deviations.
    outliers_sd: float | None = None

    @field_validator("range")
    @classmethod
    def _ordered(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        if value is not None and not value[0] < value[1]:
            raise ValueError(f"must be [low, high] with low < high, got {list(value)}")
        return value

    @field_validator("outliers_sd")
    @classmethod
    def _sd_positive(cls, value: float | None) -> float | None:
        if value is not None and not (math.isfinite(value) and value > 0):
            raise ValueError(f"must be a positive number of standard deviations, got {value}")
        return value


class DatasetEntry(BaseModel):
    """One dataset of the manifest (validated)."""

    model_config = ConfigDict(extra="forbid")
    study: Literal["a", "b"]
    format: Literal["labelme-export", "volumes"]
    root: str
    provenance: Literal["synthetic", "site"]
    description: str = ""
    checksum: str | None = None
    synthetic: SyntheticOptions | None = None
    #: Study B: file patterns instead of the default layout: one mapping, or a list of
    #: mappings (one per format, tried in order for each patient) optionally ending with
    #: ``default`` (the default layout for the patients no pattern matched).
    files: VolumeFiles | list[VolumeFiles | Literal["default"]] | None = None
    #: Study B: voxel size in mm, (z, y, x), of files that carry none (MATLAB, bare NRRD).
    spacing: tuple[float, float, float] | None = None
    #: Study B: LPS position (x, y, z) in mm of voxel [0, 0, 0] of files that carry no
    #: orientation (MATLAB, bare NRRD), as SimpleITK's GetOrigin; default 0.
    origin: tuple[float, float, float] | None = None
    #: Study B: direction cosines of the same files, 9 numbers row-major (columns: the LPS
    #: unit vectors of the array's x, y, z axes), as SimpleITK's GetDirection; default identity.
    direction: list[float] | None = None
    #: Study B: the dimensions of MATLAB arrays, in order, e.g. [y, x, z] for (row, column, slice).
    mat_axes: tuple[Literal["z", "y", "x"], Literal["z", "y", "x"], Literal["z", "y", "x"]] = (
        "z",
        "y",
        "x",
    )
    #: Study A: the Labelme labels drawn into the ischemia mask (others are counted, not drawn).
    labels: list[str] = Field(default_factory=lambda: ["ischemia"])
    #: Study B: ``masks`` (the seven ROI masks are files) or ``derive`` (only the myocardium
    #: is; the seven ROIs are derived from it when read, :mod:`mpirad.heart`).
    rois: Literal["masks", "derive"] = "masks"
    #: Study B, ``rois: derive``: the volumes are in short-axis orientation (clinical
    #: exports); ``false`` for volumes posed anatomically (the LV long axis is estimated).
    short_axis: bool = True
    #: Study B, ``rois: derive``: the RV insertion angle (degrees, image plane); default:
    #: the short-axis convention (and the image's RV count pattern when not short axis).
    rv_insertion_deg: float | None = None
    #: Study A: side of a square source pixel in mm (optional; Hausdorff distances in mm).
    pixel_spacing_mm: float | None = None
    #: Study B: resample every patient to isotropic voxels before extraction (IBSI).
    resample: Resample | None = None
    #: Study B: re-segment every ROI by intensity range and/or outliers (IBSI).
    resegment: Resegment | None = None
    #: Patients left out on purpose: patient id -> the reason (counted by reason in the
    #: chapters; the folders stay where they are).
    exclude: dict[str, str] = Field(default_factory=dict)
    #: Study B: masks stored as DICOM RTSTRUCT (or SEG) files: the site's structure
    #: (segment) names -> mpirad's ROI names, e.g. ``{"LAD territory": "LAD17"}``; names
    #: not listed are skipped (``mpirad check`` lists them). Default: the file's names are
    #: mpirad's (:mod:`mpirad.io.layouts`).
    roi_names: dict[str, str] | None = None

    @field_validator("roi_names")
    @classmethod
    def _roi_names_map(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        from mpirad.io.layouts import check_roi_name

        if value is None:
            return value
        if not value:
            raise ValueError("map at least one site name to an ROI, or leave roi_names out")
        seen: dict[str, str] = {}
        for site, roi in value.items():
            if not str(site).strip():
                raise ValueError("a site structure name is empty")
            check_roi_name(roi)
            if roi in seen:
                raise ValueError(
                    f"{seen[roi]!r} and {site!r} both map to ROI {roi!r}; one structure per ROI"
                )
            seen[roi] = str(site)
        return {str(site): roi for site, roi in value.items()}

    @field_validator("exclude")
    @classmethod
    def _exclude_reasons(cls, value: dict[str, str]) -> dict[str, str]:
        for patient, reason in value.items():
            if not str(patient).strip():
                raise ValueError("a patient id to exclude is empty")
            if not isinstance(reason, str) or not reason.strip():
                raise ValueError(
                    f"patient {patient!r}: give the reason it is left out "
                    "(e.g. 'B007: mask 8 mm off the image'); it is counted in the chapters"
                )
        return {str(k): v.strip() for k, v in value.items()}

    @field_validator("files")
    @classmethod
    def _files_list(cls, value):
        if not isinstance(value, list):
            return value
        mappings = [item for item in value if item != "default"]
        if not mappings:
            raise ValueError(
                "give at least one mapping ({image: ..., masks: ...}); for the default "
                "layout alone, leave 'files' out"
            )
        if value.count("default") > 1 or ("default" in value and value[-1] != "default"):
            raise ValueError("'default' may appear once, as the last item (tried last)")
        tables = {(m.clinical, m.cac) for m in mappings}
        if len(tables) > 1:
            raise ValueError(
                "the mappings name different clinical/cac tables "
                f"({sorted(tables)}); a dataset has one clinical.csv and one cac.csv: "
                "give them in the first mapping only"
            )
        return value

    def file_mappings(self) -> list[VolumeFiles]:
        """The ``files`` mappings in order (``default`` left out; empty without ``files``)."""
        if self.files is None:
            return []
        items = self.files if isinstance(self.files, list) else [self.files]
        return [item for item in items if item != "default"]

    @field_validator("pixel_spacing_mm")
    @classmethod
    def _pixel_spacing_positive(cls, value: float | None) -> float | None:
        if value is not None and not (math.isfinite(value) and value > 0):
            raise ValueError(f"must be a positive pixel size in mm, got {value}")
        return value

    @field_validator("spacing")
    @classmethod
    def _spacing_positive(
        cls, value: tuple[float, float, float] | None
    ) -> tuple[float, float, float] | None:
        if value is not None and not all(math.isfinite(s) and s > 0 for s in value):
            raise ValueError(
                f"must be three positive voxel sizes in mm (z, y, x), got {list(value)}"
            )
        return value

    @field_validator("origin")
    @classmethod
    def _origin_finite(
        cls, value: tuple[float, float, float] | None
    ) -> tuple[float, float, float] | None:
        if value is not None and not all(math.isfinite(v) for v in value):
            raise ValueError(f"must be three finite coordinates in mm (x, y, z), got {list(value)}")
        return value

    @field_validator("direction")
    @classmethod
    def _direction_orthonormal(cls, value: list[float] | None) -> list[float] | None:
        if value is None:
            return value
        from mpirad.io.volume import VolumeError, direction_tuple

        if len(value) != 9:
            raise ValueError(
                f"must be 9 numbers (a 3x3 matrix, row-major, e.g. [1, 0, 0, 0, 1, 0, 0, 0, 1]), "
                f"got {len(value)}"
            )
        try:
            direction_tuple([value[0:3], value[3:6], value[6:9]])
        except VolumeError as error:
            raise ValueError(str(error)) from None
        return value

    @field_validator("rv_insertion_deg")
    @classmethod
    def _angle_finite(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError(f"must be a finite angle in degrees, got {value}")
        return value

    @field_validator("mat_axes")
    @classmethod
    def _axes_permutation(cls, value: tuple[str, str, str]) -> tuple[str, str, str]:
        if sorted(value) != ["x", "y", "z"]:
            raise ValueError(f"must name z, y and x once each, got {list(value)}")
        return value

    @field_validator("labels")
    @classmethod
    def _labels_form(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("give at least one Labelme label (default: [ischemia])")
        if any(not label.strip() for label in value):
            raise ValueError(f"labels must be non-empty strings, got {value}")
        if len(set(value)) != len(value):
            raise ValueError(f"duplicate labels in {value}")
        return value

    @field_validator("checksum")
    @classmethod
    def _checksum_form(cls, value: str | None) -> str | None:
        if value is None:
            return value
        algo, _, digest = value.partition(":")
        if (
            algo != "sha256"
            or len(digest) != 64
            or any(c not in "0123456789abcdef" for c in digest)
        ):
            raise ValueError("must be 'sha256:' followed by 64 lowercase hex digits")
        return value


class ManifestModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: Literal[1] = 1
    datasets: dict[str, DatasetEntry]


#: The generator of each dataset provenance that mpirad makes itself, named as
#: ``module`` (resolved when first needed, like a packaging entry point): this module
#: describes data and imports no generator, so that :mod:`mpirad.phantom` (which reads
#: datasets through :mod:`mpirad.io`) and the manifest form no import circle. The module
#: has ``ensure_dataset(dataset)`` (make the files when absent or outdated) and
#: ``pixel_spacing_mm(dataset)``. See :mod:`mpirad.phantom.datasets`.
GENERATORS: dict[str, str] = {"synthetic": "mpirad.phantom.datasets"}


def generator_of(dataset: Dataset):
    """The generator module of ``dataset``'s provenance (:data:`GENERATORS`), or None for
    data mpirad does not make (``site``)."""
    import importlib

    name = GENERATORS.get(dataset.provenance)
    return importlib.import_module(name) if name else None


class Dataset:
    """A resolved dataset: its name, entry and absolute root."""

    def __init__(self, name: str, entry: DatasetEntry, base: Path, manifest_path: Path | None):
        self.name = name
        self.entry = entry
        self.manifest_path = manifest_path
        root = Path(entry.root).expanduser()
        try:
            self.root = root if root.is_absolute() else (base / root).resolve()
        except (RuntimeError, OSError) as error:  # a symlink loop (RuntimeError before 3.13)
            where = f"{manifest_path}: " if manifest_path else ""
            raise ManifestError(
                f"{where}dataset {name!r}, key 'root': {entry.root} cannot be resolved ({error})"
            ) from None

    study = property(lambda self: self.entry.study)
    format = property(lambda self: self.entry.format)
    provenance = property(lambda self: self.entry.provenance)

    def __repr__(self) -> str:
        return f"Dataset({self.name!r}, study={self.study!r}, format={self.format!r}, root={str(self.root)!r})"

    @property
    def exists(self) -> bool:
        return self.root.is_dir() and any(self.root.iterdir())

    @property
    def pixel_spacing_mm(self) -> float | None:
        """Side of a Study A source pixel in mm: the entry's ``pixel_spacing_mm``, else,
        for a generated (synthetic) Study A cohort, what its generator says, else None.
        """
        if self.entry.pixel_spacing_mm is not None or self.study != "a":
            return self.entry.pixel_spacing_mm
        generator = generator_of(self)
        return generator.pixel_spacing_mm(self) if generator else None

    def ensure(self, *, verify: bool = True) -> Dataset:
        """Make sure the files are there (generating a synthetic dataset if absent).

        Args:
            verify: compare with the recorded checksum, if any.

        Returns:
            ``self``.

        Raises:
            ManifestError: a site dataset whose root does not exist.
            ChecksumMismatch: files differ from the recorded checksum.
        """
        generator = generator_of(self)
        if generator is not None:
            generator.ensure_dataset(self)
        elif not self.exists:
            raise ManifestError(
                f"dataset {self.name!r}: root {self.root} does not exist or is empty "
                f"(key 'root' in {self.manifest_path})"
            )
        if verify and self.entry.checksum:
            self.verify()
        return self

    def checksum(self) -> str:
        """``sha256:<hex>`` over the dataset's files (see :func:`tree_checksum`)."""
        return tree_checksum(self.root)

    def verify(self) -> None:
        """Raise :class:`ChecksumMismatch` when the files differ from the manifest."""
        actual = self.checksum()
        if actual != self.entry.checksum:
            hint = (
                " Regenerate it (delete the folder; it is rebuilt on next use) or, if the "
                "generator changed on purpose, record the new checksum with "
                f"`mpirad checksum {self.name}` and paste it into the manifest."
                if self.provenance == "synthetic"
                else " The files changed since the checksum was recorded."
            )
            raise ChecksumMismatch(
                f"dataset {self.name!r} at {self.root}: files do not match the manifest "
                f"checksum (expected {self.entry.checksum}, found {actual}).{hint}"
            )


def tree_checksum(root: str | Path, *, exclude: tuple[str, ...] = (".cache",)) -> str:
    """SHA-256 over every file under ``root``: sorted relative paths and their bytes.

    Hidden files/folders (names starting with ``.``) and ``exclude`` names are skipped.
    """
    root = Path(root)
    digest = hashlib.sha256()
    files = sorted(
        p
        for p in root.rglob("*")
        if p.is_file()
        and not any(part.startswith(".") or part in exclude for part in p.relative_to(root).parts)
    )
    for path in files:
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(b"\0")
        file_digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                file_digest.update(block)
        digest.update(file_digest.digest())
    return "sha256:" + digest.hexdigest()


def find_manifest(start: str | Path | None = None) -> Path:
    """Locate ``data_manifest.yaml`` ($MPIRAD_MANIFEST, else upward from ``start``/cwd)."""
    env = os.environ.get("MPIRAD_MANIFEST")
    if env:
        path = Path(env)
        if not path.is_file():
            raise ManifestError(f"$MPIRAD_MANIFEST points to {path}, which is not a file")
        return path.resolve()
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / MANIFEST_NAME
        if candidate.is_file():
            return candidate
    raise ManifestError(
        f"no {MANIFEST_NAME} in {here} or its parents (set $MPIRAD_MANIFEST to its path)"
    )


def project_root(start: str | Path | None = None) -> Path:
    """The folder holding the manifest: the base of relative paths such as ``build/``."""
    return find_manifest(start).parent


def _format_error(path: Path, error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        loc = [str(p) for p in item["loc"]]
        if loc[:1] == ["datasets"] and len(loc) >= 2:
            where = f"dataset {loc[1]!r}, key {'.'.join(loc[2:]) or '(entry)'!r}"
        else:
            where = f"key {'.'.join(loc)!r}"
        lines.append(f"{where}: {item['msg']}")
    return f"{path}: invalid manifest:\n  " + "\n  ".join(lines)


def load_manifest(path: str | Path | None = None) -> dict[str, Dataset]:
    """Load and validate a manifest.

    Args:
        path: the YAML file; default: :func:`find_manifest`.

    Returns:
        Dataset name -> :class:`Dataset`.

    Raises:
        ManifestError: unreadable YAML or an invalid entry (names dataset and key).
    """
    path = Path(path) if path is not None else find_manifest()
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ManifestError(f"{path}: no such manifest") from None
    except yaml.YAMLError as exc:
        raise ManifestError(f"{path}: not valid YAML ({exc})") from exc
    if not isinstance(raw, dict):
        raise ManifestError(f"{path}: expected a mapping with a 'datasets' key")
    try:
        model = ManifestModel.model_validate(raw)
    except ValidationError as exc:
        raise ManifestError(_format_error(path, exc)) from None
    for name, entry in model.datasets.items():
        _check_entry(path, name, entry)
    base = path.resolve().parent
    return {name: Dataset(name, entry, base, path) for name, entry in model.datasets.items()}


def _check_entry(path: Path, name: str, entry: DatasetEntry) -> None:
    """The rules between an entry's keys; ManifestError naming the dataset and key."""

    def refuse(key: str, message: str) -> None:
        raise ManifestError(f"{path}: dataset {name!r}, key {key!r}: {message}")

    expected = "labelme-export" if entry.study == "a" else "volumes"
    if entry.format != expected:
        refuse("format", f"study {entry.study!r} data must be {expected!r}, got {entry.format!r}")
    if entry.provenance == "site" and entry.synthetic is not None:
        refuse("synthetic", "only synthetic datasets take generator options")
    for key, study in (
        ("files", "b"),
        ("spacing", "b"),
        ("origin", "b"),
        ("direction", "b"),
        ("mat_axes", "b"),
        ("labels", "a"),
        ("pixel_spacing_mm", "a"),
        ("resample", "b"),
        ("resegment", "b"),
        ("roi_names", "b"),
    ):
        if key in entry.model_fields_set and entry.study != study:
            refuse(
                key,
                f"only study {study!r} datasets take it (this one is study {entry.study!r})",
            )
    if entry.provenance == "synthetic" and entry.files is not None:
        refuse("files", "a synthetic dataset has the default layout")
    _check_rois(entry, refuse)


def _check_rois(entry: DatasetEntry, refuse) -> None:
    """``rois: derive`` and its orientation keys (Study B only; orientation needs derive)."""
    if "rois" in entry.model_fields_set and entry.study != "b":
        refuse("rois", f"only study 'b' datasets take it (this one is study {entry.study!r})")
    for key in ("short_axis", "rv_insertion_deg"):
        if key in entry.model_fields_set and entry.rois != "derive":
            refuse(key, "only applies with 'rois: derive' (the ROIs derived from the myocardium)")
    for mapping in entry.file_mappings():
        masks = mapping.masks
        if entry.rois == "derive" and isinstance(masks, dict) and "myocardium" not in masks:
            refuse(
                "files.masks",
                f"'rois: derive' derives the ROIs from the myocardium mask, but files.masks "
                f"maps only {sorted(masks)}; add 'myocardium: <pattern>'",
            )


def get_dataset(name: str, manifest: str | Path | None = None) -> Dataset:
    """The dataset called ``name`` in the manifest.

    Raises:
        ManifestError: no such dataset (the message lists the known names).
    """
    datasets = load_manifest(manifest)
    if name not in datasets:
        raise ManifestError(
            f"no dataset {name!r} in {next(iter(datasets.values())).manifest_path if datasets else 'the manifest'}"
            f" (known: {sorted(datasets)})"
        )
    return datasets[name]
