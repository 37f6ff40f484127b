"""Evaluation indices: reliability, validity, EFA, CFA, SEM and group comparisons (lavaan-compatible).

Importing the package applies the compatibility shims in :mod:`dancerec.indices._compat`
(factor_analyzer with scikit-learn >= 1.8).
"""

from dancerec.indices import _compat

_compat.apply()
