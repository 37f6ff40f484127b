"""Errors a user can fix. The CLI turns them into one line on stderr and exit code 1."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class UserError(Exception):
    """Bad input or a bad request: shown without a traceback (use ``--debug`` to see one)."""


class NotAStudyError(UserError):
    """The folder is not a dancerec study workspace."""


class StudyExistsError(UserError):
    """``init`` was asked to create a study where one already exists."""


class SchemaError(UserError):
    """The study's database schema cannot be used by this version of dancerec."""


@dataclass
class InputError(UserError):
    """A problem located in an input file: names the file, row and column and what was expected.

    ``row`` is 1-based as a person counts lines in the file (header = row 1) when known.
    """

    file: str | Path | None
    problem: str
    row: int | None = None
    column: str | None = None
    expected: str | None = None

    def __post_init__(self) -> None:
        super().__init__(str(self))

    def __str__(self) -> str:
        where = [str(self.file)] if self.file is not None else []
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column {self.column!r}")
        text = (", ".join(where) + ": " if where else "") + self.problem
        if self.expected:
            text += f" (expected {self.expected})"
        return text
