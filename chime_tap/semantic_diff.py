"""``chime-tap diff``: what two recordings of proxy-session calls say differently.

Calls are reduced to what they mean (:mod:`chime_tap.diff_calls`), paired by operation and
normalized request (the k-th such call in A with the k-th in B), and compared per operation:
status, error type and message, response members by JSON pointer, schema violations, latency
(:mod:`chime_tap.latency_change`) and call counts. Calls left without a partner are reported as
only in A or only in B.

A list of scalars (strings, numbers, booleans, nulls) compares as a multiset: the items only in
A are removed, those only in B added, and an order alone is no difference. The API's only such
list is ``Capabilities``, a set (``["Voice", "SMS"]`` and ``["SMS", "Voice"]`` ask for the same
session). A list of objects (``ProxySessions``, ``Participants``) compares item by item.

Data in, data out: :func:`diff_recordings` takes interactions and returns a :class:`DiffResult`;
reading files is the command's (``chime_tap.commands.diff``, through the report's readers),
rendering is :mod:`chime_tap.diff_render`.
"""

from __future__ import annotations

import json
import os
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from chime_tap import jsondoc
from chime_tap.api.hosts import DEFAULT_HOSTS, HostPolicy
from chime_tap.api.operations import OPERATIONS
from chime_tap.cassettes.format import Interaction
from chime_tap.diff_calls import (
    STAMP,
    Call,
    Delta,
    canonical_calls,
    read_side,
    session_labels,
    token_labels,
)
from chime_tap.errors import InputError
from chime_tap.latency_change import (
    ALPHA,
    MIN_RATIO,
    MIN_SAMPLES,
    MIN_SHIFT_MS,
    TEST_NAME,
    LatencyComparison,
    compare_latency,
)

DEFAULT_TIME_TOLERANCE = 5.0  # seconds two timestamps' distances from creation may differ by
EXAMPLES = 5  # examples kept per finding
CLIP = 80  # characters of a value shown

# Kinds of findings, in the order they are reported.
ONLY_A = "only in A"
ONLY_B = "only in B"
NAMESPACE = "namespace"
STATUS = "status"
ERROR_TYPE = "error type"
ERROR_MESSAGE = "error message"
REMOVED = "member removed"
ADDED = "member added"
CHANGED = "member changed"
BODY = "body changed"
APPEARED = "violation appeared"
DISAPPEARED = "violation disappeared"
KINDS = (
    ONLY_A, ONLY_B, NAMESPACE, STATUS, ERROR_TYPE, ERROR_MESSAGE,
    REMOVED, ADDED, CHANGED, BODY, APPEARED, DISAPPEARED,
)  # fmt: skip

Recording = tuple[str, Sequence[Interaction]]  # (source, its interactions)


@dataclass
class Example:
    """One occurrence of a finding: where in A and B, which call, both values (clipped)."""

    a: str | None  # "FILE #N", or None when the call is only in B
    b: str | None
    call: str
    value_a: str | None = None
    value_b: str | None = None


@dataclass
class Finding:
    """One kind of difference at one place of one operation, with how often it occurred."""

    kind: str
    what: str  # a pointer (array indices as *), "200 -> 404", a violation, a call
    count: int = 0
    examples: list[Example] = field(default_factory=list)


@dataclass
class OperationDiff:
    operation: str
    calls_a: int = 0
    calls_b: int = 0
    paired: int = 0
    findings: list[Finding] = field(default_factory=list)
    latency: LatencyComparison | None = None
    paired_differing: int = 0  # paired calls with at least one finding

    @property
    def in_calls(self) -> int:
        """Differences found in calls: each finding once per call it occurs in."""
        return sum(f.count for f in self.findings)

    @property
    def calls_differing(self) -> int:
        """Calls with at least one difference: paired calls that differ, calls only in A or B."""
        return self.paired_differing + sum(
            f.count for f in self.findings if f.kind in (ONLY_A, ONLY_B)
        )

    @property
    def latency_changes(self) -> int:
        return int(bool(self.latency and self.latency.changed))

    @property
    def differences(self) -> int:
        return self.in_calls + self.latency_changes


