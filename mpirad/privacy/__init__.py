"""Patient-data safety: DICOM de-identification, keyed pseudonyms and the identifier guard.

- :mod:`mpirad.privacy.annex_e`     DICOM PS3.15 Table E.1-1, Basic Profile actions (data)
- :mod:`mpirad.privacy.secret`      the site secret and HMAC-SHA256 pseudonyms
- :mod:`mpirad.privacy.deidentify`  de-identify a header; burned-in annotation flags
- :mod:`mpirad.privacy.identifiers` identifiers from headers, tables and private lists
- :mod:`mpirad.privacy.guard`       scan outputs for identifiers and header-like leaks
- :mod:`mpirad.privacy.layers`      the text and structure layers of a file the guard reads
- :mod:`mpirad.privacy.export`      the de-identified DICOM-to-PNG export (:func:`export_dicom`)

See SECURITY.md.
"""

from __future__ import annotations
