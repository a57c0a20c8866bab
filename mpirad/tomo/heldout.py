"""Held-out synthetic Study A patients for a trained model (the book's "Using a trained
model" chapter): the training dataset's generator options with another seed, so the
model has seen none of these patients, at the size of its training images."""

from __future__ import annotations

from pathlib import Path

from mpirad.manifest import get_dataset
from mpirad.phantom.cohort import ensure_cohort
from mpirad.tomo.predict import TomoModel


def heldout_cohort(
    model: TomoModel, dataset: str, out: str | Path, *, seed: int, patients: int = 3
) -> Path:
    """Write (once) ``patients`` synthetic Study A patients drawn with ``seed`` to ``out``.

    Args:
        model: the trained model (its training images' size is used).
        dataset: the dataset it was trained on (its synthetic options, if any).
        out: the folder of the new cohort (a ``labelme-export`` dataset with ``truth/``).
        seed: the new cohort's seed; must differ from the training cohort's.
        patients: number of patients.

    Returns:
        ``out``.

    Raises:
        ValueError: ``seed`` is the training cohort's seed (the patients would be its own).
    """
    options = get_dataset(dataset).entry.synthetic
    if options is not None and options.seed == seed:
        raise ValueError(f"seed {seed} is {dataset!r}'s own: held-out patients need another")
    size = model.source_shapes[0][0] if model.source_shapes else None
    if size is None and options is not None:
        size = options.image_size
    profile = options.profile if options is not None else "quick"
    return ensure_cohort("a", out, seed=seed, patients=patients, image_size=size, profile=profile)