@dataclass
class DiffResult:
    baseline: list[str]
    candidate: list[str]
    operations: list[OperationDiff]
    other_a: int = 0  # interactions that are no proxy-session call: not compared
    other_b: int = 0
    files_only_a: list[str] = field(default_factory=list)  # directory vs directory
    files_only_b: list[str] = field(default_factory=list)
    not_read: int = 0  # files in the directories that are no recording (by suffix)
    ignore: list[str] = field(default_factory=list)
    time_tolerance_s: float = DEFAULT_TIME_TOLERANCE
    latency_test: dict[str, Any] = field(default_factory=dict)

    @property
    def differences(self) -> int:
        """How many differences: findings (each occurrence), latency changes, unpaired files."""
        return (
            sum(op.differences for op in self.operations)
            + len(self.files_only_a)
            + len(self.files_only_b)
        )

    @property
    def in_calls(self) -> int:
        return sum(op.in_calls for op in self.operations)

    @property
    def calls_differing(self) -> int:
        return sum(op.calls_differing for op in self.operations)

    @property
    def latency_changes(self) -> int:
        return sum(op.latency_changes for op in self.operations)

    @property
    def equivalent(self) -> bool:
        return self.differences == 0

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for op, d in zip(self.operations, out["operations"], strict=True):
            d.update(_counts(op))
        out["equivalent"] = self.equivalent
        out.update(_counts(self))
        return out


def _counts(of: OperationDiff | DiffResult) -> dict[str, int]:
    """What the renderers say of an operation or of the whole: differences, and where."""
    return {
        "differences": of.differences,
        "differences_in_calls": of.in_calls,
        "calls_differing": of.calls_differing,
        "latency_changes": of.latency_changes,
    }


# --- comparing -----------------------------------------------------------------------------------


def diff_recordings(
    baseline: Sequence[Recording],
    candidate: Sequence[Recording],
    *,
    ignore: Sequence[jsondoc.PointerPattern] = (),
    time_tolerance: float = DEFAULT_TIME_TOLERANCE,
    latency_ratio: float = MIN_RATIO,
    hosts: HostPolicy = DEFAULT_HOSTS,
    by_file: bool = False,
    baseline_root: str | None = None,
    candidate_root: str | None = None,
) -> DiffResult:
    """Compare two recordings (see the module docstring).

    ``by_file``: pair the files of two directories by their path under ``baseline_root`` and
    ``candidate_root`` and compare file with file (sessions numbered per file); a file on one
    side only is reported. Otherwise each side is one recording, its files in the order given.
    """
    result = DiffResult(
        baseline=[s for s, _ in baseline],
        candidate=[s for s, _ in candidate],
        operations=[OperationDiff(op) for op in OPERATIONS],
        ignore=[p.text for p in ignore],
        time_tolerance_s=time_tolerance,
        latency_test={
            "test": TEST_NAME,
            "alpha": ALPHA,
            "min_samples": MIN_SAMPLES,
            "min_ratio": latency_ratio,
            "min_shift_ms": MIN_SHIFT_MS,
        },
    )
    comparison = _Comparison(result, ignore, time_tolerance)
    if by_file:
        scopes, result.files_only_a, result.files_only_b = _by_relative_path(
            baseline, candidate, baseline_root or "", candidate_root or ""
        )
        # the files compared; those on one side only are files_only_a and files_only_b
        result.baseline = [s for a, _ in scopes for s, _ in a]
        result.candidate = [s for _, b in scopes for s, _ in b]
    else:
        scopes = [(list(baseline), list(candidate))]
    for a, b in scopes:
        comparison.scope(a, b, hosts)
    for op in result.operations:
        op.latency = compare_latency(
            comparison.latency_a.get(op.operation, []),
            comparison.latency_b.get(op.operation, []),
            min_ratio=latency_ratio,
        )
        op.findings.sort(key=lambda f: KINDS.index(f.kind))
    result.operations = [op for op in result.operations if op.calls_a or op.calls_b]
    return result


def _by_relative_path(
    baseline: Sequence[Recording], candidate: Sequence[Recording], root_a: str, root_b: str
) -> tuple[list[tuple[list[Recording], list[Recording]]], list[str], list[str]]:
    rel_a = {os.path.relpath(s, root_a): (s, i) for s, i in baseline}
    rel_b = {os.path.relpath(s, root_b): (s, i) for s, i in candidate}
    scopes = [([rel_a[r]], [rel_b[r]]) for r in sorted(rel_a) if r in rel_b]
    only_a = [rel_a[r][0] for r in sorted(rel_a) if r not in rel_b]
    only_b = [rel_b[r][0] for r in sorted(rel_b) if r not in rel_a]
    return scopes, only_a, only_b


