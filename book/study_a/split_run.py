# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Study A, one training-validation split
#
# The D-SPECT study trained a ResNet18 twice on five random 8:2 splits of its 5008 LV
# tomograms: once to **classify** each image (ischemia yes/no) and once to **segment** the
# ischemic area on the ischemic images. This page runs one split: it reads the dataset,
# centres each slice on the left ventricle, draws (or reloads) the split, trains both
# networks from scratch and evaluates them on the split's validation images. The summary
# over all splits, next to the paper's tables, is in the chapter *Study A: results*.
#
# The parameters below are what papermill replaces per run, e.g.
# `mpirad run book/study_a/split_run.py --dataset synthetic-a --all-splits -p unit=image`.
# A split already run with the same data and settings is read back, not retrained.
#
# Where the paper is ambiguous, self-contradictory or silent, the
# [decisions appendix](/book/decisions.md) lists what mpirad does by default and the
# option that gives the other reading.

# %% tags=["parameters"]
dataset = ""  # empty: the Study A dataset of the book (synthetic-a unless make book sets DATASET_A)
split = 1
unit = "patient"
profile = ""  # empty: the profile of the book (quick unless make book sets PROFILE)
out_dir = "build/runs"  # results go to <out_dir>/<dataset>/<profile>/study_a/<unit>/split_<k>
seed = 0
profile_overrides = {}  # e.g. {"classifier": {"epochs": 2}}: changes to the profile
select_on = "inner"  # best epoch chosen on: "inner" (part of training) or "validation" (paper)
selection_fraction = 0.2  # share of the training part in the inner selection group
stratify = False  # image-level splits stratified by label (False: as the paper's Table 2)
force = False  # True: retrain even if this split was run with the same data and settings

# %%
from mpirad.jupyter.notebook import setup

setup()

from mpirad.manifest import get_dataset
from mpirad.pipeline.book import book_profile
from mpirad.tomo import plots, report
from mpirad.tomo.run import resolve_dataset, run_split

dataset_root, dataset_name = resolve_dataset(dataset)
settings = book_profile(profile, profile_overrides)
entry = get_dataset(dataset_name)
outputs = run_split(
    dataset_root, split, unit=unit, profile=settings, out_dir=out_dir,
    dataset_name=dataset_name, seed=seed, progress=False, force=force,
    labels=entry.entry.labels,  # the Labelme labels drawn as ischemia
    select_on=select_on, selection_fraction=selection_fraction, stratify=stratify,
    pixel_spacing_mm=entry.pixel_spacing_mm,  # source pixel side (mm), None if unknown
    exclude=entry.entry.exclude,  # patients the manifest leaves out, with their reasons
)  # fmt: skip

# %% [markdown]
# ## The split
#
# With `unit = "patient"` whole patients go to training or validation, so no heart is seen
# on both sides; with `unit = "image"` single images are drawn, as the paper most likely
# did (without stratifying by label unless `stratify = True`: the paper's Table 2 has
# 1001 validation images in every split and a varying number of positives).
#
# Each network keeps the weights of its best epoch: the classifier's highest AUC, the
# segmenter's lowest loss (cross-entropy + soft Dice). With `select_on = "inner"` (the
# default) that epoch is chosen on a selection group drawn from the training part (20% of
# its patients, or of its images for image-level splits) and the networks are fitted on
# the rest, so the validation images reported below play no part in training. With
# `select_on = "validation"` it is chosen on the reported validation images themselves, as
# the paper's train/validation design implies, which flatters them slightly. The history
# plot's "validation" curves are measured on the images the epoch is chosen on.

# %%
report.split_summary(outputs.record)

# %%
history_figure = plots.plot_training_history(outputs["history"])
# %% [markdown]
# ## Classification
#
# The 2x2 table of the validation images in the layout of the paper's Table 2 (an image is
# called ischemic when the network's probability is at least 0.5), then the indexes of
# Table 3 with 95% confidence intervals (proportions as fractions) and the ROC curve with
# DeLong's confidence interval of the AUC.

# %%
report.confusion_matrix_frame(outputs["confusion"])

# %%
outputs["classification_metrics"][["metric", "estimate", "ci_low", "ci_high", "method"]].set_index(
    "metric"
).round(3)

# %%
roc_figure = plots.plot_roc_curves(
    outputs["roc"], outputs["classification_metrics"], paper_auc_floor=None
)
# %% [markdown]
# ## Segmentation
#
# Dice, IoU and Hausdorff distance (boundary pixels, in pixels of the network input) of
# every ischemic validation image, summarised as in the paper's Table 4
# (minimum/P25/median/P75/maximum), their histograms (Figure 2) and a few validation images
# with the manual and the predicted outline (Figure 3), spread from the best to the worst
# Dice. An empty prediction has no Hausdorff distance: the plain *Hausdorff* and *HD95*
# rows leave it out (*n_nan* counts it), the *empty = diagonal* rows count it as the
# diagonal of the network grid. The *mm* rows need the source pixel size (the manifest's
# `pixel_spacing_mm`); a network pixel is `pixel_spacing_mm * crop_size / input_size` mm.

# %%
outputs["segmentation_summary"].drop(columns=["split", "unit"]).set_index("metric").round(2)

# %%
histogram_figure = plots.plot_segmentation_histograms(outputs["segmentation_per_image"], unit=unit)
# %%
overlays = outputs["overlays"].assign(
    path=lambda t: [str(outputs.directory / f) for f in t["file"]]
)
overlay_figure = plots.plot_overlays(overlays, max_rows=3)
