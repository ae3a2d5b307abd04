"""core: the arithmetic and the vocabulary every stage shares.

Errors, registries, formats and their per-operation rounding, the Numba kernels,
input validation, exact rationals, seeding, JSON. Imports nothing else of harness.
"""
