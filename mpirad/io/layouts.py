"""Where a dataset keeps its files: the documented layouts and the manifest's file mappings.

This is the one place that turns "dataset + patient + ROI" into a file (and, for MATLAB
files, a variable). Everything downstream (:mod:`mpirad.io.patient_volumes`, the cohort
extraction, the statistics) asks a :class:`VolumesLayout`, so files -> ``io`` -> tidy tables.

Study B ``volumes`` datasets
----------------------------
**Default layout** (a plain folder, or a manifest entry without ``files``)::

    <root>/clinical.csv, <root>/cac.csv
    <root>/<patient_id>/image<suffix>            or  image/       (a DICOM series folder)
    <root>/<patient_id>/masks/<roi><suffix>      or  masks/<roi>/ (a DICOM series folder)

with ``<suffix>`` one of :data:`VOLUME_SUFFIXES` (NIfTI, NRRD, MATLAB v5 or v7.3, a
multi-frame DICOM file ``.dcm`` such as an NM reconstruction). Patients
are the sub-folders holding exactly one image; a folder with ``masks/`` but no image, or
with two images, is an error naming what was looked for.

**Mapped layout** (manifest ``files``, see ``data_manifest.yaml``): patterns relative to
``root`` with the placeholders ``{patient_id}`` (and ``{roi}`` in a single masks pattern),
and, for ``.mat`` files, ``:variable`` naming the MATLAB variable, e.g. the SERA export
``{patient_id}/PETimg.mat:vol_vals``. Patients are the values of ``{patient_id}`` for which
the image pattern matches an existing file or folder.

**Mixed layouts** (manifest ``files`` as a list): several mappings, one per format, tried
in order for each patient (the first whose image exists reads the patient), and, as the
last item, ``default`` for the patients no pattern matched (the default layout). A patient
folder that no mapping reads is left out of every chapter; :meth:`VolumesLayout.unmatched_folders`
lists them and ``mpirad check`` reports each as an error.

**DICOM contours and segmentations**: a ``.dcm`` mask file whose Modality is RTSTRUCT or
SEG holds several ROIs; a single masks pattern may then omit ``{roi}``
(``masks: "{patient_id}/rtstruct.dcm"``). Its structures (segments) are rasterised on the
patient's image grid (:mod:`mpirad.io.rtstruct`, :mod:`mpirad.io.seg`) and chosen by name;
the manifest's ``roi_names`` maps the site's names to mpirad's (``{"LAD territory": LAD17}``),
and names it does not map are skipped (``mpirad check`` lists them).

**Voxel size**: files that carry none (MATLAB, NRRD without ``space directions``) take the
manifest's ``spacing: [z, y, x]`` (mm); a mask without one takes its image's. Without
either, the error names the file and says how to add the key. Likewise files that carry no
orientation take the manifest's ``origin: [x, y, z]`` (mm) and ``direction`` (9 numbers,
row-major; LPS, as SimpleITK's ``GetOrigin``/``GetDirection``), else their image's (masks)
or origin 0 and the identity. Every mask is then checked against its image's grid
(:func:`mpirad.io.patient_volumes.check_mask`).

**Derived ROIs** (manifest ``rois: derive``): only ``masks/myocardium`` is read; the other
ROIs of a patient are derived from it by :mod:`mpirad.heart` when read
(:class:`DerivedRois` holds the orientation; :func:`mpirad.io.patient_volumes.read_roi_mask`
derives), and every ROI's stamp is the myocardium's plus these options.

Study A ``labelme-export`` datasets keep their layout (:mod:`mpirad.tomo.data`); the manifest
adds ``labels`` (the Labelme labels drawn into the ischemia mask), read by
:func:`labelme_labels`.
"""

from __future__ import annotations

import glob
import os
import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from mpirad.io.volumes import MissingSpacingError, Volume, read_volume

if TYPE_CHECKING:
    from mpirad.manifest import Dataset