class _Comparison:
    """Findings gathered scope by scope into one result."""

    def __init__(
        self, result: DiffResult, ignore: Sequence[jsondoc.PointerPattern], tolerance: float
    ) -> None:
        self.result = result
        self.ignore = ignore
        self.tolerance = tolerance
        self.ops = {op.operation: op for op in result.operations}
        self.findings: dict[tuple[str, str, str], Finding] = {}
        self.latency_a: dict[str, list[float]] = {}
        self.latency_b: dict[str, list[float]] = {}

    def scope(self, a: Sequence[Recording], b: Sequence[Recording], hosts: HostPolicy) -> None:
        side_a, side_b = read_side(a, hosts), read_side(b, hosts)
        self.result.other_a += side_a.other
        self.result.other_b += side_b.other
        sessions_a, sessions_b = session_labels(side_a, side_b)
        calls_a = canonical_calls(side_a, {**sessions_a, **token_labels(side_a)}, self.ignore)
        calls_b = canonical_calls(side_b, {**sessions_b, **token_labels(side_b)}, self.ignore)
        for calls, counts, latency in (
            (calls_a, "calls_a", self.latency_a),
            (calls_b, "calls_b", self.latency_b),
        ):
            for c in calls:
                op = self.ops[c.operation]
                setattr(op, counts, getattr(op, counts) + 1)
                if c.latency_ms is not None:
                    latency.setdefault(c.operation, []).append(c.latency_ms)
        waiting: dict[tuple, deque[Call]] = {}
        for c in calls_b:
            waiting.setdefault(c.key, deque()).append(c)
        for ca in calls_a:
            queue = waiting.get(ca.key)
            if queue:
                self.pair(ca, queue.popleft())
            else:
                self.add(ca.operation, ONLY_A, _only(ca), Example(_at(ca), None, ca.describe()))
        for queue in waiting.values():
            for cb in queue:
                self.add(cb.operation, ONLY_B, _only(cb), Example(None, _at(cb), cb.describe()))

    def add(self, operation: str, kind: str, what: str, example: Example) -> None:
        key = (operation, kind, what)
        finding = self.findings.get(key)
        if finding is None:
            finding = self.findings[key] = Finding(kind, what)
            self.ops[operation].findings.append(finding)
        finding.count += 1
        if len(finding.examples) < EXAMPLES:
            finding.examples.append(example)

    def pair(self, a: Call, b: Call) -> None:
        op = self.ops[a.operation]
        op.paired += 1
        differences = call_differences(a, b, ignore=self.ignore, tolerance=self.tolerance)
        op.paired_differing += bool(differences)
        counted: set[tuple[str, str]] = set()
        for d in differences:
            # A finding counts calls: a member that differs at several places of one answer
            # (say each participant's number, /Participants/*/...) is one call, its first place
            # the example.
            if (d.kind, d.what) in counted:
                continue
            counted.add((d.kind, d.what))
            example = Example(_at(a), _at(b), a.describe(), d.value_a, d.value_b)
            self.add(a.operation, d.kind, d.what, example)


# Kinds whose ``what`` does not already hold both values.
_VALUES_SHOWN = frozenset({REMOVED, ADDED, CHANGED, BODY})


