# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Datasets
#
# Every chapter picks its data by name from `data_manifest.yaml`. The two synthetic
# datasets are generated on first use (deterministically, from the seed in the
# manifest) under `build/data/`; a site adds its own entries next to them.

# %% tags=["parameters"]
dataset_a = "synthetic-a"
dataset_b = "synthetic-b"
profile = "quick"

# %%
import pandas as pd

from mpirad.manifest import get_dataset, load_manifest
from mpirad.notebook import setup

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
            "root": str(ds.root.relative_to(root)) if ds.root.is_relative_to(root) else "(site path)",
        }
        for name, ds in load_manifest().items()
    ]
).set_index("dataset")

# %% [markdown]
# ## What a dataset holds
#
# `get_dataset(name).ensure()` returns the dataset with its files in place: a synthetic
# one is generated if absent, and any dataset with a recorded checksum is compared with it.

# %%
from mpirad.pipeline import dataset_summary

ds_a = get_dataset(dataset_a).ensure()
ds_b = get_dataset(dataset_b).ensure()
pd.concat([dataset_summary(ds_a), dataset_summary(ds_b)])