#: File name endings tried, in order, for a default-layout image or mask (a folder of the
#: bare name, ``image/`` or ``masks/<roi>/``, is read as a DICOM series).
VOLUME_SUFFIXES: tuple[str, ...] = (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mat", ".dcm")

#: The default Study B file names: ``image`` and ``masks/<roi>`` inside the patient folder.
DEFAULT_IMAGE = "image"
DEFAULT_MASKS = "masks"

#: Modalities of a ``.dcm`` mask file read as DICOM contours or segments, not as a volume.
MASK_OBJECT_MODALITIES = ("RTSTRUCT", "SEG")

#: The last RTSTRUCT/SEG file read as masks (key -> ROI masks): one read serves its ROIs.
_MASK_OBJECTS: dict[tuple, dict] = {}

#: Default Labelme labels drawn into the Study A ischemia mask.
DEFAULT_LABELME_LABELS: tuple[str, ...] = ("ischemia",)

_VARIABLE = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_ROI_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def check_roi_name(roi: object) -> str:
    """An ROI name usable as a file and cache name (letters, digits, ``_.-``).

    Raises:
        ValueError: anything else.
    """
    if not isinstance(roi, str) or not _ROI_NAME.fullmatch(roi):
        raise ValueError(f"ROI name {roi!r}: use letters, digits, '_', '.' or '-'")
    return roi


def mask_pattern_requires(text: str) -> tuple[str, ...]:
    """The placeholders a single masks pattern needs: ``{patient_id}`` and ``{roi}``, or
    ``{patient_id}`` alone for a ``.dcm`` file, one RTSTRUCT or SEG holding every ROI."""
    if isinstance(text, str) and text.lower().endswith(".dcm") and "{roi}" not in text:
        return ("patient_id",)
    return ("patient_id", "roi")


class LayoutError(ValueError):
    """A dataset whose files cannot be found or read as its layout says; names what was sought."""


@dataclass(frozen=True)
class FilePattern:
    """A manifest file pattern: ``path[:variable]`` relative to the dataset root.

    Attributes:
        text: the pattern as written in the manifest.
        path: the path template (POSIX separators), e.g. ``{patient_id}/PETimg.mat``.
        variable: the MATLAB variable (only for ``.mat`` paths), or None.
    """

    text: str
    path: str
    variable: str | None = None

    @classmethod
    def parse(
        cls,
        text: object,
        *,
        placeholders: Sequence[str] = ("patient_id",),
        require: Sequence[str] = (),
    ) -> FilePattern:
        """Parse and validate a pattern.

        Args:
            text: the manifest value.
            placeholders: the ``{names}`` allowed.
            require: the ``{names}`` that must appear.

        Raises:
            ValueError: not a string, absolute or ``..`` paths, unknown or missing
                placeholders, a ``:variable`` on a non-``.mat`` file or a bad variable name.
        """
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"a file pattern must be a non-empty string, got {text!r}")
        path, variable = text, None
        if ":" in text:
            path, _, variable = text.rpartition(":")
            if not path.lower().endswith(".mat"):
                raise ValueError(
                    f"{text!r}: ':' names a MATLAB variable and may only follow a .mat file "
                    "(e.g. '{patient_id}/PETimg.mat:vol_vals')"
                )
            if not _VARIABLE.fullmatch(variable):
                raise ValueError(f"{text!r}: {variable!r} is not a MATLAB variable name")
        if "\\" in path:
            raise ValueError(f"{text!r}: use '/' as the folder separator")
        parts = PurePosixPath(path).parts
        if path.startswith("/") or ".." in parts or not parts:
            raise ValueError(f"{text!r}: must be a path inside the dataset root (no '/...', '..')")
        try:
            parsed = [
                (f, spec, conv)
                for _, f, spec, conv in string.Formatter().parse(path)
                if f is not None
            ]
        except ValueError as error:
            raise ValueError(f"{text!r}: unbalanced braces ({error})") from None
        fields = [f for f, _, _ in parsed]
        unknown = sorted({f for f in fields if f not in placeholders})
        if unknown:
            raise ValueError(
                f"{text!r}: unknown placeholder(s) {unknown}; allowed: "
                + ", ".join("{" + p + "}" for p in placeholders)
            )
        if any(spec or conv for _, spec, conv in parsed):
            raise ValueError(f"{text!r}: placeholders take no format spec or conversion")
        missing = [p for p in require if p not in fields]
        if missing:
            raise ValueError(f"{text!r}: must contain " + ", ".join("{" + p + "}" for p in missing))
        return cls(text=text, path=path, variable=variable)

    def resolve(self, root: Path, **values: str) -> VolumeSource:
        """The file (and variable) for given placeholder values."""
        return VolumeSource(root / self.path.format(**values), self.variable)

    def glob(self) -> str:
        """A glob matching every value of ``{patient_id}`` (literal parts escaped)."""
        return "".join(
            glob.escape(literal) + ("*" if name is not None else "")
            for literal, name, _, _ in string.Formatter().parse(self.path)
        )

    def regex(self) -> re.Pattern[str]:
        """A regex of the relative path whose group ``patient_id`` is the patient id."""
        pieces, seen = [], False
        for literal, name, _, _ in string.Formatter().parse(self.path):
            pieces.append(re.escape(literal))
            if name == "patient_id":
                pieces.append("(?P=patient_id)" if seen else "(?P<patient_id>[^/]+)")
                seen = True
            elif name is not None:  # {roi} of a mask pattern
                pieces.append("[^/]+")
        return re.compile("".join(pieces))


