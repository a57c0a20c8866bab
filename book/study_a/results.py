# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Study A: results over the five splits
#
# This chapter gathers the five training-validation splits of the D-SPECT ResNet18 study
# {cite}`study_a` ({cite}`he2016resnet`; outlines drawn with Labelme {cite}`wada_labelme`)
# and sets them beside the paper's published tables. Each split was run twice: with
# **patient-level** splits (no patient's images on both sides) and with **image-level**
# splits (single images drawn at random, as the paper most likely did; slices of one heart
# then appear in training and validation). Rows labelled *paper* are the published values
# (103 patients, 5008 images); rows labelled *this run* come from the dataset named below.
# On a synthetic cohort the numbers show that the pipeline works, not how a network does
# on patients. Each network keeps the weights of its best epoch as chosen on a selection
# group taken from the training part (`select_on = "inner"`), so the validation images
# reported here play no part in training; `select_on = "validation"` chooses the epoch on
# them, as the paper's train/validation design implies.
#
# Where the paper is ambiguous, self-contradictory or silent, the
# [decisions appendix](../decisions.md) lists what mpirad does by default and the
# option that gives the other reading.

# %%
from mpirad.findings import open_box

box = open_box("Results")  # filled at the end of the page from this run's numbers

# %% tags=["parameters"]
dataset = ""  # empty: the Study A dataset of the book (synthetic-a unless make book sets DATASET_A)
profile = ""  # empty: the profile of the book (quick unless make book sets PROFILE)
out_dir = "build/runs"
seed = 0
profile_overrides = {}  # e.g. {"classifier": {"epochs": 2}}: changes to the profile
select_on = "inner"  # best epoch chosen on: "inner" (part of training) or "validation" (paper)
stratify = False  # image-level splits stratified by label (False: as the paper's Table 2)
run_missing = True  # train the splits not yet run (False: only read build/)

# %%
from mpirad.jupyter.notebook import setup

setup()

from mpirad.manifest import get_dataset
from mpirad.pipeline.book import book_profile
from mpirad.tomo import plots, report
from mpirad.tomo.run import resolve_dataset, run_all_splits

dataset_root, dataset_name = resolve_dataset(dataset)
settings = book_profile(profile, profile_overrides)
labels = get_dataset(dataset_name).entry.labels  # the Labelme labels drawn as ischemia
spacing = get_dataset(dataset_name).pixel_spacing_mm  # source pixel side (mm), None if unknown
if run_missing:  # splits already run (e.g. by split_run.py) are read back, not retrained
    run_all_splits(dataset_root, profile=settings, out_dir=out_dir, dataset_name=dataset_name,
                   seed=seed, progress=False, labels=labels, select_on=select_on,
                   stratify=stratify, pixel_spacing_mm=spacing)  # fmt: skip
runs = report.collect_runs(out_dir, dataset_name, profile=settings.name, n_splits=settings.n_splits)
print(f"Dataset {dataset_name!r}, profile {settings.name!r}")

# %% [markdown]
# ## Table 1: cohort
#
# Patients, the segments with ischemia and their semi-quantitative scores (0 normal,
# 1 equivocal, 2 moderate, 3 severe, 4 absent), and the manual classification of the
# images, as "n (%)". The paper's segment list calls segments 4 and 10 "basal lateral" and
# "mid lateral" (AHA: basal and mid inferior) and its segment counts add up to 410 while
# its score table has 408 abnormal segments.

# %%
report.table1_cohort(dataset_root)

# %% [markdown]
# The ischemic segments of Table 1 as bullseyes (patients with the segment scored > 0;
# AHA layout: anterior at the top, septum to the left, apex in the centre):

# %%
fig = plots.plot_ischemic_segment_bullseyes(report.table1_segment_counts(dataset_root))

# %% [markdown]
# ## Table 2: classification results
#
# Validation confusion matrices (TP = network 1 and manual 1, FP = network 1 and manual 0,
# ...) and McNemar's exact test of the discordant cells. The paper's footnote marks splits
# 1-4 "P < 0.05" and split 5 "P > 0.05" without naming the test; McNemar's test on its own
# counts gives the reverse (column *McNemar P* of the paper rows).

