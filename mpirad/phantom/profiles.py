"""Default sizes of the synthetic cohorts per run profile."""

from __future__ import annotations

from dataclasses import dataclass

#: Cohorts of fewer patients are simulated in one process (workers: :mod:`mpirad.parallel`).
PARALLEL_FROM = 16


@dataclass(frozen=True)
class CohortProfile:
    """Sizes of the synthetic cohorts for one run profile.

    Attributes:
        a_patients: Study A patients.
        a_image_size: Study A PNG side (pixels).
        a_slices: Study A slices per series: (short axis, horizontal long axis, vertical
            long axis); each patient has a stress and a rest series.
        b_patients: Study B patients.
        b_volume_size: Study B volume side (voxels of 4.8 mm).
    """

    a_patients: int
    a_image_size: int
    a_slices: tuple[int, int, int]
    b_patients: int
    b_volume_size: int


#: ``quick``: a few hundred small images (the book on 2 CPU cores in minutes) and the
#: paper's 428 Study B patients. ``paper``: the papers' sizes (103 patients, ~5000 images
#: of 512 x 512 pixels for Study A).
PROFILES: dict[str, CohortProfile] = {
    "quick": CohortProfile(
        a_patients=30, a_image_size=128, a_slices=(4, 2, 2), b_patients=428, b_volume_size=44
    ),
    "paper": CohortProfile(
        a_patients=103, a_image_size=512, a_slices=(12, 6, 6), b_patients=428, b_volume_size=44
    ),
}


def get_profile(profile: str) -> CohortProfile:
    """The cohort sizes of a profile.

    Raises:
        ValueError: an unknown profile name.
    """
    try:
        return PROFILES[profile]
    except KeyError:
        raise ValueError(f"unknown profile {profile!r}; choose one of {sorted(PROFILES)}") from None
