"""The study workspace: a folder holding ``study.toml``, an embedded DuckDB database and ``artifacts/``.

Every write goes through :meth:`Study.transaction`, so a failed or interrupted command leaves the
store exactly as it was. Each subsystem owns its tables through a list of :class:`Migration` objects
in its own ``schema`` module; :func:`migrate` brings a database up to date in one transaction.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib
import os
import secrets
import signal
import threading
import time
import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import tomli_w

from dancerec.errors import NotAStudyError, SchemaError, StudyExistsError, UserError

STUDY_FILE = "study.toml"
DB_FILE = "study.duckdb"
ARTIFACTS_DIR = "artifacts"
SECRET_FILE = ".secret"
DEFAULT_INSTRUMENT = "dance-music-30"
#: seconds a command waits for another dancerec command to release the study ($DANCEREC_BUSY_TIMEOUT)
BUSY_TIMEOUT_S = 30.0


class CommittedInterrupt(KeyboardInterrupt):
    """Ctrl-C or SIGTERM arrived while a transaction was committing; the commit completed."""


@contextmanager
def deferred_signals() -> Iterator[list[int]]:
    """Hold SIGINT/SIGTERM back for the duration of the block; yields the signals that arrived.

    A commit is never cut in half by Ctrl-C, so the command can say truthfully whether the data
    was stored. Outside the main thread (no signal handlers there) this does nothing.
    """
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def hold(signum: int, frame: object) -> None:
        received.append(signum)

    previous = {sig: signal.signal(sig, hold) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield received
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextmanager
def atomic_output(path: str | Path) -> Iterator[Path]:
    """Write an output file all or nothing: yields a temporary path beside ``path`` (same suffix),
    renamed onto ``path`` when the block succeeds and removed when it fails (disk full, Ctrl-C…).

    Usage: ``with atomic_output(out) as tmp: frame.to_csv(tmp)``.
    """
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{path} is a folder; give a file name to write")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@dataclass(frozen=True)
class Migration:
    """One step of a component's schema: ``version`` N turns schema N-1 into N."""

    version: int
    description: str
    apply: str | Callable[[duckdb.DuckDBPyConnection], None]

    def run(self, con: duckdb.DuckDBPyConnection) -> None:
        if callable(self.apply):
            self.apply(con)
        else:
            con.execute(self.apply)


CORE_MIGRATIONS: list[Migration] = [
    Migration(
        1,
        "schema versions and the log of files read into the study",
        """
        CREATE TABLE IF NOT EXISTS schema_version (
            component VARCHAR PRIMARY KEY,
            version INTEGER NOT NULL,
            applied_at TIMESTAMP NOT NULL
        );
        CREATE TABLE data_file (
            sha256 VARCHAR NOT NULL,
            path VARCHAR NOT NULL,
            kind VARCHAR NOT NULL,
            n_bytes BIGINT NOT NULL,
            recorded_at TIMESTAMP NOT NULL,
            PRIMARY KEY (sha256, kind)
        );
        """,
    ),
]

# component name -> module holding its MIGRATIONS list; applied in this order.
SCHEMA_COMPONENTS: dict[str, str] = {
    "core": "dancerec.workspace:CORE_MIGRATIONS",
    "survey": "dancerec.survey.schema:MIGRATIONS",
    "recommender": "dancerec.recommender.schema:MIGRATIONS",
}


def _load_migrations(spec: str) -> list[Migration]:
    module, _, attr = spec.partition(":")
    migrations = list(getattr(importlib.import_module(module), attr))
    versions = [m.version for m in migrations]
    if versions != list(range(1, len(versions) + 1)):
        raise RuntimeError(f"{spec}: migration versions must be 1..N in order, got {versions}")
    return migrations


