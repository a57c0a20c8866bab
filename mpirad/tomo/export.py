"""Portable Study A weights: one split's two networks as a TorchScript file.

:func:`export_torchscript` traces a module that maps ``(N, 1, S, S)`` preprocessed
images (:func:`mpirad.tomo.preprocess.network_input`) to the ischemia probability
``(N,)`` and the pixel probabilities ``(N, 1, S, S)``, and saves it with
``torch.jit.save``; the file carries, as extra files, ``preprocess.json`` (the
:class:`~mpirad.tomo.preprocess.PreprocessConfig`, the threshold, the training image
sizes and the run's settings) and ``model_card.md``. Loading it needs torch only
(``torch.jit.load(path, _extra_files={"preprocess.json": ""})``), not mpirad.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mpirad.io import atomic_path
from mpirad.tomo.predict import load_split_model

#: Extra files stored in an exported model.
EXTRA_FILES = ("preprocess.json", "model_card.md")


class ExportedModel(nn.Module):
    """Both networks of a split: images -> (ischemia probability, pixel probabilities).

    Input ``(N, 1, S, S)`` float32 preprocessed images; output ``(N,)`` probabilities of
    ischemia and ``(N, 1, S, S)`` probabilities that each pixel is ischemic.
    """

    def __init__(self, classifier: nn.Module, segmenter: nn.Module) -> None:
        super().__init__()
        self.classifier = classifier
        self.segmenter = segmenter

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        probability = torch.softmax(self.classifier(x), dim=1)[:, 1]
        return probability, torch.sigmoid(self.segmenter(x))


def export_torchscript(split_dir: str | Path, path: str | Path) -> Path:
    """Trace one finished split's classifier and segmenter into a TorchScript file.

    Args:
        split_dir: a finished split folder (``run.json``, ``checkpoints/``).
        path: the ``.pt`` file to write (atomically).

    Returns:
        ``path``.

    Raises:
        mpirad.tomo.predict.ModelDirError: not a finished split.
    """
    split = load_split_model(split_dir)
    profile = split.run["settings"]["profile"]
    size = int(profile["preprocess"]["input_size"])
    module = ExportedModel(split.classifier, split.segmenter).eval()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        traced = torch.jit.trace(module, torch.rand(2, 1, size, size), check_trace=False)
    meta = {
        "preprocess": profile["preprocess"],
        "threshold": profile.get("threshold", 0.5),
        "source_shapes": split.run.get("source_shapes"),
        "settings": split.run.get("settings"),
        "outputs": "(probability of ischemia (N,), pixel probabilities (N, 1, S, S))",
    }
    extra = {
        "preprocess.json": json.dumps(meta, indent=1, sort_keys=True),
        "model_card.md": split.card.read_text(encoding="utf-8"),
    }
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.jit.save(traced, str(tmp), _extra_files=extra)
    return path


def load_torchscript(path: str | Path) -> tuple[torch.jit.ScriptModule, dict[str, Any], str]:
    """An exported model, its ``preprocess.json`` contents and its model card text."""
    extra = dict.fromkeys(EXTRA_FILES, "")
    module = torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
    return module.eval(), json.loads(extra["preprocess.json"]), str(extra["model_card.md"])
