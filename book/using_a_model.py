# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Using a trained model
#
# The chapters before this one train and evaluate; this one trains nothing. It takes the
# models the book has already trained and applies them to patients, as
# `mpirad predict` does from the command line:
#
# - **Study A**: the five split models of the book's quick run (patient-level splits),
#   as an ensemble, on three synthetic patients drawn with another seed than the training
#   cohort, so the models have seen none of them: the table of ischemia probabilities,
#   two overlays and the model card;
# - **Study B**: the outcome chapter's protocol run (every repeat's winning model) on a
#   few patients: predicted CAC with its spread over the repeats' models, as in the paper's
#   Figure 10 {cite}`ashrafinia2021`, and the Berman category {cite}`berman2004cac`.
#
# **Not a medical device**: these are research models, see the model card below. How the
# models were built, and the readings of the papers they follow, are in the
# [decisions appendix](decisions.md).

# %%
from mpirad.findings import open_box

box = open_box("Results")  # filled at the end of the page from this run's numbers

# %% tags=["parameters"]
dataset = ""  # empty: the Study A dataset of the book (synthetic-a unless make book sets DATASET_A)
profile = ""  # empty: the profile of the book (quick unless make book sets PROFILE)
unit = "patient"  # the split unit whose models are applied: "patient" or "image"
seed = 1000  # seed of the held-out synthetic patients (the book's cohort uses 0)
patients = 3  # held-out synthetic patients
dataset_b = ""  # "": the book's Study B dataset
criterion = "aic"  # the outcome chapter's protocol run (build/stats/<dataset>/<criterion>)
cac_patients = 3  # Study B patients shown

# %%
from IPython.display import Markdown, display

from mpirad.jupyter.notebook import setup, show_markdown
from mpirad.pipeline.book import read_context
from mpirad.pipeline.paths import predict_dir, runs_dir, stats_dir

setup()
context = read_context()
name_a = dataset or context.dataset_a
profile = profile or context.profile
model_dir = runs_dir(name_a, profile) / "study_a" / unit if name_a else None
have_a = model_dir is not None and any(model_dir.glob("split_*/run.json"))
if not have_a:
    where = f"build/runs/{name_a}/{profile}/study_a/{unit}" if name_a else "Study A left out"
    display(Markdown(
        f"**Study A: no trained split models to apply** (`{where}`). Run the Study A "
        "chapters (`make book`), or train them with "
        "`mpirad run book/study_a/split_run.py --dataset NAME --all-splits`."
    ))  # fmt: skip

# %% [markdown]
# ## Study A: ischemia on tomograms of new patients
#
# `mpirad predict tomo --model build/runs/synthetic-a/quick/study_a/patient synthetic-a`
# does the same from the command line. Each image goes through the preprocessing of
# training (LV-centred crop, resize); each split's classifier gives a probability, the
# ensemble reports their mean and spread, and images called ischemic are segmented, the
# mask put back into the image's own pixel grid.

# %%
if have_a:
    from mpirad.tomo.heldout import heldout_cohort
    from mpirad.tomo.predict import load_tomo_model, predict_tomo, write_predictions

    model = load_tomo_model(model_dir)
    out_a = predict_dir("tomo", f"{name_a}-{profile}-{unit}-heldout-seed{seed}-n{patients}")
    cohort = heldout_cohort(model, name_a, out_a / "patients", seed=seed, patients=patients)
    predictions = predict_tomo(model, [cohort], progress=False)
    table_a = write_predictions(predictions, model, out_a)
    columns = ["image", "label", "probability", "probability_min", "probability_max",
               "predicted", "mask_pixels"]  # fmt: skip
    print(f"{len(model.splits)} split models; {len(table_a)} images of {patients} patients")
    display(table_a[columns].round(3))

# %% [markdown]
# `label` is the synthetic truth (never read by the models). Two overlays, the predicted
# ischemic area outlined (the image called ischemic with the highest probability, and the
# image with the lowest):

# %%
if have_a:
    import matplotlib.pyplot as plt

    from mpirad.tomo.plots import plot_prediction_overlays

    ranked = table_a.sort_values("probability", ascending=False)
    fig = plot_prediction_overlays(ranked.iloc[[0, -1]], out_a)
    plt.show()

# %% [markdown]
# Every trained split carries its model card (`model_card.md` beside its weights); this is
# the first split's:

# %%
if have_a:
    show_markdown(model.cards[0], levels=2)  # rendered, its headings under this section's

# %% [markdown]
# ## Study B: coronary calcium from a protocol run's models
#
# The protocol keeps every repeat's winning model (`models.parquet`: intercept and one
# coefficient per design column, categorical levels reference-coded). Applied to a
# patient, the repeats' models give a spread of predicted CAC; the table shows its median,
# minimum and maximum per ROI and pool, and the Berman category of the median. A linear
# model of the raw score can predict below 0, which no Agatston score is: those are shown
# as 0 (Berman category 0), `clipped` marks the row and the `_raw` columns keep the raw
# linear predictions (`book/decisions.md`). The
# patients shown belong to the cohort the models were trained on (most repeats' models
# saw them), so the table shows how the tool works, not how well it predicts; for new
# patients use `mpirad predict cac --model build/stats/synthetic-b/aic --dataset NAME`.

# %%
from mpirad.stats.predict import (
    ProtocolModelError,
    dataset_tables,
    load_cac_models,
    predict_repeats,
    summarise_predictions,
)

name_b = dataset_b or context.dataset_b
cac_models = None
try:
    if not name_b:
        raise ProtocolModelError("Study B is left out of this book")
    cac_models = load_cac_models(stats_dir(name_b, criterion))
except ProtocolModelError as exc:
    display(Markdown(f"**Study B: no protocol run to apply** ({exc})."))

# %%
if cac_models is not None:
    from mpirad.manifest import get_dataset

    tables, cac = dataset_tables(get_dataset(name_b).ensure(), cac_models)
    roi = next(iter(tables))  # the whole myocardium when the run has it
    shown = sorted(tables[roi].index)[:cac_patients]
    few = {name: table.loc[table.index.isin(shown)] for name, table in tables.items()}
    summary = summarise_predictions(predict_repeats(cac_models, few), cac)
    summary["patient"] = summary["patient_id"].map({p: k + 1 for k, p in enumerate(shown)})
    columns = ["patient", "roi", "pool", "n_models", "cac_median", "cac_min", "cac_max",
               "berman", "clipped", "cac_median_raw", "cac_min_raw", "cac_max_raw",
               "cac_true", "berman_true"]  # fmt: skip
    display(summary.loc[summary["roi"] == roi, columns].round(0).reset_index(drop=True))

# %% [markdown]
# ## Compared with the paper

# %%
from mpirad.findings import paper_box, results_box
from mpirad.stats.findings import cac_prediction_results, using_a_model_comparison
from mpirad.tomo.findings import heldout_results

sentences = heldout_results(table_a) if have_a else ["Study A: no trained model in this build."]
if cac_models is not None:
    sentences += cac_prediction_results(summary.loc[summary["roi"] == roi])
else:
    sentences.append("Study B: no protocol run in this build.")
box.update(results_box(sentences))
paper_box(using_a_model_comparison())
