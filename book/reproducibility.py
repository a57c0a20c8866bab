# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Reproducibility
#
# Everything in this book is computed from a seed. The same seed, options and package
# versions give the same tables; the synthetic datasets are byte-identical from run to
# run, and every dataset's checksum can be recorded in `data_manifest.yaml`.

# %% tags=["parameters"]
dataset_a = ""  # "": the book's Study A dataset
dataset_b = ""  # "": the book's Study B dataset

# %%
from mpirad.notebook import setup
from mpirad.pipeline.report import environment_table, seeds_table, timings_table

setup()

# %% [markdown]
# ## Environment
#
# Python and the packages that compute the results (the full list is pinned by
# `pyproject.toml` and mirrored in `environment.yml`).

# %%
environment_table()

# %% [markdown]
# ## Seeds and options

# %%
from mpirad.pipeline.book import book_datasets

seeds_table([ds.name for ds in book_datasets(dataset_a, dataset_b, ensure=False)])

# %% [markdown]
# ## Measured run times
#
# Wall-clock times of the steps `make book` ran before building these pages (on the
# machine that built them; 2 CPU cores in CI). Steps whose outputs already existed were
# skipped and show the time of the run that made them.

# %%
timings_table()
