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
from mpirad.jupyter.notebook import setup
from mpirad.pipeline.report import environment_table, seeds_table, timings_table

_ = setup()  # the project root: not shown

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
# skipped and show the time of the run that made them. The last row adds the steps up; the
# build took less than that, because the Study A split runs go two at a time (`make book`
# prints its own wall clock beside the sum at the end of its log).

# %%
timings_table()

# %% [markdown]
# ## Every page is current
#
# A page of this book is the output of its inputs, and `make book` publishes it only
# when it was executed with the inputs it has now:
#
# - **What a page is made from** is recorded by mpirad, not guessed from Jupyter Book's
#   cache (which knows a notebook's source, not the data it reads): the page's source,
#   the mpirad version, and for the Study A and Study B datasets it reads their name,
#   fingerprint (`data_manifest.yaml` checksum, else every file's name, size and time),
#   the records of the input steps (split runs, features, selection) and the profile
#   (`mpirad.pipeline.pages.PAGE_READS` says which page reads what; a page reading another
#   page's results, such as the chapter applying the models, includes that page's inputs).
# - **Exactly the pages whose inputs changed are executed again.** Before Jupyter Book
#   reads the pages, mpirad's Sphinx extension compares each page's inputs with those
#   it was last executed with (`build/book/pages.json`); a page that differs, failed, or
#   whose build was interrupted is executed again, the others are read back from the
#   execution cache. A changed clinical value therefore re-executes the Study B chapters
#   (and the pages reading their results), not Study A's.
# - **Nothing stale is published as built.** A page that fails makes the build fail; the
#   next build executes it again (it never counts as built until it succeeds), and the
#   last step of `make book`, `mpirad book-verify`, exits non-zero naming every page of
#   the table of contents that failed, was not built or was built from other inputs.
#
# Changing a value and changing it back gives the first build's tables again, byte for
# byte, and the same pages but for the times they say their inputs were computed at:
# `tests/test_book_freshness.py` builds a small site book through a failure, a changed
# clinical value and its restoration.
