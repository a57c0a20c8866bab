# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # The synthetic cohort
#
# Neither paper's patient data can leave its hospital, so mpirad ships a deterministic
# generator of synthetic myocardial perfusion images for both studies, with the ground
# truth written beside them. Every chapter runs on these cohorts by default; a site swaps
# in its own data through `data_manifest.yaml`.
#
# Both cohorts share one analytic left ventricle (LV): a truncated ellipsoidal shell with
# a per-patient cavity size (about 46 mm in women and 50 mm in men), a wall of 9-10 mm that
# thins by about 20% towards the apex, and a pose in the image. Study B's LVs are shaped
# like real ones (calibrated on seven expert masks of real scans, see below): a length
# 0.9-1.55 times the external diameter and a basal cut tilted 10-45 degrees; Study A's keep
# a length 1.2-1.6 times the diameter and a flat base. Every myocardial voxel carries an AHA
# 17-segment label {cite}`cerqueira2002aha` (basal
# and mid rings of six 60-degree segments, an apical ring of four 90-degree segments and
# the apex cap) and, through the segments, a coronary territory (LAD 1, 2, 7, 8, 13, 14, 17;
# RCA 3, 4, 9, 10, 15; LCX 5, 6, 11, 12, 16).
#
# The same seed and options always give byte-identical files
# (`mpirad synth --study all --out build/data --seed 0`).
#
# Where a paper is ambiguous, self-contradictory or silent, the
# [decisions appendix](decisions.md) lists what mpirad does by default and the
# option that gives the other reading.

# %%
from mpirad.findings import open_box

box = open_box("Results")  # filled at the end of the page from this run's numbers

# %% tags=["parameters"]
dataset_a = "synthetic-a"
dataset_b = "synthetic-b"
seed = 0  # which examples to show
texture_patients = 60  # patients whose texture is compared with the real scan

# %%
import json
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from mpirad.jupyter.notebook import setup
from mpirad.manifest import get_dataset
from mpirad.phantom import plots, realism, summaries
from mpirad.stats import plots as stats_plots
from mpirad.stats.report import berman_table

setup()
root_a = get_dataset(dataset_a).ensure().root
root_b = get_dataset(dataset_b).ensure().root

# %% [markdown]
# ## Study A: D-SPECT LV tomograms
#
# Each patient has a stress and a rest perfusion volume simulated on a 2.5 mm grid in a
# reoriented frame (with a small residual tilt): 0-3 stress defects placed by coronary
# territory, with the segment frequencies of the paper's Table 1, some equivocal (10-18%
# reduction, never outlined) and some partly fixed (still visible at rest); residual
# attenuation (inferior in men, anterior in women); liver and bowel hot spots below the
# heart; the D-SPECT imaging chain of the next-but-one section (partial-volume wall, 7.5-10
# mm FWHM, Poisson noise at about a million myocardial counts, Butterworth post-filter).
# Short-axis, horizontal and vertical long-axis slices are exported as colour PNGs, with
# the LV not always in the centre of the frame. A reader's Labelme polygon outlines every
# area whose uptake is reduced by at least 20% over 40 mm² or more, traced from the true
# defect with a slight hand jitter; `labels.csv` marks those images 1.
#
# The patients table reproduces the variables of the paper's Table 1.

# %%
summaries.study_a_table1(root_a).set_index(["section", "item"])

# %% [markdown]
# Example images: ischemic ones with the reader's outline (cyan), and images without
# ischemia, among them attenuation fall-off, hot spots and equivocal defects that a model
# must not call ischemic. The white cross is the true LV centre, kept in `truth/`.

# %%
fig = plots.plot_tomogram_examples(root_a, n_images=8, seed=seed)
plt.show()

# %% [markdown]
# The semi-quantitative stress scores of the patient with the largest summed stress score
# (SSS), on the 17-segment polar map (score 0 normal, 1 equivocal, 2 moderate, 3 severe,
# 4 absent uptake):

# %%
fig = plots.plot_case_bullseye(root_a)
plt.show()

