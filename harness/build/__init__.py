"""build: data to network.

Data generators and files, generated problems, the strategy registries (directions,
biases, solvers, evaluators), ``construct``, ``Network`` and the choice of evaluation
points. Imports ``core`` and ``linalg``.
"""
