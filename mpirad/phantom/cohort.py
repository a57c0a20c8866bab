"""``synthesize``: write a complete synthetic dataset for Study A or B, atomically."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from mpirad.phantom import study_a, study_b
from mpirad.phantom.profiles import get_profile

#: File at the root of every synthetic dataset (provenance; also marks a folder that
#: ``synthesize`` may replace).
MARKER = "synthetic_cohort.json"
#: Bumped whenever the generator's output changes for the same seed and options;
#: :func:`ensure_cohort` regenerates a cohort written by another version. 2: the imaging
#: chain of :mod:`mpirad.phantom.realism` (partial volume, Butterworth post-filter, ROI
#: drawn to the half maximum of the blurred wall). 3: LV shapes calibrated on real expert
#: LV-wall masks (:func:`mpirad.phantom.realism.shape_table`: Study B's LVs shorter with a
#: tilted basal cut; Study A unchanged).
GENERATOR_VERSION = 3
STUDIES = ("a", "b")


def synthesize(
    study: str,
    out: str | Path,
    *,
    seed: int = 0,
    patients: int | None = None,
    image_size: int | None = None,
    profile: str = "quick",
    scheduler: object = None,
) -> Path:
    """Write a complete synthetic dataset for one study.

    The dataset is built in a temporary folder next to ``out`` and renamed onto it when
    complete, so ``out`` is never half-written. An existing ``out`` is replaced only if it
    is empty or an earlier synthetic cohort (it holds :data:`MARKER`).

    Args:
        study: ``"a"`` (D-SPECT tomograms, Labelme) or ``"b"`` (volumes, ROIs, clinical, CAC).
        out: the dataset folder.
        seed: the cohort seed; the same seed and options give byte-identical files.
        patients: number of patients (``None``: the profile's default: A 30 quick / 103
            paper, B 428).
        image_size: Study A PNG side in pixels (at least 32; default 128 quick / 512 paper);
            Study B volume side in 4.8 mm voxels (at least 36; default 44).
        profile: ``"quick"`` or ``"paper"``.
        scheduler: a Dask scheduler to build the patients on
            (:func:`mpirad.parallel.resolve_scheduler`; default ``MPIRAD_DASK_SCHEDULER``,
            else joblib); the files are the same. Its workers write next to ``out``.

    Returns:
        ``out`` as a :class:`~pathlib.Path`.

    Raises:
        ValueError: unknown study or profile, non-positive sizes, or an ``out`` that holds
            something other than a synthetic cohort.
    """
    study = str(study).lower()
    if study not in STUDIES:
        raise ValueError(f"study must be 'a' or 'b', got {study!r}")
    sizes = get_profile(profile)
    if patients is not None and int(patients) < 1:
        raise ValueError(f"patients must be a positive number, got {patients!r}")
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise ValueError(
            f"{out}: folder is not empty and is not a synthetic cohort (no {MARKER}); "
            "refusing to replace it"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.building-", dir=out.parent))
    try:
        options = _write_study(study, tmp, seed, sizes, patients, image_size, scheduler)
        marker = {"generator": "mpirad.phantom.synthesize", "version": GENERATOR_VERSION,
                  "study": study, "seed": seed, "profile": profile, **options}  # fmt: skip
        (tmp / MARKER).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
        _replace_folder(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _write_study(study, tmp: Path, seed: int, sizes, patients, image_size, scheduler) -> dict:
    """Write one study's cohort into ``tmp``; the options recorded in its marker."""
    if study == "a":
        n = int(patients) if patients is not None else sizes.a_patients
        size = int(image_size) if image_size is not None else sizes.a_image_size
        if size < 32:
            raise ValueError(f"Study A image_size must be at least 32 pixels, got {size}")
        options = {"patients": n, "image_size": size, "slices": list(sizes.a_slices)}
        study_a.write_cohort(
            tmp, seed=seed, patients=n, image_size=size, slices=sizes.a_slices,
            scheduler=scheduler,
        )  # fmt: skip
    else:
        n = int(patients) if patients is not None else sizes.b_patients
        size = int(image_size) if image_size is not None else sizes.b_volume_size
        if size < 36:
            raise ValueError(f"Study B volume size must be at least 36 voxels (173 mm), got {size}")
        options = {"patients": n, "volume_size": size}
        study_b.write_cohort(tmp, seed=seed, patients=n, volume_size=size, scheduler=scheduler)
    return options


def ensure_cohort(
    study: str,
    root: str | Path,
    *,
    seed: int = 0,
    patients: int | None = None,
    image_size: int | None = None,
    profile: str = "quick",
) -> Path:
    """Return ``root``, generating the synthetic cohort there first if it is absent.

    A folder that already holds a synthetic cohort of this study written by this
    generator version (:data:`MARKER`, :data:`GENERATOR_VERSION`) is used as it is; an
    older synthetic cohort is regenerated.

    Args:
        study: ``"a"`` or ``"b"``.
        root: dataset folder.
        seed: seed used when generating.
        patients: patients when generating (None: the profile's).
        image_size: image / volume size when generating (None: the profile's).
        profile: profile used when generating.

    Returns:
        ``root`` as a :class:`~pathlib.Path`.

    Raises:
        ValueError: ``root`` holds something other than a synthetic cohort.
    """
    root = Path(root)
    marker = root / MARKER
    if marker.is_file():
        try:
            written = json.loads(marker.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{marker}: not valid JSON ({exc})") from exc
        if written.get("version") == GENERATOR_VERSION and written.get("study") == study:
            return root
    return synthesize(
        study, root, seed=seed, patients=patients, image_size=image_size, profile=profile
    )


def _replace_folder(new: Path, out: Path) -> None:
    """Rename ``new`` onto ``out``; a previous ``out`` is moved aside, then deleted."""
    new.chmod(0o755)
    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
        old.rmdir()
        os.replace(out, old)
        try:
            os.replace(new, out)
        except BaseException:
            with contextlib.suppress(OSError):
                os.replace(old, out)
            raise
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(new, out)