# %% [markdown]
# ## Study B: normal stress SPECT volumes, ROIs, clinical features and CAC
#
# Each patient has a normal (defect-free) stress volume of 4.8 mm isotropic voxels, with
# the LV in an anatomical pose and the seven ROIs of the paper: the myocardium, three
# vascular territories drawn with gaps between them as in the MIM workflow (`*MIM`) and
# the three groupings of the 17 segments (`*17`).

# %%
first_patient = pd.read_csv(root_b / "clinical.csv")["patient_id"].iloc[0]
fig = plots.plot_volume_rois(root_b, first_patient)
plt.show()

# %% [markdown]
# ROI sizes across the cohort. The ROIs are drawn as on the image: the true wall grown to
# the half maximum of its blurred profile, so they are larger than the true wall (a real
# myocardium ROI has 1,723 voxels; the paper's LAD territory averages about 460):

# %%
summaries.roi_size_table(root_b).set_index("ROI")

# %% [markdown]
# ### Clinical features
#
# The ten clinical features of the paper, drawn at prevalences reported for patients with
# a normal stress MPI (the paper's own Table 1 is not available in its text):

# %%
clinical = pd.read_csv(root_b / "clinical.csv")
summaries.clinical_table(clinical).set_index("feature")

# %%
fig = plots.plot_clinical_distributions(clinical)
plt.show()

# %% [markdown]
# ### Coronary artery calcium
#
# Per-artery Agatston scores (LAD, LCX, RCA, left main) come from a two-part model: a
# logistic model for any calcium and a log-linear model for its amount, with published
# effects of age, sex, race, hypertension, hyperlipidemia, smoking, diabetes, family
# history and BMI. Its intercepts are calibrated so that the cohort's total scores fall
# into the paper's Figure 4 bins in the paper's proportions.

# %%
cac = pd.read_csv(root_b / "cac.csv")
summaries.cac_table(cac).set_index("bin")

# %%
fig = stats_plots.plot_cac_distribution(cac["cac_total"])
plt.show()

# %% [markdown]
# The same scores in Berman's five categories:

# %%
berman = berman_table(cac["cac_total"])
pd.DataFrame({"patients": berman, "%": (100 * berman / berman.sum()).round(1)})

# %% [markdown]
# ### Polar maps
#
# Nuclear cardiologists read perfusion as polar maps: the maximal counts of each
# short-axis ring of the myocardium, apex in the centre and base outside, anterior at the
# top and the septum to the left, with the AHA 17 segments outlined
# (`mpirad.heart.plot_patient_polar_map`). A patient without coronary calcium and the
# patient with the highest total CAC (the volumes carry no planted defect, so both look
# normal):

# %%
from mpirad.heart.views import plot_patient_polar_map

ds_b = get_dataset(dataset_b)
low_cac = cac.loc[cac["cac_total"] == cac["cac_total"].min(), "patient_id"].iloc[0]
high_cac = cac.loc[cac["cac_total"].idxmax(), "patient_id"]
fig, axes = plt.subplots(1, 2, figsize=(10, 4.4))
plot_patient_polar_map(ds_b, low_cac, ax=axes[0], title=f"CAC {cac['cac_total'].min():.0f}")
plot_patient_polar_map(ds_b, high_cac, ax=axes[1], title=f"CAC {cac['cac_total'].max():.0f}")
plt.show()

# %% [markdown]
# ### AHA segments from the myocardium alone
#
# A site with only a myocardium mask derives the 17 segments and the seven ROIs from it
# (`mpirad rois`, or `rois: derive` in the manifest; `mpirad.heart.derive_rois`). On the
# first synthetic patients, the derived 17-segment territories against the cohort's true
# ones (Dice; median and worst over patients), in the cohort's own pose and after tilting
# every volume's long axis by 30 degrees (`benchmarks/heart_segments.py` runs 30 patients
# and every segment):

# %%
from mpirad.heart.validation import territory_dice

dice_table = territory_dice(root_b, n_patients=8, tilt_deg=30.0)
print(f"{dice_table.attrs['n_patients']} patients")
dice_table.round(3)

