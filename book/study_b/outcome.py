# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Study B: predicting coronary calcium from perfusion radiomics
#
# This chapter reproduces the outcome analysis of Study B {cite}`ashrafinia2021`:
# the distribution of the Agatston CAC score {cite}`agatston1990cac` in Berman's
# categories {cite}`berman2004cac` (Figure 4), univariate Spearman correlations with
# Benjamini-Hochberg correction {cite}`benjamini1995fdr` (Figures 6-7), the repeated-split
# stepwise regression judged with Fisher's method {cite}`fisher1932methods` (Table 3,
# Figures 8-9), the terms that win, and a Figure 10-style
# case. It runs on the book's Study B dataset (named in the first table); the paper's
# published values are shown next to ours. On a synthetic cohort the comparison checks the
# *method*, not the biology: the cohort's planted signal decides how strong each pool can be.
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
selection_path = ""  # "": the dataset's own blind-to-outcome selection (the radiomics chapter's)
n_bins = 0  # 0: the funnel's choice (the paper: 64)
out_dir = ""  # "": build/stats/<dataset>; one folder per stepwise criterion inside
criterion = "aic"
p_enter = 0.05
p_remove = 0.2
select_by = "loglik"
outcome_transform = "raw"
n_repeats = 50
n_inner = 20
seed = 0
n_jobs = 2
scheduler = ""  # a Dask scheduler for the protocol (tcp://host:8786, "local"); "": MPIRAD_DASK_SCHEDULER, else joblib
# Permutations B of CAC for Table 3's calibrated p-values: -1 takes the book profile's
# (quick: 4, paper: 1000; mpirad.stats.permutation.PROFILE_PERMUTATIONS), 0 skips them.
permutations = -1

# %%
import json
import time
import warnings
from dataclasses import replace
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import display
from tqdm import TqdmWarning

from mpirad.io.clinical_tables import require_outcome
from mpirad.jupyter.notebook import setup
from mpirad.pipeline.book import book_dataset, read_context
from mpirad.pipeline.paths import refuse_other_dataset, stats_dir
from mpirad.pipeline.steps import outcome_sources, save_outcome
from mpirad.stats import (
    POOL_LABELS,
    POOLS,
    ProtocolConfig,
    paper_b,
    plots,
    report,
    run_protocol,
    univariate_spearman,
)
from mpirad.stats.inputs import outcome_inputs
from mpirad.stats.permutation import permutation_null, profile_permutations
from mpirad.stats.recovery import (
    planted_from_truth,
    planted_ranks,
    pool_columns,
    recovery_table,
)

root = setup()
warnings.filterwarnings("ignore", category=TqdmWarning)  # tqdm's notebook-widget notice

# %% [markdown]
# ## Inputs
#
# The radiomic features are the blind-to-outcome selection of the radiomics chapter (the
# funnel picks the features and the bin number without looking at CAC); the clinical table
# holds the paper's ten clinical features, and `cac.csv` the per-artery Agatston scores.
# Each ROI is paired with the CAC of its artery (myocardium: the total).
#
# A dataset without `cac.csv` (e.g. the public PhysioNet MPS database, whose
# `demographics.csv` holds only sex, age and BMI) has no outcome: this chapter stops here
# and says so. Its features, the blind-to-outcome funnel and the polar maps do not need
# CAC and are in the radiomics chapter; `mpirad check` counts the condition.

# %%
ds = book_dataset(dataset, "b")
require_outcome(ds)  # no cac.csv: OutcomeUnavailableError, saying why
features_file, selection, sources = outcome_sources(
    ds, features_path=features_path, selection_path=selection_path, n_jobs=n_jobs
)
inputs = outcome_inputs(
    ds, features_file, n_bins=n_bins or None, selection_path=selection,
    extract_if_missing=False,
)  # fmt: skip
out_dir = refuse_other_dataset(out_dir, ds.name, parameter="out_dir") if out_dir else None
out_dir = Path(out_dir or stats_dir(ds.name, criterion).parent)
pd.Series(
    {
        "patients": len(inputs.clinical),
        "ROIs": len(inputs.radiomic),
        "radiomic features per ROI": len(inputs.selected),
        "feature selection": inputs.selection_source,
        "bin number": inputs.n_bins,
        "clinical features": len(inputs.clinical.columns) - 1,
    },
    name=ds.name,
).to_frame()

