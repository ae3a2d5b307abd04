"""linalg: the matrix M of Theorem 1 as linear algebra.

M as an O(n) operator and the closed form of |M^-1|, the dense matrix for BLAS/LAPACK,
Hager-Higham estimation, condition numbers four ways, a-priori error bounds, and the
certified exact / mpmath reference solution. Imports only ``core``.
"""