# %% [markdown]
# ## How realistic is the synthetic cohort?
#
# Radiomic features describe texture, so the cohort is only a fair test of the method if
# its images have the texture of real reconstructions. The volumes come from an
# image-domain model of a reconstructed SPECT study (no projector: one per patient would not
# fit the two-minute generation budget): the LV wall with its partial-volume effect, a
# Gaussian blur to the reconstructed resolution, Poisson counts at a noise-equivalent level
# (the clinical count level divided by the reconstruction's noise amplification) and a
# Butterworth post-filter. Its parameters and where they come from
# (`mpirad.phantom.realism`; "ESTIMATE" marks numbers chosen so the texture matches):

# %%
realism.protocol_table().set_index("parameter").style.set_properties(**{"text-align": "left"})

# %% [markdown]
# The myocardium's texture features (64 bins, numpy engine) of the first patients beside
# those of one real 99mTc-sestamibi stress SPECT (128³ matrix, myocardium of 1,723 voxels,
# measured by the mpirad developers on one anonymised scan; not a published value): the cohort's median and
# 1st-99th percentiles, and the median of the first generator (`before`), whose images were
# far less spatially correlated than a real scan. The GLDZM large-distance emphasis stays
# below the real value: it grows with the thickness of the ROI in voxels, and the real ROI
# is thicker for its size than a drawn shell (the shape table below measures it).

# %%
texture = realism.cohort_texture(root_b, patients=texture_patients)
realism.texture_table(texture).set_index("feature")

# %% [markdown]
# The LV's shape, measured the same way on the cohort's drawn myocardium and on the seven
# expert LV-wall masks of the public PhysioNet MPS database at hand
# (`mpirad.heart.shape.lv_shape`, in the heart frame `mpirad rois` segments in; the real values are stored in `mpirad.phantom.realism.REAL_SHAPES` and
# re-measured by the tests when the files are present): the cohort's 1st, 50th and 99th
# percentiles, the real masks' range and how many of them the cohort's range holds. The
# generator's length / width ratio (it was 1.2-1.6) and the basal tilt (it was a flat
# base plane) were calibrated on them (generator 3). Two differences remain: the real
# masks are drawn about 6 mm thicker (a contour nearer a quarter than the half of the wall's
# maximum), which also narrows their cavity and basal opening, and their base is narrower
# than their middle. The [Real scans](real_scans) page shows the masks themselves.

# %%
shapes = realism.cohort_shapes(root_b, patients=texture_patients)
realism.shape_table(shapes).set_index("measure")

# %% [markdown]
# ## The planted truth
#
# What a Study B analysis should find is written with the cohort (`truth.json`,
# `truth/README.md`): the clinical features explain a good part of log(1 + CAC); an
# uptake heterogeneity in each coronary territory rises weakly with log(1 + CAC)
# of that territory's artery; BMI and sex change the image too (residual attenuation and
# noisier images in heavier patients), so they confound image features; nothing else in the
# images depends on CAC.

# %%
truth = json.loads(Path(root_b, "truth.json").read_text())
planted = truth["planted_signal"]
pd.DataFrame(
    {
        "value": [
            f"{truth['measured']['r2_clinical_on_log1p_cac_total']:.2f}",
            planted["mechanism"],
            planted["amplitude"],
            f"{planted['base']} + {planted['slope']} x log(1 + CAC)",
        ]
    },
    index=["clinical R² on log(1 + total CAC)", "mechanism", "amplitude", "values"],
).style.set_properties(**{"text-align": "left"})

# %% [markdown]
# A first look at that signal: the spread of uptake within each ROI (coefficient of
# variation) rank-correlated with log(1 + CAC) of the ROI's artery, and with BMI, the
# confounder. The radiomics chapters test these relations properly, with IBSI features and
# the paper's protocol.

# %%
signal = summaries.planted_signal_table(root_b).set_index("ROI")
signal.style.format({"rho CV~CAC": "{:.2f}", "p CV~CAC": "{:.1e}", "rho CV~BMI": "{:.2f}"})

# %% [markdown]
# ## Compared with the paper

# %%
from mpirad.findings import paper_box, results_box
from mpirad.stats.findings import cohort_comparison, cohort_results

box.update(results_box(cohort_results(cac["cac_total"], truth, signal)))
paper_box(cohort_comparison(cac["cac_total"]))
