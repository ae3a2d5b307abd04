"""sweep: many points.

Sweep files and their points (the axes), the local and Dask runners, the Parquet results
store with provenance. Imports ``core``, ``linalg``, ``build`` and ``analysis``.
"""
