"""The ``numpy`` engine: mpirad's vectorised NumPy implementation of IBSI features.

- :mod:`.engine`: :class:`~.engine.VectorisedEngine` and :func:`~.engine.compute_features`
  (what is computed, conventions shared with mirp, known deviations);
- :mod:`.roi`: the per-ROI geometry reused across bin numbers, and the discretisation;
- :mod:`.first_order`: intensity statistics, intensity histogram, intensity-volume histogram;
- :mod:`.matrices`: GLCM and run-length-like matrix features over many matrices at once;
- :mod:`.texture`: the texture families of one discretised ROI.
"""
