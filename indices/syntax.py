"""lavaan-style model syntax: parse it, check it against the data, generate it from a structure.

Supported operators (the subset a measurement or structural model for a questionnaire needs):
``=~`` (latent factor), ``~`` (regression), ``~~`` (variance/covariance) and ``:=`` (defined
parameter: sums and products of labels, e.g. ``ind := a*b``, for indirect effects). A right-hand
term may carry a label (``a*x``) or a fixed value (``1*x``), as in lavaan. Comments start with ``#``
or ``!``; statements end at a newline or ``;`` and continue onto the next line after a trailing ``+``.
Free intercepts of observed variables (``x ~ 1``: lavaan's mean structure, saturated), equality
constraints between labels (``a == b``: written to semopy as one shared label) and freed markers
(``NA*x``) are supported; ``ModelSpec.std_lv`` is lavaan's ``std.lv = TRUE``. Latent means, fixed or
labelled intercepts and inequality constraints are refused with a clear message.

The model is handed to semopy with the same syntax (semopy reads labels as named parameters, so a
label used twice is an equality constraint, as in lavaan); defined parameters are evaluated by
:func:`evaluate_defined` here because semopy has no ``:=``.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from dancerec.errors import InputError, UserError

__all__ = [
    "ModelSpec",
    "Term",
    "check_against_data",
    "evaluate_defined",
    "measurement_syntax",
    "parse_model",
    "read_model_file",
    "structure_of",
]

_NAME = r"[A-Za-z_][A-Za-z0-9_.]*"
_NAME_RE = re.compile(rf"^{_NAME}$")
_TERM_RE = re.compile(rf"^\s*(?:(?P<mod>[^*]+?)\s*\*\s*)?(?P<var>{_NAME})\s*$")
_OPS = ("=~", ":=", "~~", "~")  # order matters: longest first


class ModelSyntaxError(UserError):
    """The model syntax cannot be read."""


@dataclass(frozen=True)
class Term:
    """One parameter statement: ``lhs op rhs`` with an optional label or fixed value."""

    lhs: str
    op: str
    rhs: str
    label: str | None = None
    fixed: float | None = None
    free: bool = False  # NA*x: a parameter lavaan would fix by default (the marker loading) is freed


@dataclass
class ModelSpec:
    """A parsed model: measurement part, regressions, covariances and defined parameters."""

    terms: list[Term] = field(default_factory=list)
    defined: dict[str, str] = field(default_factory=dict)
    intercepts: list[str] = field(default_factory=list)  # observed variables with ``x ~ 1``
    equalities: list[tuple[str, str]] = field(default_factory=list)  # ``a == b`` between labels
    std_lv: bool = False  # lavaan's std.lv: latent variances fixed at 1, every loading free

    @property
    def measurement(self) -> dict[str, list[str]]:
        """factor -> indicators, in the order written."""
        out: dict[str, list[str]] = {}
        for t in self.terms:
            if t.op == "=~":
                out.setdefault(t.lhs, []).append(t.rhs)
        return out

    @property
    def latent(self) -> list[str]:
        return list(self.measurement)

    @property
    def regressions(self) -> list[Term]:
        return [t for t in self.terms if t.op == "~"]

    @property
    def covariances(self) -> list[Term]:
        return [t for t in self.terms if t.op == "~~"]

    @property
    def observed(self) -> list[str]:
        """Every variable that must be a data column (indicators and observed regression variables)."""
        latent = set(self.latent)
        seen: dict[str, None] = {}
        for t in self.terms:
            names = [t.rhs] if t.op == "=~" else [t.lhs, t.rhs]
            for name in names:
                if name not in latent:
                    seen.setdefault(name, None)
        return list(seen)

    @property
    def endogenous(self) -> list[str]:
        """Variables that appear on the left of a regression."""
        return list(dict.fromkeys(t.lhs for t in self.regressions))

    @property
    def labels(self) -> dict[str, Term]:
        return {t.label: t for t in self.terms if t.label is not None}

    def _canonical(self) -> dict[str, str]:
        """label -> the label it is constrained equal to (``a == b``: b is written as a for semopy)."""
        parent: dict[str, str] = {}

        def find(x: str) -> str:
            while parent.get(x, x) != x:
                x = parent[x]
            return x

        for a, b in self.equalities:
            ra, rb = find(a), find(b)
            if ra != rb:
                parent[rb] = ra
        return {lab: find(lab) for lab in parent}

    def to_semopy(self) -> str:
        """The model in the syntax semopy reads (without defined parameters and intercepts).

        Equalities become shared labels; freed markers (``NA*x``, ``std_lv``) get an internal label
        (starting with '_', shown as no label), which is how semopy is told not to fix them at 1.
        """
        canon = self._canonical()
        lines = []
        variances = {t.lhs for t in self.terms if t.op == "~~" and t.lhs == t.rhs}
        for t in self.terms:
            mod = ""
            if t.fixed is not None:
                mod = f"{t.fixed!r}*"
            elif t.label is not None:
                mod = f"{canon.get(t.label, t.label)}*"
            elif t.free or (self.std_lv and t.op == "=~"):
                mod = f"_free_{t.lhs}_{t.rhs}*".replace(".", "_")
            lines.append(f"{t.lhs} {t.op} {mod}{t.rhs}")
        if self.std_lv:
            lines += [f"{f} ~~ 1.0*{f}" for f in self.latent if f not in variances]
        return "\n".join(lines)

    def to_lavaan(self) -> str:
        """The model written back as lavaan syntax (one statement a line; std.lv is a call option)."""
        lines = []
        for t in self.terms:
            mod = ""
            if t.fixed is not None:
                mod = f"{t.fixed!r}*"
            elif t.label is not None:
                mod = f"{t.label}*"
            elif t.free:
                mod = "NA*"
            lines.append(f"{t.lhs} {t.op} {mod}{t.rhs}")
        lines += [f"{v} ~ 1" for v in self.intercepts]
        lines += [f"{a} == {b}" for a, b in self.equalities]
        lines += [f"{k} := {v}" for k, v in self.defined.items()]
        return "\n".join(lines)


def _statements(text: str) -> list[tuple[int, str]]:
    """Split into (line number, statement), dropping comments and joining continued lines."""
    out: list[tuple[int, str]] = []
    pending: tuple[int, str] | None = None
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = re.split(r"[#!]", raw, maxsplit=1)[0].strip()
        for part in (p.strip() for p in line.split(";")):
            if not part:
                continue
            if pending is not None and (pending[1].endswith("+") or part.startswith("+")):
                pending = (pending[0], pending[1] + " " + part)
                continue
            if pending is not None:
                out.append(pending)
            pending = (lineno, part)
    if pending is not None:
        out.append(pending)
    return out


def _parse_term(text: str, lineno: int, source: str) -> tuple[str, str | None, float | None]:
    m = _TERM_RE.match(text)
    if not m:
        raise ModelSyntaxError(f"{source}, line {lineno}: cannot read term {text.strip()!r}")
    var, mod = m.group("var"), m.group("mod")
    if mod is None:
        return var, None, None
    mod = mod.strip()
    try:
        return var, None, float(mod)
    except ValueError:
        pass
    if mod.upper() == "NA":
        return var, "NA", None
    if not _NAME_RE.match(mod):
        raise ModelSyntaxError(
            f"{source}, line {lineno}: modifier {mod!r} is neither a number nor a label (use a*x or 1*x)"
        )
    return var, mod, None


def parse_model(syntax: str, *, source: str = "model") -> ModelSpec:
    """Parse lavaan-style syntax into a :class:`ModelSpec` (raises :class:`ModelSyntaxError`)."""
    spec = ModelSpec()
    for lineno, stmt in _statements(syntax):
        op = next((o for o in _OPS if o in stmt), None)
        if op is None and "==" in stmt:
            spec.equalities.append(_parse_equality(stmt, lineno, source))
            continue
        if op is None:
            if any(c in stmt for c in ("<", ">")):
                raise ModelSyntaxError(
                    f"{source}, line {lineno}: inequality constraints are not supported: {stmt!r}"
                )
            raise ModelSyntaxError(f"{source}, line {lineno}: no operator (=~, ~, ~~, :=) in {stmt!r}")
        lhs, rhs = (s.strip() for s in stmt.split(op, 1))
        if op == ":=":
            if not _NAME_RE.match(lhs):
                raise ModelSyntaxError(f"{source}, line {lineno}: bad name for a defined parameter {lhs!r}")
            _check_expression(rhs, lineno, source)
            spec.defined[lhs] = rhs
            continue
        if not _NAME_RE.match(lhs):
            raise ModelSyntaxError(f"{source}, line {lineno}: bad variable name {lhs!r}")
        if op == "~" and rhs.strip() == "1":
            spec.intercepts.append(lhs)
            continue
        if op == "~" and re.fullmatch(r".*\*\s*1", rhs.strip()):
            raise ModelSyntaxError(
                f"{source}, line {lineno}: labelled or fixed intercepts ({stmt!r}) are not supported; "
                "free intercepts (x ~ 1) are; mean constraints belong to the invariance analysis"
            )
        if not rhs:
            raise ModelSyntaxError(f"{source}, line {lineno}: nothing on the right of {op!r}")
        for part in rhs.split("+"):
            var, label, fixed = _parse_term(part, lineno, source)
            free = label == "NA"
            spec.terms.append(Term(lhs, op, var, None if free else label, fixed, free))
    if not spec.terms:
        raise ModelSyntaxError(f"{source}: the model has no statements")
    latent = set(spec.latent)
    bad = [v for v in spec.intercepts if v in latent]
    if bad:
        raise ModelSyntaxError(
            f"{source}: latent means (intercepts {', '.join(bad)} ~ 1) are not supported in a single-group model"
        )
    for a, b in spec.equalities:
        unknown = sorted({a, b} - set(spec.labels))
        if unknown:
            raise ModelSyntaxError(
                f"{source}: equality constraint {a} == {b} uses unknown label(s) {', '.join(unknown)}"
            )
    for name, expr in spec.defined.items():
        unknown = sorted(_expression_names(expr) - set(spec.labels))
        if unknown:
            raise ModelSyntaxError(
                f"{source}: defined parameter {name!r} uses unknown label(s) {', '.join(unknown)}"
            )
    return spec


def _parse_equality(stmt: str, lineno: int, source: str) -> tuple[str, str]:
    """``a == b`` between two labels (the only constraint form supported)."""
    lhs, rhs = (x.strip() for x in stmt.split("==", 1))
    if not (_NAME_RE.match(lhs) and _NAME_RE.match(rhs)):
        raise ModelSyntaxError(
            f"{source}, line {lineno}: only equality of two labels (a == b) is supported, not {stmt!r}"
        )
    return lhs, rhs


def read_model_file(path: str | Path) -> ModelSpec:
    """Read a ``.lav`` model file (lavaan syntax)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(p, f"cannot read the model file ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise InputError(p, "the model file is not UTF-8 text") from None
    return parse_model(text, source=str(p))


_ALLOWED_NODES = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Add, ast.Sub, ast.Mult, ast.USub, ast.UAdd)


