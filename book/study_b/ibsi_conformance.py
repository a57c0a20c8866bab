# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # IBSI conformance of the feature engines
#
# Study B computed its features with SERA {cite}`ashrafinia_sera`, software that complies
# with the image biomarker standardisation initiative (IBSI) {cite}`zwanenburg2020ibsi`. mpirad computes the same IBSI features with three
# engines behind one interface, `mpirad.radiomics.extract_features`:
#
# - **mirp** {cite}`zwanenburg2024mirp`, the IBSI reference implementation, for all eleven feature families;
# - **pyradiomics** {cite}`vangriethuysen2017pyradiomics` (the `pyradiomics-bhklab` fork), for the families it has, its feature
#   names mapped to IBSI identifiers where the definitions agree;
# - **numpy**, mpirad's vectorised implementation of the eight families the study keeps,
#   written for speed (the cohort chapter explains why) and checked against mirp.
#
# This page runs each engine on the IBSI digital phantom and compares every 3D feature
# with the IBSI reference value, then checks the image processing on the IBSI CT phantom.
# The phantoms and their reference values are the IBSI's, under their own licences, and
# are not part of mpirad: the page computes them when `MPIRAD_IBSI_DIGITAL_PHANTOM` and
# `MPIRAD_IBSI_CT_PHANTOM` (or the parameters below) name folders that hold them, and
# otherwise says where to get them. The test suite does the same.
#
# Where the paper is ambiguous, self-contradictory or silent, the
# [decisions appendix](../decisions.md) lists what mpirad does by default and the
# option that gives the other reading.

# %%
from mpirad.findings import open_box

box = open_box("Results")  # filled at the end of the page from this run's numbers

# %% tags=["parameters"]
engines = "mirp,pyradiomics,numpy"
digital_phantom = ""  # folder of the digital phantom (default: MPIRAD_IBSI_DIGITAL_PHANTOM)
ct_phantom = ""  # folder of the IBSI CT phantom (default: MPIRAD_IBSI_CT_PHANTOM)
ct_configurations = "C,D,E"
ct_engines = "numpy,mirp"

# %%
import pandas as pd
from IPython.display import display

from mpirad.jupyter.notebook import setup
from mpirad.radiomics import conformance, plots
from mpirad.radiomics.engines.pyradiomics_engine import KNOWN_DEVIATIONS

root = setup()
engine_list = tuple(e.strip() for e in engines.split(",") if e.strip())
digital_folder = conformance.digital_phantom_folder(digital_phantom or None)
ct_folder = conformance.ct_phantom_folder(ct_phantom or None)

# %% [markdown]
# ## The digital phantom
#
# A 5 x 4 x 4 voxel image (2 mm voxels) whose ROI holds 74 voxels with grey levels 1, 3, 4
# and 6 (2 and 5 are absent). The IBSI computes it without discretisation, which is a
# fixed bin size of 1, and its intensity-volume histogram on the integer intensities. The
# reference values are the IBSI's {cite}`zwanenburg2020ibsi`, as the
# reference implementation's tests keep them, with their tolerances.

# %%
if digital_folder is None:
    print("The IBSI digital phantom is not available here; to show this section, "
          + conformance.DIGITAL_PHANTOM_HOWTO + ".")  # fmt: skip
else:
    image, mask, spacing = conformance.load_phantom(digital_folder)
    fig = plots.plot_phantom(image, mask)

# %% [markdown]
# ## Reference values matched, per family
#
# A value matches when, rounded to three significant digits (the precision of the
# published values), it lies within the IBSI tolerance of the reference value (zero for
# the phantom's intensity and texture features). Only 3D aggregations are compared, those
# Study B uses. "computed" counts the reference values an engine produces at all.

# %%
if digital_folder is not None:
    table = conformance.conformance_table(engine_list, digital_folder)
    display(conformance.conformance_summary(table).set_index("family"))

# %% [markdown]
# ## Values that do not match

# %%
if digital_folder is not None:
    misses = pd.concat([conformance.mismatches(table, e) for e in engine_list], ignore_index=True)
    display(misses if len(misses) else "every computed value matches")

# %% [markdown]
# ## Known deviations of pyradiomics
#
# pyradiomics features not mapped to an IBSI identifier (their definitions differ) or
# mapped but known to deviate numerically. pyradiomics has no intensity-volume histogram,
# GLDZM or local intensity features and only the 3D averaged GLCM/GLRLM; its fixed bin
# size aligns bins to multiples of the width (identical to IBSI here because the
# phantom's minimum, 1, is a multiple of the width, 1).

# %%
pd.DataFrame(
    {"pyradiomics feature": list(KNOWN_DEVIATIONS), "deviation": list(KNOWN_DEVIATIONS.values())}
)

# %% [markdown]
# ## The numpy engine and mirp
#
# The numpy engine computes no morphology or local intensity features (Study B removes
# both before computing anything). Besides this phantom, the test suite compares all 166
# of its features with mirp on random ROIs, with fixed bin numbers and fixed bin sizes, to
# a relative difference below 2e-5 (mirp works in 32-bit floats).

# %%
if digital_folder is not None and {"numpy", "mirp"} <= set(engine_list):
    display(conformance.engine_agreement(table, "numpy", "mirp"))

# %% [markdown]
# ## The IBSI 1 CT radiomics phantom: resampling, re-segmentation, discretisation
#
# The digital phantom checks the feature definitions; the IBSI CT phantom (a lung
# tumour, 60 x 201 x 204 voxels of 3 x 0.977 x 0.977 mm) checks the image processing
# before them, done once by `mpirad.radiomics.preprocess` for every engine. Configurations
# C, D and E resample to 2 mm isotropic voxels on the IBSI grid (grid centres aligned),
# interpolate the mask linearly with a 0.5 threshold, round to integer HU, and then differ:
#
# | | image interpolation | re-segmentation | discretisation |
# |---|---|---|---|
# | C | linear | range -1000 ... 400 HU | fixed bin size 25 HU (IVH 2.5 HU) |
# | D | linear | outliers beyond 3 SD | fixed bin number 32 (IVH on integer HU) |
# | E | cubic spline | range and 3 SD | fixed bin number 32 (IVH 1000 bins) |
#
# The phantom and its consensus reference values are not part of mpirad; the page uses
# them when `MPIRAD_IBSI_CT_PHANTOM` (or `ct_phantom`) names a folder that holds them. The
# numpy engine computes no morphology or local intensity features.

# %%
if ct_folder is None:
    print("The IBSI CT phantom is not available here; to show this table, "
          + conformance.CT_PHANTOM_HOWTO + ".")  # fmt: skip
else:
    ct_table = conformance.ct_conformance_table(
        ct_folder,
        tuple(c.strip() for c in ct_configurations.split(",") if c.strip()),
        tuple(e.strip() for e in ct_engines.split(",") if e.strip()),
    )
    display(conformance.ct_conformance_summary(ct_table).set_index(["configuration", "family"]))

# %%
if ct_folder is not None:
    ct_misses = pd.concat(
        [conformance.mismatches(ct_table, e.strip()) for e in ct_engines.split(",")],
        ignore_index=True,
    )
    display(ct_misses if len(ct_misses) else "every computed value matches")

# %% [markdown]
# ## Compared with the paper

# %%
from mpirad.findings import paper_box, results_box
from mpirad.radiomics.findings import conformance_comparison, conformance_results

digital_summary = conformance.conformance_summary(table) if digital_folder is not None else None
ct_summary = conformance.ct_conformance_summary(ct_table) if ct_folder is not None else None
box.update(results_box(conformance_results(digital_summary, ct_summary)))
paper_box(conformance_comparison())