@dataclass(frozen=True)
class VolumeSource:
    """One volume on disk: a file or DICOM folder, and the MATLAB variable if any."""

    path: Path
    variable: str | None = None

    def __str__(self) -> str:
        return str(self.path) + (f" (variable {self.variable!r})" if self.variable else "")

    def stamp(self) -> str:
        """Name, size and modification time (of every file, for a folder): for caches."""
        if self.path.is_dir():
            files = sorted(p for p in self.path.iterdir() if p.is_file())
            size = sum(p.stat().st_size for p in files)
            mtime = max((p.stat().st_mtime_ns for p in files), default=0)
            text = f"{self.path.name}/:{len(files)}:{size}:{mtime}"
        else:
            stat = self.path.stat()
            text = f"{self.path.name}:{stat.st_size}:{stat.st_mtime_ns}"
        return text + (f":{self.variable}" if self.variable else "")


@dataclass(frozen=True)
class FileMapping:
    """One manifest mapping: an image pattern and its masks (one pattern with ``{roi}``, or
    ROI -> pattern)."""

    image: FilePattern
    masks: FilePattern | Mapping[str, FilePattern]

    @classmethod
    def parse(cls, image: str, masks: str | Mapping[str, str]) -> FileMapping:
        """Parse the manifest's ``image`` and ``masks`` (see :meth:`FilePattern.parse`)."""
        if isinstance(masks, str):
            parsed: FilePattern | dict[str, FilePattern] = FilePattern.parse(
                masks, placeholders=("patient_id", "roi"), require=mask_pattern_requires(masks)
            )
        else:
            parsed = {
                roi: FilePattern.parse(text, require=("patient_id",)) for roi, text in masks.items()
            }
        return cls(FilePattern.parse(image, require=("patient_id",)), parsed)

    def mask_patterns(self) -> list[FilePattern]:
        """Every mask pattern of the mapping."""
        if isinstance(self.masks, FilePattern):
            return [self.masks]
        return list(self.masks.values())

    def patient_folder_glob(self) -> str | None:
        """A glob of the folders holding one patient each (the image pattern up to its
        first ``{patient_id}`` folder), or None when the id names a file, not a folder."""
        parts = PurePosixPath(self.image.path).parts
        for depth, part in enumerate(parts[:-1]):
            if "{patient_id}" in part:
                prefix = FilePattern(text="", path="/".join(parts[: depth + 1]))
                return prefix.glob()
        return None


@dataclass(frozen=True)
class DerivedRois:
    """A dataset whose ROIs are derived from its myocardium mask (manifest ``rois: derive``).

    Attributes:
        short_axis: the volumes are in short-axis orientation (clinical exports).
        rv_insertion_deg: the RV insertion angle in degrees, or None for the convention.
    """

    short_axis: bool = True
    rv_insertion_deg: float | None = None

    def stamp(self) -> str:
        """The options as text, for cache keys."""
        return f"derive:short_axis={self.short_axis}:rv={self.rv_insertion_deg}"


def _default_candidates(folder: Path, stem: str) -> list[Path]:
    return [folder / f"{stem}{suffix}" for suffix in VOLUME_SUFFIXES] + [folder / stem]


def _describe_candidates(stem: str) -> str:
    return ", ".join(f"{stem}{s}" for s in VOLUME_SUFFIXES) + f", {stem}/ (a DICOM series folder)"


def _looks_like_patient_folder(folder: Path) -> bool:
    """A folder holding a volume file, or an ``image`` or ``masks`` folder, at its top."""
    for child in folder.iterdir():
        if child.is_dir() and child.name.split(".")[0] in (DEFAULT_IMAGE, DEFAULT_MASKS):
            return True
        if child.is_file() and child.name.lower().endswith(VOLUME_SUFFIXES):
            return True
    return False


