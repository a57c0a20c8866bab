# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Datasets
#
# Every chapter picks its data by name from `data_manifest.yaml`. The synthetic datasets
# are generated on first use (deterministically, from the seed in the manifest) under
# `build/data/`; a site adds its own entries next to them, and `make book DATASET_A=...
# DATASET_B=...` builds this book on them.

# %% tags=["parameters"]
dataset_a = ""  # "": the book's Study A dataset ("none" in `make book` leaves it out)
dataset_b = ""  # "": the book's Study B dataset

# %%
import pandas as pd

from mpirad.jupyter.notebook import setup
from mpirad.manifest import load_manifest

root = setup()

# %% [markdown]
# ## The manifest

# %%
pd.DataFrame(
    [
        {
            "dataset": name,
            "study": ds.study.upper(),
            "format": ds.format,
            "provenance": ds.provenance,
            "root": str(ds.root.relative_to(root))
            if ds.root.is_relative_to(root)
            else "(site path)",
        }
        for name, ds in load_manifest().items()
    ]
).set_index("dataset")

# %% [markdown]
# ## What a dataset holds
#
# `get_dataset(name).ensure()` returns the dataset with its files in place: a synthetic
# one is generated if absent, and any dataset with a recorded checksum is compared with it.
# The table describes the datasets this book runs on.

# %%
from mpirad.pipeline import dataset_summary
from mpirad.pipeline.book import book_datasets

pd.concat([dataset_summary(ds) for ds in book_datasets(dataset_a, dataset_b)])
