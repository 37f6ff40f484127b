"""dancerec: does a better offline recommender metric make users happier?

Subsystems: :mod:`dancerec.survey`, :mod:`dancerec.indices`, :mod:`dancerec.recommender`,
:mod:`dancerec.reports`; the study workspace lives in :mod:`dancerec.workspace`.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("dancerec")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"
