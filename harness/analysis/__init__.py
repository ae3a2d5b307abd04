"""analysis: what a built network tells us.

Fit outcome and the evaluation chain, error attribution, ``analyze``, laws and fitted
exponents, failure criteria and failure points, the precision needed, ``fit`` and the
seed example. Imports ``core``, ``linalg`` and ``build``.
"""