def _check_expression(expr: str, lineno: int, source: str) -> None:
    try:
        tree = ast.parse(expr, mode="eval")
    except SyntaxError:
        raise ModelSyntaxError(f"{source}, line {lineno}: cannot read expression {expr!r}") from None
    for node in ast.walk(tree):
        if isinstance(node, ast.Name | ast.Load):
            continue
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            continue
        if not isinstance(node, _ALLOWED_NODES):
            raise ModelSyntaxError(
                f"{source}, line {lineno}: only +, - and * of labels and numbers are supported in {expr!r}"
            )


def _expression_names(expr: str) -> set[str]:
    return {n.id for n in ast.walk(ast.parse(expr, mode="eval")) if isinstance(n, ast.Name)}


def evaluate_defined(expr: str, values: Mapping[str, float]) -> float:
    """Evaluate a ``:=`` expression (sums/products of labels) with ``values`` for the labels."""

    def ev(node: ast.AST) -> float:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant):
            return float(node.value)
        if isinstance(node, ast.Name):
            return float(values[node.id])
        if isinstance(node, ast.UnaryOp):
            v = ev(node.operand)
            return -v if isinstance(node.op, ast.USub) else v
        if isinstance(node, ast.BinOp):
            a, b = ev(node.left), ev(node.right)
            if isinstance(node.op, ast.Add):
                return a + b
            if isinstance(node.op, ast.Sub):
                return a - b
            if isinstance(node.op, ast.Mult):
                return a * b
        raise ValueError(f"unsupported expression {expr!r}")  # pragma: no cover - checked when parsed

    return ev(ast.parse(expr, mode="eval"))


