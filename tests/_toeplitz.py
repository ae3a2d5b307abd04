"""The equispaced Toeplitz system and its condition number in closed form, shared by the law tests.

z_i = i, b_i = i - 1 + theta (every gap 1, every knot at theta, first offset 1 - theta), so
M_ij = i - j + 1 - theta for j <= i: a lower-triangular Toeplitz matrix with the symbol
((1 - theta) + theta x) / (1 - x)^2. Hence ||M||_1 = n(n - 1)/2 + n(1 - theta) (the first column),
and M^-1 has the symbol (1 - x)^2 / ((1 - theta)(1 + r x)), r = theta / (1 - theta): first-column
coefficients 1, -(2 + r), then (1 + r)^2 (-r)^(k-2), over 1 - theta, whose absolute sum is
||M^-1||_1. Worked out:
  theta = 0:   ||M^-1||_1 = 4              -> cond_1 = 2 n (n + 1)
  theta = 1/2: ||M^-1||_1 = 8 n - 8        -> cond_1 = 4 n^2 (n - 1)
  theta = 1/4: ||M^-1||_1 -> 8             -> cond_1 ~ 4 n^2
  theta = 3/4: ||M^-1||_1 = 32 3^(n-2) - 8 -> cond_1 ~ (n^2 / 2) 32 3^(n-2): rate 3
"""

from fractions import Fraction

import numpy as np


def toeplitz_system(n, theta):
    """(z, b) float64 arrays of the system above."""
    z = np.arange(1, n + 1, dtype=np.float64)
    return z, z - 1 + float(theta)


def closed_form_cond1(n, theta):
    """cond_1 of the system, exactly (rationals), from the derivation in the module docstring."""
    th = Fraction(theta)
    r = th / (1 - th)
    norm = Fraction(n * (n - 1), 2) + n * (1 - th)
    if r == 0:
        inv = Fraction(4) if n >= 3 else sum([Fraction(1), Fraction(2)][:n])
    else:  # 1 + (2 + r) + (1 + r)^2 sum_{k=0}^{n-3} r^k
        geo = (1 - r ** (n - 2)) / (1 - r) if r != 1 else Fraction(n - 2)
        inv = 1 + (2 + r) + (1 + r) ** 2 * geo
    return norm * inv / (1 - th)