# %% [markdown]
# Patients enter the analysis when they have features for every ROI, a clinical row and a
# CAC row; the others are left out and counted here (by reason, never by id). On the
# synthetic cohort nobody is left out.

# %%
inputs.cohort.table()

# %% [markdown]
# ## The outcome: CAC scores (Figure 4)
#
# The paper's 428 patients fall into the six bins below (178 / 32 / 77 / 80 / 38 / 23); the
# five Berman categories merge the two top bins (> 400).

# %%
fig = plots.plot_cac_distribution(inputs.cac["cac_total"])
plt.show()
report.figure4_table(inputs.cac["cac_total"]).style.format(
    {"share": "{:.1%}", "paper share": "{:.1%}"}
)

# %% [markdown]
# ## Univariate analysis (Figures 6-7)
#
# Spearman correlation between every selected feature of an ROI and the CAC of that ROI,
# on the continuous score and on its Berman category; p-values are adjusted with
# Benjamini-Hochberg (q = 0.05) within each ROI. The paper saw |rho| of at most 0.15 and no
# feature surviving the correction.

# %%
univariate = univariate_spearman(inputs.radiomic, inputs.cac, q=0.05)
summary = univariate.groupby(["roi", "scale"], sort=False).agg(
    max_abs_rho=("abs_rho", "max"), smallest_p=("p", "min"), fdr_survivors=("significant", "sum")
)
summary.unstack("scale").loc[list(inputs.radiomic)].style.format(precision=3)

# %%
fig = plots.plot_spearman_heatmap(univariate, "abs_rho", scale="berman")
plt.show()

# %%
fig = plots.plot_spearman_heatmap(univariate, "p", scale="berman")
plt.show()

# %% [markdown]
# ## The multivariate protocol
#
# For each ROI and each feature pool (radiomic, clinical, combined): 15% of the patients
# are held out as a test set; 20 times, the rest is split 75/25 into train and dev sets,
# the features are ranked by Spearman correlation with CAC on the train set (p < 0.3, most
# correlated first), stepwise regression runs on train from the constant model and again on
# dev starting from the train model. Of the 20 dev models with at least one term, the one
# with the largest dev log-likelihood wins and predicts the test set; Pearson's r and p
# between prediction and truth are recorded. The whole is repeated 50 times and the 50
# p-values are combined with Fisher's method.
#
# Choices where the paper is silent or ambiguous, all parameters of
# `mpirad.stats.ProtocolConfig`:
#
# - **Stepwise criterion.** The paper says it used AIC with PEnter 0.05 and PRemove 0.2.
#   Read literally (MATLAB `stepwiselm(..., 'Criterion', 'aic', 'PEnter', 0.05,
#   'PRemove', 0.2)`), a term enters when it lowers AIC by more than -0.05 and leaves when
#   it raises AIC by more than 0.2. The other reading keeps MATLAB's default partial-F test
#   with 0.05 and 0.2 as p-values. We run the literal reading and compare both below.
# - **Winning model.** The abstract says "log-likelihood", the methods "the highest AIC"
#   (which would pick the worst model). We use the largest dev log-likelihood
#   (`select_by`; "aic" and "bic" pick the smallest).
# - **Outcome.** The raw CAC score, as in the paper (`outcome_transform = "log1p"` regresses
#   log(1 + CAC) instead).
# - **Test predictions** use the winning dev fit's coefficients; test patients whose
#   categorical level was absent from the dev set are left out of that test (counted).
# - **Dev-set candidates** are the train set's ranked list (`dev_ranking = "dev"` re-ranks
#   them on the dev set).
# - **Splits** depend only on the seed, so all ROIs and pools see the same test sets; ROIs
#   sharing an artery get identical clinical results, as in the paper's Table 3.
#
# The protocol runs at the paper's full size in both profiles: the stepwise search updates
# a swept cross-product matrix instead of refitting a regression per candidate, so the
# 21,000 train/dev fits take seconds rather than hours (`benchmarks/bench_stepwise.py`).

