"""The synthetic generator as a manifest dataset sees it: make and describe its files.

:mod:`mpirad.manifest` describes data and never imports the generator: a dataset with
``provenance: synthetic`` resolves this module by name when first needed
(:data:`mpirad.manifest.GENERATORS`) and calls

- :func:`ensure_dataset` from :meth:`mpirad.manifest.Dataset.ensure`: generate the cohort
  when absent, written by another generator version, or with other options;
- :func:`pixel_spacing_mm` from :attr:`mpirad.manifest.Dataset.pixel_spacing_mm`: the
  side of a Study A source pixel, from the image size the generated cohort records about
  itself (:data:`mpirad.phantom.cohort.MARKER`), else the size it will be generated with.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from mpirad.phantom.cohort import MARKER, ensure_cohort, synthesize
from mpirad.phantom.profiles import get_profile
from mpirad.phantom.study_a import FIELD_OF_VIEW_MM

if TYPE_CHECKING:
    from mpirad.manifest import Dataset


def _options(dataset: Dataset) -> dict:
    """The generator options of a manifest entry (``synthetic:``; None: the profile's)."""
    from mpirad.manifest import SyntheticOptions

    options = dataset.entry.synthetic or SyntheticOptions()
    return {
        "seed": options.seed,
        "patients": options.patients,
        "image_size": options.image_size,
        "profile": options.profile,
    }


def _recorded(dataset: Dataset) -> dict:
    """What the generated cohort records about itself (empty: not generated yet)."""
    try:
        return json.loads((dataset.root / MARKER).read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def ensure_dataset(dataset: Dataset) -> None:
    """Generate ``dataset``'s cohort in its root when absent, from another generator
    version, or written with other options than its manifest entry's."""
    from mpirad.phantom.cohort import GENERATOR_VERSION

    kwargs = _options(dataset)
    recorded = _recorded(dataset)
    if recorded.get("version") != GENERATOR_VERSION or recorded.get("study") != dataset.study:
        # a minute or two: say so at once (progress lines follow where no bar shows)
        print(f"[mpirad] dataset {dataset.name}: generating its synthetic cohort "
              "(a minute or two)", flush=True)  # fmt: skip
    ensure_cohort(dataset.study, dataset.root, **kwargs)
    written = _recorded(dataset)
    wanted = {k: v for k, v in kwargs.items() if v is not None}
    if any(written.get(k) != v for k, v in wanted.items()):
        synthesize(dataset.study, dataset.root, **kwargs)


def pixel_spacing_mm(dataset: Dataset) -> float | None:
    """Side of a source pixel in mm of a synthetic Study A cohort (None for Study B):
    the field of view over the image size, as generated or as it will be."""
    if dataset.study != "a":
        return None
    options = _options(dataset)
    size = (
        _recorded(dataset).get("image_size")
        or options["image_size"]
        or get_profile(options["profile"]).a_image_size
    )
    return FIELD_OF_VIEW_MM / size