@dataclass(frozen=True)
class VolumesLayout:
    """Where a Study B ``volumes`` dataset keeps its files (picklable, for parallel workers).

    Attributes:
        root: the dataset folder.
        image: the (first) image pattern, or None for the default layout.
        masks: its masks: one pattern with ``{roi}``, or ROI -> pattern; None for the
            default layout.
        alternatives: further mappings (manifest ``files`` as a list), tried in order
            after ``image``/``masks`` for each patient.
        fallback: patients that no mapping matches are read in the default layout
            (``default`` in the manifest's list).
        exclude: ``(patient_id, reason)`` pairs left out on purpose (manifest
            ``exclude``): not among :meth:`patients`, counted by :meth:`excluded`.
        roi_names: ``(site name, mpirad ROI)`` pairs (manifest ``roi_names``): the
            structure (RTSTRUCT) or segment (SEG) names of mask files that are DICOM
            contour or segmentation objects; None: their names are mpirad's ROI names.
        spacing: voxel size in mm ``(z, y, x)`` for files that carry none, or None.
        origin: LPS ``(x, y, z)`` in mm of voxel ``[0, 0, 0]`` for files that carry no
            orientation (MATLAB, NRRD without ``space directions``), or None.
        direction: 9 numbers, row-major 3x3 whose columns are the LPS unit vectors of the
            array's x, y, z axes, for the same files, or None (see :mod:`mpirad.io.volume`).
        mat_axes: the dimensions of the MATLAB arrays, in order (default ``"zyx"``).
        clinical: ``clinical.csv`` path relative to ``root``.
        cac: ``cac.csv`` path relative to ``root``.
        dataset: the manifest name (for messages), or None for a plain folder.
        manifest_path: the manifest file (for messages), or None.
        derive: how to derive the ROIs from the myocardium (``rois: derive``), or None
            when every ROI is a mask file.
    """

    root: Path
    image: FilePattern | None = None
    masks: FilePattern | Mapping[str, FilePattern] | None = None
    spacing: tuple[float, float, float] | None = None
    origin: tuple[float, float, float] | None = None
    direction: tuple[float, ...] | None = None
    mat_axes: str = "zyx"
    clinical: str = "clinical.csv"
    cac: str = "cac.csv"
    dataset: str | None = None
    manifest_path: Path | None = field(default=None, compare=False)
    derive: DerivedRois | None = None
    alternatives: tuple[FileMapping, ...] = ()
    fallback: bool = False
    exclude: tuple[tuple[str, str], ...] = ()
    roi_names: tuple[tuple[str, str], ...] | None = None

    @classmethod
    def of(cls, source: str | os.PathLike[str] | Dataset | VolumesLayout) -> VolumesLayout:
        """The layout of a folder (default layout) or of a manifest :class:`~mpirad.manifest.Dataset`.

        Raises:
            LayoutError: a dataset that is not a Study B ``volumes`` dataset.
        """
        if isinstance(source, VolumesLayout):
            return source
        from mpirad.manifest import Dataset

        if not isinstance(source, Dataset):
            return cls(root=Path(source))
        entry = source.entry
        if entry.format != "volumes":
            raise LayoutError(
                f"dataset {source.name!r} is a {entry.format!r} dataset, not 'volumes' (Study B)"
            )
        files = entry.files
        image = masks = None
        clinical, cac = "clinical.csv", "cac.csv"
        mappings = [FileMapping.parse(f.image, f.masks) for f in entry.file_mappings()]
        if mappings:
            image, masks = mappings[0].image, mappings[0].masks
            clinical, cac = entry.file_mappings()[0].clinical, entry.file_mappings()[0].cac
        spacing = tuple(float(s) for s in entry.spacing) if entry.spacing is not None else None
        derive = None
        if entry.rois == "derive":
            derive = DerivedRois(entry.short_axis, entry.rv_insertion_deg)
        return cls(
            root=source.root,
            image=image,
            masks=masks,
            spacing=spacing,  # type: ignore[arg-type]
            origin=tuple(float(v) for v in entry.origin) if entry.origin is not None else None,
            direction=(
                tuple(float(v) for v in entry.direction) if entry.direction is not None else None
            ),
            mat_axes="".join(entry.mat_axes),
            clinical=clinical,
            cac=cac,
            dataset=source.name,
            manifest_path=source.manifest_path,
            derive=derive,
            alternatives=tuple(mappings[1:]),
            fallback=isinstance(files, list) and "default" in files,
            exclude=tuple(sorted(entry.exclude.items())),
            roi_names=(
                tuple(sorted(entry.roi_names.items())) if entry.roi_names is not None else None
            ),
        )

    # ----------------------------------------------------------------- descriptions

    @property
    def name(self) -> str:
        """How messages name the dataset: ``dataset 'NAME'`` or its folder."""
        return f"dataset {self.dataset!r}" if self.dataset else str(self.root)

    @property
    def clinical_path(self) -> Path:
        return self.root / self.clinical

    @property
    def cac_path(self) -> Path:
        return self.root / self.cac

    def _spacing_hint(self) -> str:
        where = f"in {self.manifest_path}" if self.manifest_path else "in data_manifest.yaml"
        if self.dataset:
            return (
                f"add the voxel size to dataset {self.dataset!r} {where}, e.g. "
                "'spacing: [4.8, 4.8, 4.8]' (mm, z y x); optionally 'origin: [x, y, z]' (mm) "
                "and 'direction: [9 numbers]' (LPS, as SimpleITK's GetOrigin/GetDirection)"
            )
        return (
            "describe the dataset in data_manifest.yaml with its voxel size, e.g. "
            "'spacing: [4.8, 4.8, 4.8]' (mm, z y x), and pass it by name"
        )

    # ----------------------------------------------------------------- patients

    def patients(self, *, strict: bool = True) -> list[str]:
        """Patient ids, sorted; those the manifest excludes are left out (:meth:`excluded`).

        Args:
            strict: refuse default-layout folders with ``masks/`` but no image, or two
                images; False (``mpirad check``, which reports them one by one): a folder
                with two images is a patient, one without an image is not.

        Raises:
            LayoutError: ``root`` is not a folder, no patient is found, or (default
                layout, ``strict``) a folder has ``masks/`` but no image, or two images.
        """
        excluded = self.excluded()
        patients = [p for p in self.all_patients(strict=strict) if p not in excluded]
        if not patients:
            raise LayoutError(
                f"{self.name}: no patient found under {self.root} (looked for {self.wanted()}"
                + (f"; {len(excluded)} excluded in the manifest" if excluded else "")
                + ")"
            )
        return patients

    def excluded(self) -> dict[str, str]:
        """Patient id -> reason, for the patients the manifest's ``exclude`` leaves out."""
        return dict(self.exclude)

    def all_patients(self, *, strict: bool = True) -> list[str]:
        """Every patient the files hold, excluded or not (see :meth:`patients`)."""
        if not self.root.is_dir():
            raise LayoutError(f"{self.name}: dataset folder {self.root} does not exist")
        if self.image is None:
            return self._default_patients(strict=strict)
        found: set[str] = set()
        for mapping in self.mappings:
            found.update(self._mapped_patients(mapping.image, mapping.mask_patterns()))
        if self.fallback:
            found.update(self._default_patients(skip=found, strict=strict))
        return sorted(found)

    @property
    def mappings(self) -> tuple[FileMapping, ...]:
        """The manifest's mappings in the order they are tried (empty: default layout)."""
        if self.image is None or self.masks is None:
            return ()
        return (FileMapping(self.image, self.masks), *self.alternatives)

    def wanted(self) -> str:
        """What is looked for to find a patient, for messages."""
        default = f"<patient_id>/image.* ({_describe_candidates(DEFAULT_IMAGE)})"
        if self.image is None:
            return default
        texts = [f"files.image pattern {m.image.text!r}" for m in self.mappings]
        if self.fallback:
            texts.append(f"the default layout {default}")
        return ", then ".join(texts)

    def mapping_of(self, patient_id: str) -> FileMapping | None:
        """The first mapping whose image exists for the patient; None: the default layout
        (a dataset without ``files``, or ``default`` in its list).

        Raises:
            LayoutError: no mapping matches and the list has no ``default``.
        """
        for mapping in self.mappings:
            if mapping.image.resolve(self.root, patient_id=patient_id).path.exists():
                return mapping
        if self.image is None or self.fallback:
            return None
        raise LayoutError(
            f"{self.name}, patient {patient_id}: no image: no pattern matches "
            f"(looked for {self.wanted()})"
        )

    def is_default(self, patient_id: str) -> bool:
        """Whether the patient is read in the default layout (``<id>/image``, ``<id>/masks/``)."""
        try:
            return self.mapping_of(patient_id) is None
        except LayoutError:
            return False

    def unmatched_folders(self) -> list[Path]:
        """Folders that look like a patient's but hold no file any mapping reads, sorted.

        The candidates are the root's sub-folders (not hidden) that hold a volume file, an
        ``image`` or a ``masks`` folder (a folder of folders, e.g. ``unpaired/``, is not a
        patient's), and the folders matching a
        mapping's image pattern up to its ``{patient_id}`` folder; a candidate is matched
        when it holds (or is) a patient's image or mask, or the clinical or CAC table. Empty for the default layout
        (whose check reports folders without an image itself).
        """
        if self.image is None or not self.root.is_dir():
            return []
        candidates = {
            p
            for p in self.root.iterdir()
            if p.is_dir() and not p.name.startswith(".") and _looks_like_patient_folder(p)
        }
        for mapping in self.mappings:
            pattern = mapping.patient_folder_glob()
            if pattern is not None:
                candidates.update(p for p in self.root.glob(pattern) if p.is_dir())
        claimed: set[Path] = set()
        for path in [*self._used_paths(), self.clinical_path, self.cac_path]:
            rel = path.relative_to(self.root)
            claimed.update(self.root / Path(*rel.parts[: n + 1]) for n in range(len(rel.parts)))
        return sorted(candidates - claimed)

    def _used_paths(self) -> list[Path]:
        """Every patient's image and mask locations (a ``{roi}`` left as written)."""
        try:
            patients = self.all_patients(strict=False)
        except LayoutError:
            return []
        used = []
        for patient in patients:
            mapping = self.mapping_of(patient)
            if mapping is None:
                used.append(self.root / patient)
                continue
            used.append(mapping.image.resolve(self.root, patient_id=patient).path)
            used += [
                pattern.resolve(self.root, patient_id=patient, roi="{roi}").path
                for pattern in mapping.mask_patterns()
            ]
        return used

    def _default_patients(
        self, skip: set[str] | frozenset[str] = frozenset(), *, strict: bool = True
    ) -> list[str]:
        patients = []
        for folder in sorted(p for p in self.root.iterdir() if p.is_dir()):
            if folder.name.startswith(".") or folder.name in skip:
                continue
            found = [p for p in _default_candidates(folder, DEFAULT_IMAGE) if p.exists()]
            if len(found) > 1 and strict:
                raise LayoutError(
                    f"patient {folder.name}: {len(found)} image volumes in {folder} "
                    f"({', '.join(p.name for p in found)}); keep one"
                )
            if found:
                patients.append(folder.name)
            elif strict and (folder / DEFAULT_MASKS).is_dir():
                raise LayoutError(
                    f"patient {folder.name}: {folder} has masks/ but no image volume "
                    f"(looked for {_describe_candidates(DEFAULT_IMAGE)})"
                )
        return patients

    def _mapped_patients(self, image: FilePattern, masks: Sequence[FilePattern] = ()) -> list[str]:
        """Patients whose image the pattern finds; a file a mask pattern of the same mapping
        also reads is a mask, not an image (``{patient_id}.nii.gz`` beside
        ``{patient_id}_mask.nii.gz``)."""
        regex = image.regex()
        mask_regexes = [mask.regex() for mask in masks]
        patients = set()
        for path in self.root.glob(image.glob()):
            relative = path.relative_to(self.root).as_posix()
            match = regex.fullmatch(relative)
            if any(mask.fullmatch(relative) for mask in mask_regexes):
                continue
            if match and not match["patient_id"].startswith("."):
                patients.add(match["patient_id"])
        return sorted(patients)

    # ----------------------------------------------------------------- sources

    def image_source(self, patient_id: str) -> VolumeSource:
        """The image file (or DICOM folder) of a patient.

        Raises:
            LayoutError: no image, or two (default layout); the message lists what was
                looked for.
        """
        if self.image is not None and not self.alternatives and not self.fallback:
            source = self.image.resolve(self.root, patient_id=patient_id)
            if not source.path.exists():
                raise LayoutError(
                    f"{self.name}, patient {patient_id}: no image: {source.path} does not "
                    f"exist (files.image: {self.image.text!r})"
                )
            return source
        mapping = self.mapping_of(patient_id)
        if mapping is not None:
            return mapping.image.resolve(self.root, patient_id=patient_id)
        folder = self.root / patient_id
        return VolumeSource(self._default_file(folder, DEFAULT_IMAGE, f"patient {patient_id}"))

    def mask_source(self, patient_id: str, roi: str) -> VolumeSource:
        """The mask file (or DICOM folder) of one ROI of a patient.

        Raises:
            LayoutError: no mapping for the ROI, or no such file; names what was sought.
        """
        where = f"patient {patient_id}, ROI {roi}"
        masks = self.masks
        if self.alternatives or self.fallback:
            mapping = self.mapping_of(patient_id)
            masks = None if mapping is None else mapping.masks
        if masks is None:
            folder = self.root / patient_id / DEFAULT_MASKS
            return VolumeSource(self._default_file(folder, roi, where))
        if isinstance(masks, FilePattern):
            pattern = masks
        elif roi in masks:
            pattern = masks[roi]
        else:
            raise LayoutError(
                f"{self.name}, {where}: files.masks has no entry for {roi!r} "
                f"(it maps {sorted(masks)})"
            )
        source = pattern.resolve(self.root, patient_id=patient_id, roi=roi)
        if not source.path.exists():
            raise LayoutError(
                f"{self.name}, {where}: no mask: {source.path} does not exist "
                f"(files.masks: {pattern.text!r})"
            )
        return source

    def _default_file(self, folder: Path, stem: str, where: str) -> Path:
        found = [p for p in _default_candidates(folder, stem) if p.exists()]
        if not found:
            raise LayoutError(
                f"{where}: no {'image' if stem == DEFAULT_IMAGE else 'mask'} file in {folder} "
                f"(looked for {_describe_candidates(stem)})"
            )
        if len(found) > 1:
            raise LayoutError(
                f"{where}: {len(found)} candidate volumes in {folder} "
                f"({', '.join(p.name for p in found)}); keep one"
            )
        return found[0]

    # ----------------------------------------------------------------- reading

    def read(
        self,
        source: VolumeSource,
        *,
        spacing: tuple[float, float, float] | None = None,
        origin: tuple[float, float, float] | None = None,
        direction: tuple[float, ...] | None = None,
    ) -> Volume:
        """Read a source as ``(z, y, x)``; ``spacing`` (mm), ``origin`` and ``direction``
        (LPS) for files that carry none.

        Raises:
            LayoutError: a file without voxel size and no ``spacing`` (says how to add
                the manifest key), or any :class:`~mpirad.io.volumes.VolumeError`,
                prefixed with the dataset's name.
        """
        prefix = f"dataset {self.dataset!r}: " if self.dataset else ""
        try:
            return read_volume(
                source.path,
                variable=source.variable,
                spacing=spacing,
                mat_axes=self.mat_axes,
                origin=origin,
                direction=direction,
            )
        except MissingSpacingError as error:
            raise LayoutError(
                f"{prefix}{source}: carries no voxel size; {self._spacing_hint()}"
            ) from error
        except ValueError as error:
            raise LayoutError(f"{prefix}{error}") from error

    def read_image(self, patient_id: str) -> Volume:
        """A patient's image as read (``(z, y, x)``, spacing in mm); see :meth:`read`."""
        return self.read(
            self.image_source(patient_id),
            spacing=self.spacing,
            origin=self.origin,
            direction=self.direction,
        )

    def read_mask(self, patient_id: str, roi: str, image: Volume) -> Volume:
        """One ROI mask as read; a file without voxel size (orientation) takes the
        manifest's ``spacing`` (``origin``, ``direction``), else the image's. A ``.dcm``
        mask file whose Modality is RTSTRUCT or SEG is rasterised on the image's grid
        (:meth:`read_mask_object`)."""
        source = self.mask_source(patient_id, roi)
        if source.path.suffix.lower() == ".dcm" and source.path.is_file():
            from mpirad.io.rtstruct import modality_of

            modality = modality_of(source.path)
            if modality not in MASK_OBJECT_MODALITIES and self._shared_mask_file(patient_id):
                raise LayoutError(
                    f"{self.name}, patient {patient_id}, ROI {roi}: {source.path} is one file "
                    f"for every ROI (a masks pattern without {{roi}}) but its Modality is "
                    f"{modality!r}, not RTSTRUCT or SEG"
                )
            if modality in MASK_OBJECT_MODALITIES:
                masks = self.read_mask_object(source.path, patient_id, image)
                if roi not in masks:
                    raise LayoutError(
                        f"{self.name}, patient {patient_id}, ROI {roi}: {source.path} holds no "
                        f"structure mapped to {roi!r} (it gives {sorted(masks)}; "
                        f"{self._roi_names_hint()})"
                    )
                return replace(image, array=masks[roi].astype("uint8"), source=source.path)
        return self.read(
            source,
            spacing=self.spacing if self.spacing is not None else image.spacing,
            origin=self.origin if self.origin is not None else image.origin,
            direction=self.direction
            if self.direction is not None
            else tuple(v for row in image.direction for v in row),
        )

    def _shared_mask_file(self, patient_id: str) -> bool:
        """Whether the patient's masks pattern names one file for every ROI (no ``{roi}``)."""
        masks = self.masks
        if self.alternatives or self.fallback:
            mapping = self.mapping_of(patient_id)
            masks = None if mapping is None else mapping.masks
        return isinstance(masks, FilePattern) and "{roi}" not in masks.path

    def _roi_names_hint(self) -> str:
        if self.roi_names is None:
            return "map the site's names with 'roi_names' in the manifest"
        return "the manifest's roi_names maps " + ", ".join(
            f"{site!r} -> {roi}" for site, roi in self.roi_names
        )

    def read_mask_object(self, path: Path, patient_id: str, image: Volume) -> dict:
        """Every mask an RTSTRUCT or SEG file holds, on ``image``'s grid, by mpirad ROI name.

        The site's names are mapped by :attr:`roi_names` (unmapped ones skipped);
        :func:`mpirad.io.rtstruct.read_rtstruct` or :func:`mpirad.io.seg.read_seg` reads
        the file. The last file read is kept, so a patient's seven ROIs read it once.

        Raises:
            LayoutError: the reader's error (another Frame of Reference or series, a
                contour between slices or outside the volume), naming patient, ROI and file.
        """
        from mpirad.io.rtstruct import modality_of, read_rtstruct

        names = dict(self.roi_names) if self.roi_names is not None else None
        key = (str(path), VolumeSource(path).stamp(), patient_id, self.roi_names,
               image.shape, image.spacing, image.origin, image.direction, str(image.source))  # fmt: skip
        if key in _MASK_OBJECTS:
            return _MASK_OBJECTS[key]
        try:
            if modality_of(path) == "SEG":
                from mpirad.io.seg import read_seg

                masks = read_seg(path, image, segment_names=names, patient=patient_id)
            else:
                masks = read_rtstruct(path, image, roi_names=names, patient=patient_id)
        except ValueError as error:  # names patient, ROI and file already
            raise LayoutError(str(error)) from error
        _MASK_OBJECTS.clear()
        _MASK_OBJECTS[key] = masks
        return masks

    def unknown_structures(self, patient_id: str) -> dict[Path, list[str]]:
        """The names in a patient's RTSTRUCT/SEG mask files that :attr:`roi_names` (or, without
        it, mpirad's ROI names) does not map: file -> names (for ``mpirad check``)."""
        from mpirad.constants import ROI_NAMES
        from mpirad.io.rtstruct import mask_object_names, modality_of

        known = set(dict(self.roi_names)) if self.roi_names is not None else set(ROI_NAMES)
        found: dict[Path, list[str]] = {}
        for roi in ROI_NAMES:
            try:
                path = self.mask_source(patient_id, roi).path
            except LayoutError:
                continue
            if path in found or path.suffix.lower() != ".dcm" or not path.is_file():
                continue
            if modality_of(path) in MASK_OBJECT_MODALITIES:
                found[path] = [n for n in mask_object_names(path) if n not in known]
        return {path: names for path, names in found.items() if names}

    def case_stamp(self, patient_id: str, roi: str) -> str:
        """Image and mask names, sizes and times (and the manifest's spacing and
        mat_axes, and the derivation of derived ROIs): a cache key."""
        parts = []
        mask_roi = roi if self.derive is None else "myocardium"
        for find in (
            lambda: self.image_source(patient_id),
            lambda: self.mask_source(patient_id, mask_roi),
        ):
            try:
                parts.append(find().stamp())
            except LayoutError:
                parts.append("missing")
        if self.spacing is not None:
            parts.append("spacing=" + ",".join(f"{s:g}" for s in self.spacing))
        if self.origin is not None:
            parts.append("origin=" + ",".join(f"{v:g}" for v in self.origin))
        if self.direction is not None:
            parts.append("direction=" + ",".join(f"{v:g}" for v in self.direction))
        if self.mat_axes != "zyx":
            parts.append(f"mat_axes={self.mat_axes}")
        if self.derive is not None:
            parts.append(self.derive.stamp())
        if self.roi_names is not None:
            parts.append("roi_names=" + ",".join(f"{a}>{b}" for a, b in self.roi_names))
        return "|".join(parts)


def volumes_layout(source: str | os.PathLike[str] | Dataset | VolumesLayout) -> VolumesLayout:
    """:meth:`VolumesLayout.of`: a folder means the default layout; a Dataset its manifest options."""
    return VolumesLayout.of(source)


def dataset_root(source: str | os.PathLike[str] | Dataset) -> Path:
    """The folder of a path or of a manifest :class:`~mpirad.manifest.Dataset`."""
    from mpirad.manifest import Dataset

    return source.root if isinstance(source, Dataset) else Path(source)


def labelme_labels(source: str | os.PathLike[str] | Dataset) -> tuple[str, ...]:
    """The Labelme labels drawn into the ischemia mask: the manifest's ``labels``, else
    :data:`DEFAULT_LABELME_LABELS` (a plain folder means the default)."""
    from mpirad.manifest import Dataset

    if isinstance(source, Dataset):
        return tuple(source.entry.labels)
    return DEFAULT_LABELME_LABELS