# %%
config = ProtocolConfig(
    criterion=criterion, p_enter=p_enter, p_remove=p_remove, n_repeats=n_repeats,
    n_inner=n_inner, select_by=select_by, outcome_transform=outcome_transform, seed=seed,
)  # fmt: skip
started = time.perf_counter()
result = run_protocol(
    inputs.radiomic, inputs.clinical, inputs.cac, config=config, n_jobs=n_jobs,
    scheduler=scheduler or None,
)  # fmt: skip
elapsed = time.perf_counter() - started
save_outcome(result, out_dir / criterion, sources, config, inputs)
fisher = result.fisher_table()
print(f"{len(result.inner)} train/dev fits, {len(result.runs)} test sets in {elapsed:.0f} s")

# %% [markdown]
# A train/dev split whose train or dev set has the same CAC for every patient (on a small
# cohort with many CAC-free patients, a dev set of zeros) leaves the regression nothing to
# explain; such splits, and dev fits without residual, are skipped and cannot win (see
# the [decisions appendix](../decisions.md)). Counted here per ROI, pool and reason:

# %%
skipped = result.skipped_table()
if skipped.empty:
    print(f"no degenerate train/dev split: all {len(result.inner)} fits count")
else:
    print(
        f"{skipped['inner_fits'].sum()} of {len(result.inner)} train/dev fits skipped; "
        f"{int((result.runs['n_eligible'] == 0).sum())} of {len(result.runs)} repeats "
        "were left without a model (p = 1 in Fisher's X)"
    )
    display(skipped.set_index(["roi", "pool", "reason"]))

# %% [markdown]
# ## Table 3: Fisher's method per ROI and pool
#
# Fisher's X = -2 sum(log p) over the 50 test sets follows a chi-square law with 100
# degrees of freedom under the null; values above the 0.01 critical value (135.81, in bold)
# are significant *by the paper's chi-square test*. That test assumes 50 independent test
# sets; they share patients, and the permutation null below finds its p too small: bold
# means "crosses the paper's line", not a calibrated p < 0.01. Paper values are printed
# under ours.

# %%
comparison = report.table3_comparison(fisher)
report.style_table3(comparison, critical=paper_b.PAPER_CRITICAL)

# %%
fig = plots.plot_table3(fisher, paper_b.paper_table3())
plt.show()

# %% [markdown]
# ### How significant is X? Chi-square and permutation p-values
#
# The chi-square law with 100 degrees of freedom assumes 50 *independent* p-values. The 50
# test sets are drawn from the same patients, and the winning models from overlapping
# train/dev sets, so the p-values are dependent and X can spread wider than chi-square
# (the chi-square p is then too small). The paper's Pearson p is also two-sided: a model
# whose predictions are *anti*-correlated with CAC counts as evidence too. Beside the
# paper's X and its chi-square p we give:
#
# - a **permutation p**: CAC is permuted across patients (one shuffle of the patient ->
#   CAC rows, the same for every ROI and pool), the whole protocol is rerun, and the
#   observed X is ranked among the B permuted ones: (1 + #{X_perm >= X}) / (B + 1). With
#   B permutations it cannot go below 1 / (B + 1); the book's quick profile uses a
#   handful (each permutation is a full protocol run) and the paper profile 1000;
# - a **moment-matched p**: chi-square scaled to the permuted X's mean and variance
#   (Brown's approximation), given from B = 10 permutations on (empty below: the null's
#   variance from a handful of permutations is too noisy to use);
# - the same three for a **one-sided** X, built from Pearson p-values of a positive
#   correlation (`ProtocolResult.fisher_table(alternative="greater")`).
#
# The null mean and SD of X are the permuted X's; a chi-square law would have 100 and 14.1.

