# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Real scans
#
# Every number in the synthetic chapters was checked on hearts mpirad drew itself. This
# page puts real ones through the same code: the public PhysioNet *Myocardial Perfusion
# Scintigraphy Image Database* v1.0.0 {cite}`physionet_mps` (CC-BY-4.0; GE Discovery NM 530c CZT camera, rest
# 99mTc-MIBI; volumes of 70 x 70 x 50 voxels of 4 mm, each with an expert mask of the LV
# wall). The files are not part of mpirad: the page reads them when
# `MPIRAD_PHYSIONET_MPS` (or the parameter below) names a folder that holds them, and
# otherwise says where to get them. Scans are shown as `real 1`, `real 2`...: their file
# names, DICOM UIDs, never appear.
#
# For each scan with a mask, the steps of `mpirad rois` on an anatomically posed volume
# (`mpirad.heart.real_scans`, `mpirad.heart.segments`): the mask's largest piece (stray
# specks are counted and left out); a long axis that needs no elongated LV (the line the
# wall's surface normals cross, as a surface of revolution's do); the anterior and septal
# sense from the volume's patient orientation (its direction cosines); the roll from the
# right ventricle's counts; and the AHA 17 segments {cite}`cerqueira2002aha` (base to apex in thirds, segment 17
# the apex cap beyond the cavity).
# Masks whose image was not found are measured for their shape only.

# %% tags=["parameters"]
physionet_mps = ""  # folder of the PhysioNet MPS files (default: MPIRAD_PHYSIONET_MPS)
dataset_b = "synthetic-b"  # the synthetic cohort the real scans are compared with
synthetic_patients = 60  # its patients whose texture and shape give the 1-99 % ranges

# %%
import matplotlib.pyplot as plt
from IPython.display import display

from mpirad.findings import results_box
from mpirad.heart import real_scans
from mpirad.jupyter.notebook import setup
from mpirad.manifest import get_dataset
from mpirad.phantom import realism

setup()
folder = real_scans.locate(physionet_mps or None)
analyses = [] if folder is None else [real_scans.analyse(s) for s in real_scans.list_scans(folder)]
summary = real_scans.summary_table(analyses)
results_box(real_scans.real_scans_findings(summary))

# %% [markdown]
# ## The scans and their AHA rings
#
# What each scan holds, the voxels of the mask outside its largest piece, and the share of
# the labelled wall in the basal, mid and apical rings and the apex cap (segment 17). The
# AHA model gives each ring about a third of the LV's length; an apex cap much above a
# tenth of the wall says the cavity closes early, as it does in a thick drawn mask.

# %%
if analyses:
    display(summary)

# %% [markdown]
# ## Reslices with the 17-segment outlines, and the bullseye of mean counts
#
# For each scan: the mid short-axis slice (anterior at the top, septum on the left), the
# vertical long axis (apex at the top, anterior on the left) and the horizontal long axis
# (apex at the top, septum on the left) through the heart frame, the segment boundaries
# drawn over the counts; then the mean counts of each segment as a bullseye (% of the
# hottest segment).

# %%
for item in analyses:
    figure = real_scans.plot_scan(item)
    plt.show()

# %% [markdown]
# ## Texture of the myocardium beside the synthetic cohort
#
# The realism table of the synthetic cohort chapter, with every real scan that has an
# image: the myocardium's texture features (64 bins, numpy engine) of each real scan and
# the synthetic cohort's 1st, 50th and 99th percentiles. The real masks are drawn thicker
# than the synthetic ROI (the next table), which raises their voxel counts and size-zone
# features.

# %%
if analyses:
    root_b = get_dataset(dataset_b).ensure().root
    texture = realism.cohort_texture(root_b, patients=synthetic_patients)
    real_texture = real_scans.texture_rows(analyses)
    display(realism.texture_range_table(texture, real_texture).set_index("feature"))

# %% [markdown]
# ## Shape of the LV beside the synthetic cohort
#
# The same measures of every real mask and of the synthetic cohort's drawn myocardium
# (`mpirad.heart.shape.lv_shape`; lengths in mm): the cohort's LV shapes were calibrated on
# these masks (generator 3: length / width and the basal tilt). The real masks remain
# thicker-walled, with a base narrower than their middle; see the synthetic cohort chapter.

# %%
if analyses:
    shapes = realism.cohort_shapes(root_b, patients=synthetic_patients)
    display(realism.shape_table(shapes, real_scans.shape_rows(analyses)).set_index("measure"))
