"""Evaluation indices: reliability, validity, EFA, CFA, SEM and group comparisons (lavaan-compatible).

Importing the package is light: heavy libraries (factor_analyzer and scikit-learn, semopy) are imported
by the functions that use them; the factor_analyzer shim in :mod:`dancerec.indices._compat` is applied
when factor_analyzer is first used.
"""