# %%
B = permutations if permutations >= 0 else profile_permutations(read_context().profile)
if B:
    started = time.perf_counter()
    null = permutation_null(
        inputs.radiomic, inputs.clinical, inputs.cac, permutations=B, seed=seed,
        n_jobs=n_jobs, config=config, scheduler=scheduler or None,
    )  # fmt: skip
    null_seconds = time.perf_counter() - started
    print(f"{B} permutations in {null_seconds:.0f} s ({null_seconds / B:.0f} s each)")
    display(report.table3_pvalues(null.calibrate(result.runs)).style.format(precision=3))
else:
    print("no permutations (permutations = 0)")

# %% [markdown]
# ## Figures 8-9: test-set correlation and significance
#
# Each box holds the 50 winning models of one ROI and pool.

# %%
fig = plots.plot_abs_r_distribution(result.runs)
plt.show()

# %%
fig = plots.plot_p_distribution(result.runs, critical_p=0.05)
plt.show()

# %% [markdown]
# The abstract reports median |r| and p per pool for the myocardium and the three
# vascular territories; ours for the MIM territories are next to them.

# %%
medians = fisher.assign(pool=fisher["pool"].map(POOL_LABELS))
medians = medians.set_index(["roi", "pool"])[["median_abs_r", "median_p"]]
abstract = paper_b.paper_abstract_medians()
abstract["roi"] = abstract["roi"].map(paper_b.PAPER_ABSTRACT_ROIS)
abstract = abstract.set_index(["roi", "pool"]).add_prefix("paper ")
medians.join(abstract, how="inner").style.format(precision=3)

# %% [markdown]
# ## Which terms win
#
# Share of the 50 winning models that contain each term (myocardium). The paper names age,
# hyperlipidemia, hypertension and smoking for the clinical pool, and age, hyperlipidemia,
# GLSZM small zone high grey level emphasis and GLDZM small distance high grey level
# emphasis for the combined pool.

# %%
frequencies = report.term_frequencies(result.runs)
fig = plots.plot_term_frequencies(frequencies, "myocardium", top=10)
plt.show()

# %%
top = frequencies.groupby(["roi", "pool"], sort=False).head(3)
top.pivot_table(index="roi", columns="pool", values="term", aggfunc=" / ".join).loc[
    list(inputs.radiomic)
]

# %% [markdown]
# The first term to enter the train fits (the paper: "usually, the age variable was the
# first in the fit"), read from each fit's step history (`ProtocolResult.inner`,
# `train_steps`; `mpirad.stats.history.step_table` lists every step with its F and p).
# Beside it, the most Spearman-correlated term of the final train model, which earlier
# versions of this table showed by mistake: the two differ when a term that is not the
# best ranked has the largest partial F.

# %%
entered = report.first_terms(result.inner).groupby("pool").head(3)
ranked = report.first_terms(result.inner, by="rank").groupby("pool").head(3)
firsts = pd.concat(
    {
        "first to enter": entered.reset_index(drop=True),
        "most correlated": ranked.reset_index(drop=True),
    },
    axis=1,
)
firsts.style.format({(k, "share"): "{:.0%}" for k in ("first to enter", "most correlated")})

# %% [markdown]
# ## Is the planted signal recovered?
#
# A synthetic cohort knows its truth (`truth.json`): the clinical variables of its CAC
# model, and an image signal (uptake heterogeneity rising with the territory's CAC,
# planted before the camera's blur; `mpirad.phantom.study_b.PLANTED_SIGNAL`) that texture
# features carry; we count the texture families (GLCM, GLRLM, GLSZM,
# GLDZM, NGTDM, NGLDM) as planted. Per ROI and pool: how many winning models hold a
# planted term, how many hold another, recall (share of the planted terms a model holds)
# and precision (planted share of its terms) beside the precision of a random pick from
# the pool; then the univariate Spearman ranks of the planted radiomic features. Site
# data has no truth file and skips this section.

# %%
truth_file = Path(ds.root) / "truth.json"
if truth_file.is_file():
    planted = planted_from_truth(
        json.loads(truth_file.read_text(encoding="utf-8")),
        {roi: list(table.columns) for roi, table in inputs.radiomic.items()},
    )
    clinical_columns = [c for c in inputs.clinical.columns if c != "patient_id"]
    columns = pool_columns(inputs.radiomic, clinical_columns, POOLS)
    recovery = recovery_table(result.runs, planted, columns)
    display(recovery.set_index(["roi", "pool"]).style.format(precision=2))
    display(planted_ranks(univariate, planted).set_index("roi").style.format(precision=2))
