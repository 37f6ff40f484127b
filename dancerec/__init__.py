"""dancerec: does a better offline recommender metric make users happier?

Subsystems: :mod:`dancerec.survey`, :mod:`dancerec.indices`, :mod:`dancerec.recommender`,
:mod:`dancerec.reports`; the study workspace lives in :mod:`dancerec.workspace`.
"""


def __getattr__(name: str) -> str:
    """``__version__`` on first use: importlib.metadata costs ~20-40 ms of every command's start-up."""
    if name != "__version__":
        raise AttributeError(f"module 'dancerec' has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        value = version("dancerec")
    except PackageNotFoundError:  # running from a source tree that is not installed
        value = "0.0.0+unknown"
    globals()["__version__"] = value
    return value
