"""Run profiles of Study A: ``quick`` (synthetic default, CPU) and ``paper`` (GPU).

=========================  =====================  ===========================
setting                    quick                  paper
=========================  =====================  ===========================
LV-centred crop            96 source pixels       512 source pixels (paper)
network input              64 x 64                512 x 512 (paper)
classifier                 10 epochs, batch 32    40 epochs, batch 32
segmenter                  10 epochs, batch 16    60 epochs, batch 16
splits                     5 random 8:2           5 random 8:2 (paper)
=========================  =====================  ===========================

The paper gives the crop (512 x 512) and the splits, not the optimisation; the paper
profile's epochs and batch sizes are this project's choice (a ResNet18 from scratch on
~4000 images converges in a few tens of epochs). The quick profile is the paper's
protocol in small (the same networks, tasks, five 8:2 splits of both split units and
the same selection of the best epoch), sized for the 2-core machine the book is built
on, on the default synthetic cohort (30 patients, 128 x 128 slices, LV about 60 pixels
across): both tasks of one split train in about a minute (patient split 1: 120 CPU s,
75 s wall with two torch threads). ``make book`` runs the ten split runs two at a time
with one torch thread each (:func:`mpirad.pipeline.steps.study_a_splits`: a pair took
186 CPU s and 101 s wall, against 242 CPU s and 150 s one after the other), which is
what keeps the book within 15 minutes, rather than fewer epochs: 8 epochs instead of 10
(split 2) kept the AUCs (patient 0.85, image 0.92 against 0.80 and 0.93) but dropped the
median Dice from 0.72 to 0.41 (patient) and 0.74 to 0.58 (image).

Two faster optimisations are options, not defaults, because they change the numbers:
``cpu_bfloat16`` (bfloat16 autocast on CPUs with Intel AMX: about a quarter to a third
less CPU time per training image at 64 x 64) and ``schedule="one-cycle"`` (see
:class:`~mpirad.tomo.train.TrainConfig`), e.g. ``profile_overrides={"classifier":
{"cpu_bfloat16": True}, "segmenter": {"cpu_bfloat16": True}}`` in a split notebook. A
6-epoch one-cycle quick profile (peak 2e-3) fell short of 10 cosine epochs (patient
split 1: AUC 0.63, median Dice 0), so the quick profile keeps 10 epochs.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from mpirad.tomo.preprocess import PreprocessConfig
from mpirad.tomo.train import TrainConfig


@dataclass(frozen=True)
class StudyAProfile:
    """Everything a Study A run needs besides the data.

    Attributes:
        name: profile name.
        preprocess: crop and input sizes.
        classifier: optimisation of the ResNet18 classifier.
        segmenter: optimisation of the ResNet18 U-Net.
        n_splits: random train/validation splits (paper: 5).
        validation_fraction: validation share (paper: 0.2).
        threshold: probability cut-off for "ischemia" (classifier) and for an
            ischemic pixel (segmenter).
        n_overlays: original/manual/predicted overlay PNGs written per split.
    """

    name: str
    preprocess: PreprocessConfig
    classifier: TrainConfig
    segmenter: TrainConfig
    n_splits: int = 5
    validation_fraction: float = 0.2
    threshold: float = 0.5
    n_overlays: int = 6

    def to_dict(self) -> dict[str, Any]:
        """Plain dictionary (for JSON run records)."""
        return dataclasses.asdict(self)


PROFILES: dict[str, StudyAProfile] = {
    "quick": StudyAProfile(
        name="quick",
        preprocess=PreprocessConfig(crop_size=96, input_size=64),
        classifier=TrainConfig(epochs=10, batch_size=32, learning_rate=1e-3),
        segmenter=TrainConfig(epochs=10, batch_size=16, learning_rate=1e-3),
    ),
    "paper": StudyAProfile(
        name="paper",
        preprocess=PreprocessConfig(crop_size=512, input_size=512),
        classifier=TrainConfig(epochs=40, batch_size=32, learning_rate=1e-3, eval_batch_size=64),
        segmenter=TrainConfig(epochs=60, batch_size=16, learning_rate=1e-3, eval_batch_size=32),
    ),
}


def get_profile(name: str | StudyAProfile, **overrides: Any) -> StudyAProfile:
    """A profile by name, optionally with some settings replaced.

    Args:
        name: ``"quick"`` or ``"paper"`` (or a profile, returned with ``overrides``).
        **overrides: top-level fields, e.g. ``n_overlays=2``, or nested ones as
            ``preprocess={"input_size": 32}`` / ``classifier={"epochs": 1}``.

    Returns:
        The :class:`StudyAProfile`.

    Raises:
        ValueError: unknown profile or setting.
    """
    if isinstance(name, StudyAProfile):
        profile = name
    elif name in PROFILES:
        profile = PROFILES[name]
    else:
        raise ValueError(f"unknown Study A profile {name!r}; choose one of {sorted(PROFILES)}")
    fields = {f.name for f in dataclasses.fields(StudyAProfile)}
    changes: dict[str, Any] = {}
    for key, value in overrides.items():
        if key not in fields or key == "name":
            raise ValueError(
                f"unknown profile setting {key!r}; settings: {sorted(fields - {'name'})}"
            )
        current = getattr(profile, key)
        if dataclasses.is_dataclass(current) and isinstance(value, dict):
            try:
                value = dataclasses.replace(current, **value)
            except TypeError as exc:
                raise ValueError(f"profile setting {key}: {exc}") from exc
        changes[key] = value
    return dataclasses.replace(profile, **changes) if changes else profile


__all__ = ["PROFILES", "StudyAProfile", "get_profile"]