else:
    print(f"{ds.name} has no truth.json: nothing planted to recover")

# %% [markdown]
# ## A high-CAC patient across test sets (Figure 10)
#
# The paper follows one patient with CAC 2239 whose MPI was read as normal: over the test
# sets that held this patient, the combined model predicted 1593 on average [639, 2037].
# Here: the patient with the highest total CAC among those in at least five test sets.
# A linear model of the raw score is pulled towards the bulk of the cohort (41% zeros), so
# extreme scores are predicted far too low and small ones can come out negative. No
# Agatston score is negative: predictions below 0 are drawn at 0 with a red marker and
# counted in the legend, and the table gives the clipped and the raw linear predictions
# (`book/decisions.md`); the `log1p` outcome, which cannot go below 0, is the parameter
# to try when that matters.

# %%
case = report.case_study(
    result.predictions,
    roi="myocardium",
    pool="combined",
    min_predictions=max(1, min(5, n_repeats // 10)),
)
fig = plots.plot_case_study(case)
plt.show()
pd.Series(
    {
        "true CAC": case["y_true"].iloc[0],
        "test sets": len(case),
        "median prediction (clipped at 0)": f"{case['y_pred_clipped'].median():.0f}",
        "min / max (clipped at 0)": (
            f"{case['y_pred_clipped'].min():.0f} / {case['y_pred_clipped'].max():.0f}"
        ),
        "raw linear min / max": f"{case['y_pred'].min():.0f} / {case['y_pred'].max():.0f}",
        "test sets predicting < 0": int(case["clipped"].sum()),
        "paper (CAC 2239)": "332 fits, 1593 [639, 2037]",
    },
    name="myocardium, combined",
).to_frame()

# %% [markdown]
# The patient's stress polar map (% of maximum; AHA 17 segments outlined):

# %%
from mpirad.heart.views import plot_patient_polar_map

fig, _ = plot_patient_polar_map(ds, case["patient_id"].iloc[0], title="the case's stress MPI")
plt.show()

# %% [markdown]
# ## Two readings of the stepwise criterion
#
# The same protocol with MATLAB's partial-F test, PEnter 0.05 and PRemove 0.2 read as
# p-values. Same splits, same candidates; only the entry and removal tests differ.

# %%
other = "sse" if criterion != "sse" else "aic"
other_config = replace(config, criterion=other)
other_result = run_protocol(
    inputs.radiomic, inputs.clinical, inputs.cac, config=other_config, n_jobs=n_jobs,
    scheduler=scheduler or None,
)  # fmt: skip
save_outcome(other_result, out_dir / other, sources, other_config, inputs)
labels = {
    c.criterion: report.reading_label(c.criterion, c.p_enter, c.p_remove)
    for c in (config, other_config)
}
readings = {labels[criterion]: fisher, labels[other]: other_result.fisher_table()}
fig = plots.plot_reading_comparison(readings)
plt.show()

# %%
both = report.reading_comparison(readings).set_index(["roi", "pool"])
sizes = pd.Series(
    {
        labels[criterion]: result.runs["n_terms"].mean(),
        labels[other]: other_result.runs["n_terms"].mean(),
    },
    name="mean terms in the winning model",
)
display(both.style.format(precision=1))
sizes.to_frame()

# %% [markdown]
# ## Compared with the paper
#
# This run's headline numbers (the box at the top of the page) against the paper's, and why
# they differ; the sentences are generated from the tables above and the paper's numbers
# as `mpirad` keeps them, never typed by hand.

# %%
from mpirad.findings import paper_box, results_box
from mpirad.stats.findings import outcome_comparison, outcome_results

calibrated = null.calibrate(result.runs) if B else None
box.update(results_box(outcome_results(fisher, univariate, B, calibrated)))
paper_box(outcome_comparison(fisher, univariate, synthetic=ds.provenance == "synthetic"))
