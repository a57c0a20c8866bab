# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Study B: radiomic features and their blind-to-outcome selection
#
# Study B {cite}`ashrafinia2021` extracted 487 IBSI {cite}`zwanenburg2020ibsi` radiomic
# features (with SERA {cite}`ashrafinia_sera`) from seven
# regions of interest (ROIs) of 428 normal stress perfusion SPECT scans, each at eight
# fixed bin numbers (4 to 512), and reduced them to 56 features at 64 bins *without looking
# at the outcome* (coronary calcium). This chapter repeats the extraction and the
# selection funnel of sections 2.4.1 and 3.2 on this book's Study B dataset and compares
# every step with the paper: the counts, the averaged-vs-merged comparison of Figure 5, the
# final list of Table 2 and the choice of bin number.
#
# Where the paper is ambiguous, self-contradictory or silent, the
# [decisions appendix](../decisions.md) lists what mpirad does by default and the
# option that gives the other reading.

# %%
from mpirad.findings import open_box

box = open_box("Results")  # filled at the end of the page from this run's numbers

# %% tags=["parameters"]
dataset = ""  # empty: the Study B dataset of the book (synthetic-b unless make book sets DATASET_B)
features_path = ""  # "": the dataset's own table, build/features/<dataset>/features.parquet
out_dir = ""  # "": the dataset's own selection folder, build/features/<dataset>/selection
engine = "numpy"
n_jobs = 2

# %%
import time

import pandas as pd
from IPython.display import display

from mpirad.jupyter.notebook import setup
from mpirad.pipeline.book import book_dataset
from mpirad.pipeline.steps import cohort_features, cohort_selection
from mpirad.radiomics import complete_cases, paper_b, plots
from mpirad.radiomics.cohort import summarise_features
from mpirad.radiomics.funnel import variety_correlation
from mpirad.radiomics.strata import feature_matrices

root = setup()

# %% [markdown]
# ## Features of every patient, ROI and bin number
#
# `mpirad extract --dataset NAME` writes one tidy table (`patient_id, roi, n_bins,
# family, name, ibsi_code, aggregation, value`); this cell reuses it when it was made from
# the dataset's current files with the same settings, and extracts it otherwise. Only the
# 166 features of the families the paper keeps are computed, and no resampling,
# re-segmentation or rounding is done, as in the paper. The `numpy` engine matches mirp,
# the IBSI reference implementation (see the IBSI conformance chapter), at a fraction of
# its cost.

# %%
ds = book_dataset(dataset, "b")
start = time.perf_counter()
features, features_record = cohort_features(ds, path=features_path, engine=engine, n_jobs=n_jobs)
summary = summarise_features(features)
summary["seconds (read or extract)"] = round(time.perf_counter() - start, 1)
summary.to_frame(ds.name)

# %% [markdown]
# ## The funnel, step by step
#
# Before computing anything the paper drops the 2D and 2.5D families (272 features) and the
# intensity-based statistics, local intensity and morphology families (49): SPECT counts
# are in arbitrary units and the ROIs have near-identical shapes. After computing, it drops
# features identical across patients, one of the two 3D varieties of GLCM and GLRLM,
# one feature of each perfectly correlated pair, features with a low dynamic range
# (variance / mean < 1e-5), and finally highly correlated features (|Spearman rho| >=
# 0.95) with a recursive keep/remove algorithm. Correlations and ranges are computed
# across patients within each ROI and bin number and summarised by their median.

# %%
result, _ = cohort_selection(ds, features, features_record, out_dir=out_dir)
print(f"{result.patients} patients; {result.left_out_note}")
paper_b.compare_counts(result.counts)

# %%
fig = plots.plot_funnel_counts(result.counts, paper_b.PAPER_FUNNEL_COUNTS)

# %% [markdown]
# Which features went where the paper names them: the paper's four identical features,
# its three perfectly correlated pairs (it removed the GLDZM member of each) and its five
# low-range features, next to this run's.