def schema_versions(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Current schema version of each component (empty for a new database)."""
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_version'"
    ).fetchone()[0]
    if not exists:
        return {}
    return dict(con.execute("SELECT component, version FROM schema_version").fetchall())


def migrate(
    con: duckdb.DuckDBPyConnection, components: dict[str, str] | None = None
) -> dict[str, tuple[int, int]]:
    """Apply pending migrations inside the caller's transaction.

    Returns ``{component: (from_version, to_version)}`` for the components that changed. A database
    written by a newer dancerec (a version above what this code knows) is refused, never downgraded.
    """
    components = SCHEMA_COMPONENTS if components is None else components
    current = schema_versions(con)
    changed: dict[str, tuple[int, int]] = {}
    for name, spec in components.items():
        migrations = _load_migrations(spec)
        have = current.get(name, 0)
        if have > len(migrations):
            raise SchemaError(
                f"the study database has {name} schema version {have}, but this dancerec knows only "
                f"up to {len(migrations)}; upgrade dancerec to open it"
            )
        for migration in migrations[have:]:
            migration.run(con)
        if len(migrations) > have:
            con.execute(
                "INSERT OR REPLACE INTO schema_version VALUES (?, ?, ?)",
                [name, len(migrations), datetime.now(UTC).replace(tzinfo=None)],
            )
            changed[name] = (have, len(migrations))
    return changed


@dataclass
class StudyConfig:
    """What ``study.toml`` holds. ``groups`` maps a study group to the recommender run it was shown.

    ``exclude_flagged`` is the study's default for every command's ``--exclude-flagged``: the quality
    flags whose respondents are left out (``["all"]`` for every flag, empty for none).
    """

    name: str
    instrument: str = DEFAULT_INSTRUMENT
    group_column: str = "group"
    seed: int = 42
    created: str = ""
    exclude_flagged: list[str] = field(default_factory=list)
    groups: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_toml(cls, path: Path) -> StudyConfig:
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise UserError(f"{path}: not valid TOML ({exc})") from exc
        study = raw.get("study", {})
        unknown = set(study) - {f for f in cls.__dataclass_fields__ if f != "groups"}
        if unknown:
            raise UserError(f"{path}: unknown key(s) in [study]: {', '.join(sorted(unknown))}")
        if not isinstance(study.get("seed", 0), int):
            raise UserError(f"{path}: [study] seed must be an integer")
        return cls(**study, groups={str(k): str(v) for k, v in raw.get("groups", {}).items()})

    def to_toml(self) -> str:
        body = asdict(self)
        groups = body.pop("groups")
        return tomli_w.dumps({"study": body, "groups": groups})


def _atomic_write(path: Path, text: str) -> None:
    with atomic_output(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


class Study:
    """An open study workspace. Create with :meth:`init`, open with :meth:`open` or :meth:`locate`."""

    def __init__(self, root: Path, config: StudyConfig) -> None:
        self.root = root
        self.config = config

    # -- paths -------------------------------------------------------------------------------
    @property
    def db_path(self) -> Path:
        return self.root / DB_FILE

    @property
    def artifacts(self) -> Path:
        return self.root / ARTIFACTS_DIR

    @property
    def config_path(self) -> Path:
        return self.root / STUDY_FILE

    # -- life cycle --------------------------------------------------------------------------
    @classmethod
    def init(
        cls,
        root: str | Path,
        *,
        name: str | None = None,
        instrument: str = DEFAULT_INSTRUMENT,
        group_column: str = "group",
        seed: int = 42,
        exclude_flagged: list[str] | None = None,
    ) -> Study:
        """Create a study folder. ``study.toml`` is written last, so a crash leaves no half-study."""
        root = Path(root)
        if (root / STUDY_FILE).exists():
            raise StudyExistsError(f"{root} is already a dancerec study; nothing was changed")
        if root.exists() and not root.is_dir():
            raise UserError(f"{root} exists and is not a folder")
        root.mkdir(parents=True, exist_ok=True)
        (root / ARTIFACTS_DIR).mkdir(exist_ok=True)
        stale = root / DB_FILE
        for leftover in (stale, stale.with_name(DB_FILE + ".wal")):
            leftover.unlink(missing_ok=True)  # from an init that died before study.toml
        con = duckdb.connect(str(stale))
        try:
            con.begin()
            migrate(con)
            con.commit()
        finally:
            con.close()
        secret = root / SECRET_FILE
        if not secret.exists():
            _atomic_write(secret, secrets.token_hex(32) + "\n")
            secret.chmod(0o600)
        config = StudyConfig(
            name=name or root.resolve().name,
            instrument=instrument,
            group_column=group_column,
            seed=seed,
            created=datetime.now(UTC).isoformat(timespec="seconds"),
            exclude_flagged=list(exclude_flagged or []),
        )
        _atomic_write(root / STUDY_FILE, config.to_toml())
        return cls(root, config)

    @classmethod
    def open(cls, root: str | Path) -> Study:
        """Open an existing study and bring its schema up to date."""
        root = Path(root)
        if not (root / STUDY_FILE).is_file() or not (root / DB_FILE).is_file():
            raise NotAStudyError(
                f"{root} is not a dancerec study (no {STUDY_FILE} and {DB_FILE}); "
                "create one with `dancerec init DIR` or pass --study DIR"
            )
        study = cls(root, StudyConfig.from_toml(root / STUDY_FILE))
        # check the schema through a read-only connection; take the write lock only to upgrade
        with study.read() as con:
            pending = _pending_migrations(con)
        if pending:
            with study.transaction() as con:
                migrate(con)
        if not study.artifacts.is_dir():
            study.artifacts.mkdir(exist_ok=True)
        return study

    @classmethod
    def locate(cls, root: str | Path | None = None) -> Study:
        """Open ``root``, else ``$DANCEREC_STUDY``, else the current folder."""
        if root is None:
            root = os.environ.get("DANCEREC_STUDY") or Path.cwd()
        return cls.open(root)

    def save_config(self) -> None:
        _atomic_write(self.config_path, self.config.to_toml())

    # -- database ----------------------------------------------------------------------------
    def connect(self, read_only: bool = False, timeout: float | None = None) -> duckdb.DuckDBPyConnection:
        """A connection to the study database, waiting up to ``timeout`` seconds while another
        dancerec process holds it (then a one-line "study busy" error); a damaged file is named."""
        if timeout is None:
            try:
                timeout = float(os.environ.get("DANCEREC_BUSY_TIMEOUT", BUSY_TIMEOUT_S))
            except ValueError:
                timeout = BUSY_TIMEOUT_S
        deadline = time.monotonic() + timeout
        while True:
            try:
                return duckdb.connect(str(self.db_path), read_only=read_only)
            except duckdb.Error as exc:
                text = str(exc)
                if "lock" in text.lower() and time.monotonic() < deadline:
                    time.sleep(0.2)
                    continue
                raise _connect_error(self.db_path, exc, timeout) from None

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection inside BEGIN/COMMIT; any exception (or Ctrl-C) rolls everything back.

        Ctrl-C/SIGTERM during the commit itself are held until it finishes and then raised as
        :class:`CommittedInterrupt`, so the command can report that the data was stored.
        """
        con = self.connect()
        try:
            con.begin()
            try:
                yield con
            except BaseException:
                con.rollback()
                raise
            with deferred_signals() as received:
                con.commit()
            if received:
                raise CommittedInterrupt(received[0])
        finally:
            con.close()

    @contextmanager
    def read(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only connection for queries (other readers may share the study meanwhile)."""
        con = self.connect(read_only=True)
        try:
            yield con
        finally:
            con.close()

    def record_file(self, con: duckdb.DuckDBPyConnection, path: Path, kind: str) -> str:
        """Log an input file (checksum, size) for the report's methods appendix; returns its sha256."""
        digest = sha256_file(path)
        con.execute(
            "INSERT OR REPLACE INTO data_file VALUES (?, ?, ?, ?, ?)",
            [digest, str(path), kind, path.stat().st_size, datetime.now(UTC).replace(tzinfo=None)],
        )
        return digest

    # -- pseudonymisation --------------------------------------------------------------------
    @property
    def secret(self) -> bytes:
        path = self.root / SECRET_FILE
        if not path.exists():
            raise UserError(f"{path} is missing: the study's pseudonymisation key is gone")
        return path.read_text(encoding="utf-8").strip().encode()

    def pseudonymise(self, value: object) -> str:
        """Keyed hash (HMAC-SHA256, study secret) of an id; equal ids give equal pseudonyms."""
        return pseudonymise(value, self.secret)


def _pending_migrations(con: duckdb.DuckDBPyConnection) -> bool:
    current = schema_versions(con)
    for name, spec in SCHEMA_COMPONENTS.items():
        known = len(_load_migrations(spec))
        if current.get(name, 0) != known:
            return True
    return False


def _connect_error(path: Path, exc: Exception, timeout: float) -> UserError:
    """One clear line for a database that cannot be opened: busy, damaged, or disk problems."""
    text = str(exc)
    low = text.lower()
    if "lock" in low:
        return UserError(
            f"study busy: another dancerec command is using {path} (waited {timeout:g} s); "
            "try again when it has finished (or set DANCEREC_BUSY_TIMEOUT)"
        )
    if "not a valid duckdb database" in low or "could not read enough bytes" in low or "corrupt" in low:
        return UserError(
            f"{path} is damaged (truncated or not a DuckDB database): restore it from a backup; "
            "the study cannot be read as it is"
        )
    if "no space left" in low:
        return UserError(f"disk full while opening {path}; free some space and try again")
    return UserError(f"cannot open {path}: {text}")


def pseudonymise(value: object, secret: bytes) -> str:
    """HMAC-SHA256 of ``str(value)`` under ``secret``, first 16 hex digits (64 bits)."""
    return hmac.new(secret, str(value).encode("utf-8"), hashlib.sha256).hexdigest()[:16]
