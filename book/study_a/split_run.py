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

# %% tags=["parameters"]
dataset = ""  # "": the book's Study A dataset (synthetic-a unless `make book DATASET_A=...`)
split = 1
unit = "patient"
profile = ""  # "": the book's profile (quick unless `make book PROFILE=paper`)
out_dir = "build/runs"  # results go to <out_dir>/<dataset>/<profile>/study_a/<unit>/split_<k>
seed = 0
profile_overrides = {}  # e.g. {"classifier": {"epochs": 2}}: changes to the profile
force = False  # True: retrain even if this split was run with the same data and settings

# %%
from mpirad.notebook import setup

setup()

from mpirad.manifest import get_dataset
from mpirad.pipeline.book import book_profile
from mpirad.tomo import plots, report
from mpirad.tomo.run import resolve_dataset, run_split

dataset_root, dataset_name = resolve_dataset(dataset)
settings = book_profile(profile, profile_overrides)
outputs = run_split(
    dataset_root, split, unit=unit, profile=settings, out_dir=out_dir,
    dataset_name=dataset_name, seed=seed, progress=False, force=force,
    labels=get_dataset(dataset_name).entry.labels,  # the Labelme labels drawn as ischemia
)  # fmt: skip

# %% [markdown]
# ## The split
#
# With `unit = "patient"` whole patients go to training or validation, so no heart is seen
# on both sides; with `unit = "image"` single images are drawn, as the paper most likely
# did. The networks keep the weights of the epoch with the lowest validation loss.

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
# Dice.

# %%
outputs["segmentation_summary"].drop(columns=["split", "unit"]).set_index("metric").round(2)

# %%
histogram_figure = plots.plot_segmentation_histograms(outputs["segmentation_per_image"], unit=unit)
# %%
overlays = outputs["overlays"].assign(
    path=lambda t: [str(outputs.directory / f) for f in t["file"]]
)
overlay_figure = plots.plot_overlays(overlays, max_rows=3)
