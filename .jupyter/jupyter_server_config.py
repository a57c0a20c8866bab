"""Jupyter server settings for this project (`make lab` puts this folder on JUPYTER_CONFIG_PATH).

- Kernels get CurveZMQ transport keys when their kernelspec supports them (ipykernel's
  does), so a kernel no longer warns "Kernel is running over TCP without encryption".
- Saving a jupytext `.py` notebook drops the empty `tags=[]` that JupyterLab's property
  inspector writes into every cell it shows (jupyterlab/jupyterlab#17562), so that opening
  the inspector and saving leaves the book byte-identical. The other default metadata it
  adds (`editable`, `slideshow`) is dropped by `jupytext.toml`'s cell metadata filter.
"""

import re
import warnings

import zmq

c = get_config()  # noqa: F821  (defined by the Jupyter config loader)

if zmq.has("curve"):  # pyzmq's wheels have it; "auto" would refuse to start without
    c.KernelManager.transport_encryption = "auto"

#: a py:percent cell marker ending in an empty tag list: `# %% tags=[]`, `# %% [markdown] tags=[]`
EMPTY_TAGS = re.compile(r"^(# %%[^\n]*?) tags=\[\]$", re.MULTILINE)


def drop_empty_tags(model, path, contents_manager, **kwargs):
    """Pre-save hook: remove empty tag lists from the cell markers of a `.py` text file."""
    content = model.get("content")
    if model.get("type") == "file" and path.endswith(".py") and isinstance(content, str):
        model["content"] = EMPTY_TAGS.sub(r"\1", content)


c.ContentsManager.pre_save_hook = drop_empty_tags
# the server applies this section twice; the second time is not an override
warnings.filterwarnings("ignore", message=r"Overriding existing pre_save_hook \(drop_empty_tags\)")

# Jupytext's contents manager, serving a text notebook with the metadata JupyterLab adds
# (the kernel's, the property inspector's): a chapter or a module opens unmodified, so
# closing it asks nothing and autosave writes nothing (mpirad.jupyter.labcontents)
c.ServerApp.contents_manager_class = "mpirad.jupyter.labcontents.LabContentsManager"