# %%
report.table2_confusion(runs)

# %% [markdown]
# ## Table 3: evaluation indexes
#
# Sensitivity (SE), specificity (SP), likelihood ratios (+LR, -LR), predictive values (PPV,
# NPV), Youden's index {cite}`youden1950` (YI), agreement rate (AR) and Cohen's kappa {cite}`cohen1960kappa`, with 95% confidence
# intervals (Wilson for proportions, log method for likelihood ratios), and the AUC with
# DeLong's interval {cite}`delong1988auc`. *undefined* marks an index whose denominator is zero (e.g. NPV when
# no image is called negative). The paper prints no AUCs, only that all exceed 0.95.

# %%
report.table3_indexes(runs)

# %% [markdown]
# Two values of the paper's Table 3 contradict its own Table 2:

# %%
report.misprints_table()

# %% [markdown]
# ## Figure 1: ROC curves
#
# Every split's validation ROC curve with the AUC and its DeLong 95% interval.

# %%
figure_1 = plots.plot_roc_curves(runs["roc"], runs["classification_metrics"])
# %% [markdown]
# ## Table 4: segmentation
#
# Minimum/P25/median/P75/maximum of IoU, Dice {cite}`dice1945` and Hausdorff distance over the ischemic
# validation images of each split. This run's Hausdorff distances are in pixels of the
# network input (see the profile), the paper's in pixels of its 512 x 512 crops, so only
# the overlap indexes compare directly. An empty prediction has Dice = IoU = 0 and no
# Hausdorff distance; *empty predictions* counts them.

# %%
report.table4_segmentation(runs)

# %% [markdown]
# Leaving empty predictions out flatters the Hausdorff distance: a network that misses a
# defect entirely is not penalised. The table below repeats the Hausdorff distance and
# gives HD95 (the 95th percentile of the boundary distances, the larger of the two
# directions, as MONAI computes it), each once as in Table 4 (empty predictions left out)
# and once over **all** ischemic validation images with an empty prediction counted as
# the diagonal of the network grid (the largest distance the grid allows). When the
# dataset's pixel size is known (manifest key `pixel_spacing_mm`; the synthetic cohort's
# is its field of view over its image size), the distances are also given in mm: the
# crop of `crop_size` source pixels is resized to `input_size`, so one network pixel is
# `pixel_spacing_mm * crop_size / input_size` mm.

# %%
report.hausdorff_table(runs)

# %% [markdown]
# ## Figure 2: distribution of the segmentation indexes
#
# Histograms per split, patient-level splits first, then image-level splits.

# %%
figure_2_patient = plots.plot_segmentation_histograms(
    runs["segmentation_per_image"], unit="patient"
)
# %%
figure_2_image = plots.plot_segmentation_histograms(runs["segmentation_per_image"], unit="image")
# %% [markdown]
# ## Figure 3: original, manual and predicted outlines
#
# The best and the worst validation image (by Dice) of the first patient-level and the first
# image-level split.

# %%
first = runs["overlays"][runs["overlays"]["split"] == 1]
figure_3 = plots.plot_overlays(first.groupby("unit", sort=False).nth([0, -1]), max_rows=4)
# %% [markdown]
# ## Patient-level against image-level splits
#
# Mean (range) over the five splits. Image-level splits let the network see other slices of
# a validation patient's heart during training, which is expected to flatter the
# validation results; patient-level splits estimate how the method does on new patients.

# %%
report.unit_comparison(runs)

# %% [markdown]
# ## Compared with the paper
#
# This run's headline numbers (the box at the top of the page) against the paper's, and why
# they differ; the sentences are generated from the tables above and the paper's numbers
# as `mpirad` keeps them, never typed by hand.

# %%
from mpirad.findings import paper_box, results_box
from mpirad.tomo.findings import study_a_comparison, study_a_results

metrics, per_image = runs["classification_metrics"], runs["segmentation_per_image"]
box.update(results_box(study_a_results(metrics, per_image)))
synthetic = get_dataset(dataset_name).provenance == "synthetic"
paper_box(study_a_comparison(metrics, synthetic, settings))
