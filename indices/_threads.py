"""Run the analyses with one BLAS thread.

Every matrix in a questionnaire analysis is small (30 x 30 covariances, 2,000 x 30 data): BLAS threads
cost more to start and synchronise than the work they share, and on a busy 2-core machine they
oversubscribe the CPU (a 2,000 x 30 covariance took 40 ms instead of 1 ms when other processes ran).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from threadpoolctl import threadpool_limits

P = ParamSpec("P")
R = TypeVar("R")


def single_blas_thread(fn: Callable[P, R]) -> Callable[P, R]:
    """Decorator: call ``fn`` with BLAS/OpenMP limited to one thread (restored afterwards)."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with threadpool_limits(1):
            return fn(*args, **kwargs)

    return wrapper