@dataclass(frozen=True)
class Difference:
    """One difference between two paired calls: its kind, where or what, both values shown."""

    kind: str
    what: str
    value_a: str | None = None
    value_b: str | None = None

    def __str__(self) -> str:
        """``member removed /ProxySession/Name: "order 1" -> (missing)``, ``status 204 -> 200``."""
        text = f"{self.kind} {self.what}".rstrip()
        if self.kind in _VALUES_SHOWN and (self.value_a is not None or self.value_b is not None):
            text += f": {self.value_a or '-'} -> {self.value_b or '-'}"
        return text

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def call_differences(
    a: Call,
    b: Call,
    *,
    ignore: Sequence[jsondoc.PointerPattern] = (),
    tolerance: float = DEFAULT_TIME_TOLERANCE,
) -> list[Difference]:
    """What paired calls ``a`` (baseline) and ``b`` say differently, in the order of KINDS:
    namespace, status, error type and message (when either failed) or response members by JSON
    pointer (when both succeeded), violations that appeared or disappeared."""
    found: list[Difference] = []
    add = found.append
    if a.namespace != b.namespace:
        add(Difference(NAMESPACE, f"{a.namespace} -> {b.namespace}", a.namespace, b.namespace))
    if a.status != b.status:
        add(Difference(STATUS, f"{a.status} -> {b.status}", str(a.status), str(b.status)))
    if a.is_error or b.is_error:
        if a.error_type != b.error_type:
            what = f"{a.error_type or 'none'} -> {b.error_type or 'none'}"
            add(Difference(ERROR_TYPE, what, shown(a.error_type), shown(b.error_type)))
        if a.error_message != b.error_message:
            va, vb = shown(a.error_message), shown(b.error_message)
            add(Difference(ERROR_MESSAGE, f"{va} -> {vb}", va, vb))
    else:
        found += _members(a, b, ignore, tolerance)
    for v in sorted(b.violations - a.violations, key=lambda v: v.text):
        add(Difference(APPEARED, v.text))
    for v in sorted(a.violations - b.violations, key=lambda v: v.text):
        add(Difference(DISAPPEARED, v.text))
    return found


def _members(
    a: Call, b: Call, ignore: Sequence[jsondoc.PointerPattern], tolerance: float
) -> list[Difference]:
    """Response members added, removed or changed, by JSON pointer (both answers succeeded)."""
    if a.response == b.response:
        return []
    json_a = a.response is not None and not isinstance(a.response, bytes)
    json_b = b.response is not None and not isinstance(b.response, bytes)
    if not (json_a and json_b):
        return [Difference(BODY, "", _body(a.response), _body(b.response))]

    def same(x: Any, y: Any) -> bool:
        """Leaves alike: timestamps by their distance from creation, within the tolerance."""
        if type(x) is Delta and type(y) is Delta:
            sign_x = (x.seconds > 0) - (x.seconds < 0)
            sign_y = (y.seconds > 0) - (y.seconds < 0)
            return sign_x == sign_y and abs(x.seconds - y.seconds) <= tolerance
        if x is jsondoc.MISSING or y is jsondoc.MISSING:
            return False
        return type(x) is type(y) and x == y

    found = []
    for pointer, va, vb in jsondoc.iter_differences(
        a.response, b.response, same=same, unordered_scalars=True
    ):
        if jsondoc.covered(pointer, ignore):
            continue
        kind = ADDED if va is jsondoc.MISSING else REMOVED if vb is jsondoc.MISSING else CHANGED
        found.append(Difference(kind, generalized(pointer), shown(va), shown(vb)))
    return found


def _at(call: Call) -> str:
    return f"{call.source} #{call.index}"


def _only(call: Call) -> str:
    return f"{call.describe()} -> {call.status}"


def generalized(pointer: str) -> str:
    """A pointer with array indices as ``*``: one finding for every List item."""
    return "/".join("*" if part.isdigit() else part for part in pointer.split("/"))


def shown(value: Any, limit: int = CLIP) -> str:
    """A value as a diff shows it: JSON text clipped to ``limit`` characters, or what it stands for."""
    if value is jsondoc.MISSING:
        return "(missing)"
    if value is None:
        return "null"
    if isinstance(value, Delta) or value is STAMP:
        return str(value)
    text = json.dumps(_plain(value), ensure_ascii=False, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _plain(value: Any) -> Any:
    if isinstance(value, Delta) or value is STAMP:
        return str(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _body(value: Any) -> str:
    if value is None:
        return "(empty)"
    if isinstance(value, bytes):
        return f"{len(value)} bytes, not JSON"
    return shown(value)


def patterns(texts: Iterable[str]) -> list[jsondoc.PointerPattern]:
    """Pointer patterns from ``--ignore`` values; ValueError naming a bad one."""
    return [jsondoc.PointerPattern(t) for t in texts]


def read_ignore_file(path: str | os.PathLike[str]) -> list[str]:
    """The patterns of an ignore file: one per line; blank lines and ``#`` comments skipped."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        raise InputError(f"--ignore-file {path}: cannot be read ({reason})") from None
    return [s for s in (line.strip() for line in text.splitlines()) if s and not s.startswith("#")]
