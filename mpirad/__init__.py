"""mpirad: AI and radiomics on myocardial perfusion imaging (MPI).

A thin importable package behind the mpirad Jupyter Book. It holds the models, metrics,
radiomics and statistics that the book's notebooks call:

- :mod:`mpirad.manifest`  named datasets from ``data_manifest.yaml``
- :mod:`mpirad.io`        readers and writers of the field's file formats
- :mod:`mpirad.phantom`   the deterministic synthetic cohort for both studies
- :mod:`mpirad.tomo`      study A: LV tomograms, ResNet18 classifier and segmenter
- :mod:`mpirad.radiomics` study B: ROIs, IBSI features, blind-to-outcome selection
- :mod:`mpirad.stats`     study B: stepwise regression, repeated-split protocol, Fisher
- :mod:`mpirad.metrics`   diagnostic indexes, ROC/AUC, Dice/IoU/Hausdorff
"""

from __future__ import annotations

__version__ = "0.2.0"