def measurement_syntax(structure: Mapping[str, Sequence[str]]) -> str:
    """lavaan syntax of a simple-structure measurement model (one line per factor)."""
    lines = []
    for factor, items in structure.items():
        for name in (factor, *items):
            if not _NAME_RE.match(str(name)):
                raise UserError(
                    f"{name!r} cannot be used as a variable name in a model "
                    "(letters, digits, '_' and '.', not starting with a digit)"
                )
        lines.append(f"{factor} =~ " + " + ".join(items))
    return "\n".join(lines)


def structure_of(model: str | ModelSpec | Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """factor -> items from a structure dict, lavaan syntax or a parsed spec."""
    if isinstance(model, ModelSpec):
        return model.measurement
    if isinstance(model, str):
        return parse_model(model).measurement
    return {str(k): [str(i) for i in v] for k, v in model.items()}


def as_spec(model: str | ModelSpec | Mapping[str, Sequence[str]]) -> ModelSpec:
    """A :class:`ModelSpec` from syntax, a spec, or a structure dict."""
    if isinstance(model, ModelSpec):
        return model
    if isinstance(model, str):
        return parse_model(model)
    return parse_model(measurement_syntax(structure_of(model)))


def check_against_data(
    spec: ModelSpec,
    columns: Iterable[str],
    *,
    min_indicators: int = 3,
    source: str = "model",
) -> None:
    """Refuse models that name unknown columns, reuse a column as a factor, or under-identify a factor."""
    cols = [str(c) for c in columns]
    colset = set(cols)
    unknown = [v for v in spec.observed if v not in colset]
    if unknown:
        shown = ", ".join(unknown[:10]) + (" ..." if len(unknown) > 10 else "")
        available = ", ".join(cols[:12]) + (" ..." if len(cols) > 12 else "")
        raise UserError(
            f"{source}: {len(unknown)} variable(s) not in the data: {shown} (data columns: {available})"
        )
    clash = [f for f in spec.latent if f in colset]
    if clash:
        raise UserError(
            f"{source}: factor name(s) {', '.join(clash)} are also data columns; rename the factor"
        )
    for factor, items in spec.measurement.items():
        if len(items) < min_indicators:
            raise UserError(
                f"{source}: factor {factor!r} has {len(items)} item(s) ({', '.join(items)}); "
                f"at least {min_indicators} are needed"
            )
