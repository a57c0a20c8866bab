"""The Jupyter and book machinery: notebooks run, set up, checked in a browser.

- :mod:`mpirad.jupyter.runner`: the book's notebooks run with papermill, per split, into
  ``build/runs/`` (recorded, so a current run is reused).
- :mod:`mpirad.jupyter.notebook`: :func:`~mpirad.jupyter.notebook.setup`, the one call at
  the top of every book notebook.
- :mod:`mpirad.jupyter.labserver`, :mod:`mpirad.jupyter.labcheck`: a JupyterLab server and
  the book's notebooks opened, run and saved in it in headless Chromium (``make lab-check``).
- :mod:`mpirad.jupyter.bookcheck`: screenshots of the built HTML book (``make book-check``).
"""
