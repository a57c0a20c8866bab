"""Study A: D-SPECT LV tomograms, a ResNet18 classifier and a ResNet18 U-Net segmenter.

- :mod:`mpirad.tomo.preprocess`  LV centre from the image, LV-centred crop, resize
- :mod:`mpirad.tomo.data`        a ``labelme-export`` dataset preprocessed into tensors
  (the files are read by :mod:`mpirad.io.tomograms`)
- :mod:`mpirad.tomo.splits`      five random 8:2 splits by patient or by image, on disk
- :mod:`mpirad.tomo.models`      ResNet18 classifier, ResNet18-encoder U-Net
- :mod:`mpirad.tomo.train`       seeded, resumable training loop (CUDA + AMP or CPU)
- :mod:`mpirad.tomo.checkpoints` checkpoints written on a background thread; load_weights
- :mod:`mpirad.tomo.evaluate`    Tables 2-4 inputs from :mod:`mpirad.metrics`
- :mod:`mpirad.tomo.fit`         train and predict both networks of one split
- :mod:`mpirad.tomo.run`         one split end to end, outputs under ``build/runs``
- :mod:`mpirad.tomo.report`      tables of all splits next to the paper's
- :mod:`mpirad.tomo.plots`       Figures 1-3
"""

from __future__ import annotations

from mpirad.tomo.data import TomoDataset, load_tomo_dataset
from mpirad.tomo.models import ResNet18UNet, WeightsError, build_classifier, build_segmenter
from mpirad.tomo.preprocess import (
    LVNotFoundError,
    PreprocessConfig,
    crop_centred,
    find_lv_centre,
    resize_stack,
)
from mpirad.tomo.profiles import PROFILES, StudyAProfile, get_profile
from mpirad.tomo.run import SplitOutputs, load_split_outputs, run_all_splits, run_split, split_dir
from mpirad.tomo.splits import SplitError, ensure_splits, load_splits, make_splits, save_splits
from mpirad.tomo.train import TrainConfig, TrainResult, seed_everything, select_device, train_model

__all__ = [
    "PROFILES",
    "LVNotFoundError",
    "PreprocessConfig",
    "ResNet18UNet",
    "SplitError",
    "SplitOutputs",
    "StudyAProfile",
    "TomoDataset",
    "TrainConfig",
    "TrainResult",
    "WeightsError",
    "build_classifier",
    "build_segmenter",
    "crop_centred",
    "ensure_splits",
    "find_lv_centre",
    "get_profile",
    "load_split_outputs",
    "load_splits",
    "load_tomo_dataset",
    "make_splits",
    "resize_stack",
    "run_all_splits",
    "run_split",
    "save_splits",
    "seed_everything",
    "select_device",
    "split_dir",
    "train_model",
]