# %%
pd.DataFrame(
    [
        {
            "step": step,
            "paper": ", ".join(paper_b.PAPER_REMOVED[step]),
            "this run": ", ".join(result.removed[step]),
        }
        for step in ("identical", "rho_one", "low_range")
    ]
)

# %% [markdown]
# ## 3D averaged or 3D merged? (Figure 5)
#
# GLCM and GLRLM are computed from 13 directional matrices, either averaging the features
# of the 13 matrices (3D averaged) or computing them from the merged matrix (3D merged).
# The heatmaps show the Spearman correlation between the two varieties of every feature;
# a bright diagonal means each feature carries the same information in both. The table
# gives the family-level comparison and the variety kept (the one with the larger range).

# %%
data = feature_matrices(complete_cases(features).features)
kept = result.steps["identical"].kept
fig = plots.plot_variety_heatmaps(
    {"GLCM": variety_correlation(data, "cm", kept), "GLRLM": variety_correlation(data, "rlm", kept)}
)

# %%
result.steps["variety"].details.round(3)

# %% [markdown]
# ## The selected features (Table 2)
#
# This run's final list next to the paper's 56 features (SERA names mapped to IBSI
# features; the paper's `GLCM_C`/`GLRLM_C` are read as the 3D averaged variety its text
# says it kept).

# %%
comparison = paper_b.compare_selection(result.selected)
pd.crosstab(comparison["in paper"], comparison["in this run"], margins=True)

# %%
table2 = result.selected_table().merge(comparison[["key", "paper_name"]], on="key", how="left")
table2["paper_name"] = table2["paper_name"].fillna("")
display(table2.rename(columns={"paper_name": "in paper's Table 2 as"}))

# %% [markdown]
# Where in the heart does a selected feature vary? The first selected feature computed in
# each AHA segment (numpy engine, the funnel's bin number, segments derived from the
# myocardium) and averaged over the first eight patients:

# %%
import matplotlib.pyplot as plt

from mpirad.heart import plot_bullseye
from mpirad.heart.views import feature_by_segment

if "family" in table2 and len(table2):
    shown = table2.iloc[0]
    by_segment = feature_by_segment(
        ds, sorted(features["patient_id"].unique())[:8], family=shown["family"],
        name=shown["name"], aggregation=shown.get("aggregation"), n_bins=result.n_bins,
    )  # fmt: skip
    fig, _ = plot_bullseye(by_segment, label=f"{shown['family']} {shown['name']}",
                           title="mean over 8 patients")  # fmt: skip
    plt.show()

# %% [markdown]
# ## Which bin number? (section 3.2)
#
# For the selected features the paper compared the eight bin numbers: small bin numbers
# produced more identical and low-range features, the largest more highly correlated pairs
# (|rho| >= 0.9); 64 and 128 behaved alike and it chose 64. mpirad applies these criteria
# in turn (10 % slack on the counts) and prefers 64 among the bin numbers left.

# %%
display(result.per_bin_stats.round(3))
fig = plots.plot_per_bin_statistics(result.per_bin_stats)

# %%
pd.Series(
    {"paper": paper_b.PAPER_N_BINS, "this run": result.n_bins}, name="chosen bin number"
).to_frame()

# %% [markdown]
# ## Compared with the paper
#
# This run's headline numbers (the box at the top of the page) against the paper's, and why
# they differ; the sentences are generated from the tables above and the paper's numbers
# as `mpirad` keeps them, never typed by hand.

# %%
from mpirad.findings import paper_box, results_box
from mpirad.radiomics.findings import radiomics_comparison, radiomics_results

box.update(
    results_box(radiomics_results(result.n_bins, result.selected, result.counts,
                                  features["patient_id"].nunique()))
)  # fmt: skip
synthetic = ds.provenance == "synthetic"
paper_box(radiomics_comparison(result.n_bins, result.selected, result.per_bin_stats, synthetic))
