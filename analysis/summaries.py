"""Reports, each a function of the tidy frame that returns a DataFrame (or a small dict).

Each summary is defined once, as three steps: a *partial* of one partition of the frame (a file's
rows, a dataset's day), a *merge* of two partials of consecutive partitions (the earlier first;
associative, so partitions merge in any grouping that keeps their order) and a *finish* that
shapes the merged partial into the table. :func:`summarize` runs the three on one frame; the
dataset engines (``chime_tap.analysis.engines``) run the same three per partition, in one
process, in a process pool or on a Dask cluster.

Latency quantiles are exact for a frame (the partial keeps the values) and sketched for a
dataset (``sketched=True``: the partial keeps DDSketch bucket counts, see
:mod:`chime_tap.analysis.sketch`, and the summary says so). Everything else is exact either way.

Calls that are not proxy-session operations (other traffic in a flow file or HAR) are counted
under :data:`OTHER`, as operation and as namespace.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from chime_tap.analysis import lifecycle, sketch
from chime_tap.analysis.lifecycle import DELETED, SESSION_COLUMNS, SESSION_KEY, sessions
from chime_tap.analysis.lifecycle import operation_labels as _operation
from chime_tap.analysis.lifecycle import text as _text
from chime_tap.analysis.load import DIFFERENCE_SEP, LISTED_FIELD_SEP, VIOLATION_SEP
from chime_tap.api.hosts import NAMESPACES

__all__ = ["DELETED", "SESSION_COLUMNS", "SESSION_KEY", "sessions"]

OTHER = lifecycle.OTHER
SIGV4_WINDOW_S = 300.0  # SigV4 rejects a request whose X-Amz-Date is more than 5 minutes off
# answered_by values whose Date header is chime-tap's own clock, not the service's: the
# simulator (``addon``, whose clock a test may move) and enforce mode (``chime-tap``).
NOT_SERVICE_CLOCK = ("addon", "chime-tap")
QUANTILES = {"p25": 0.25, "p50": 0.50, "p75": 0.75, "p95": 0.95, "p99": 0.99}

# Interval candidates for traffic over time; the first giving at most MAX_BUCKETS is used. Each
# divides the next, and pandas floors fixed intervals from the epoch, so counts floored to one
# interval floor again to any later one exactly: partitions count at their own interval.
INTERVALS = ("1s", "5s", "15s", "1min", "5min", "15min", "1h", "6h", "1D", "7D")
MAX_BUCKETS = 60

# The frame's columns the summaries read: what a dataset reader needs to load.
COLUMNS_USED = (
    "recorded_at", "operation", "namespace", "voice_connector_id", "proxy_session_id",
    "status", "error_type", "error_message", "latency_ms", "violation_count", "violations",
    "expiry_minutes", "session_status", "created_at", "updated_at", "ended_at", "amz_date",
    "response_date", "clock_skew_s", "answered_by", "origin", "acknowledged", "listed_sessions",
    "differences",
)  # fmt: skip


def _namespace(frame: pd.DataFrame) -> pd.Series:
    """The namespace as plain labels, with non-proxy-session calls as OTHER."""
    return _text(frame["namespace"], OTHER).rename("namespace")


def select(
    frame: pd.DataFrame,
    *,
    since: pd.Timestamp | None = None,
    until: pd.Timestamp | None = None,
    operations: list[str] | None = None,
) -> pd.DataFrame:
    """The rows recorded in [since, until) and, when given, of the named operations."""
    keep = pd.Series(True, index=frame.index)
    if since is not None:
        keep &= frame["recorded_at"] >= since
    if until is not None:
        keep &= frame["recorded_at"] < until
    if operations:
        keep &= _operation(frame).isin(operations)
    return frame.loc[keep].reset_index(drop=True)


def _coded(values: pd.Series, missing: str) -> pd.Series:
    """A few-valued column as categories, a missing value as the category ``missing``: what
    a partial groups by, by code (grouping by each row's text made and hashed that text again,
    a tenth of a dataset report's time); :func:`_as_text` turns the few keys of the result back
    into text, so partials hold the same tables as before."""
    if not isinstance(values.dtype, pd.CategoricalDtype):
        values = values.astype("category")
    labels = [str(c) for c in values.cat.categories]
    if missing not in labels:
        labels.append(missing)
    codes = values.cat.codes.to_numpy()
    codes = np.where(codes < 0, labels.index(missing), codes)
    return pd.Series(pd.Categorical.from_codes(codes, labels), index=values.index, name=values.name)


def _coded_keys(frame: pd.DataFrame, by_namespace: bool) -> list[pd.Series]:
    """What a table is broken down by: the operation, after the namespace when asked; as
    categories (see :func:`_coded`)."""
    operation = _coded(frame["operation"], OTHER).rename("operation")
    if not by_namespace:
        return [operation]
    return [_coded(frame["namespace"], OTHER).rename("namespace"), operation]


def _as_text(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with its categorical columns and index levels as text."""
    index = table.index
    if isinstance(index, pd.MultiIndex):
        index = pd.MultiIndex.from_arrays(
            [_level_text(index.get_level_values(i)) for i in range(index.nlevels)],
            names=index.names,
        )
    else:
        index = _level_text(index)
    columns = {
        name: table[name].astype("str")
        for name in table.columns
        if isinstance(table[name].dtype, pd.CategoricalDtype)
    }
    return table.assign(**columns).set_axis(index, axis=0)


def _level_text(level: pd.Index) -> pd.Index:
    return level.astype("str") if isinstance(level, pd.CategoricalIndex) else level


def _crosstab(rows: list[pd.Series], column: pd.Series) -> pd.DataFrame:
    """``pd.crosstab(rows, column)`` (counts; rows and columns in sorted order, categories as
    text), by a group-by on codes: crosstab's pivot of categories took 1.5x its time on text,
    and text took a hash of every row's label."""
    counts = (
        pd.concat([*rows, column], axis=1)
        .groupby([*(r.name for r in rows), column.name], observed=True)
        .size()
    )
    table = _as_text(counts.unstack(column.name, fill_value=0))
    table.columns = _level_text(table.columns)
    return table.sort_index().sort_index(axis=1).astype("int64")


def _add_tables(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    """Two count tables added cell by cell (a cell missing from one counts 0)."""
    return a.add(b, fill_value=0).fillna(0).astype("int64")


def _regroup(table: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Count rows of the same keys summed, in order of first appearance."""
    return table.groupby(keys, sort=False, dropna=False).sum().reset_index()


# --- interactions, time range, namespaces -------------------------------------------------------


def _span_partial(frame: pd.DataFrame) -> dict[str, Any]:
    times = frame["recorded_at"].dropna()
    return {
        "rows": len(frame),
        "start": times.min() if len(times) else None,
        "end": times.max() if len(times) else None,
        "namespaces": set(_text(frame["namespace"]).dropna().unique()),
        "by_namespace": _namespace(frame).value_counts(sort=False),
    }


def _earliest(a: Any, b: Any, pick: Any) -> Any:
    return b if a is None else a if b is None else pick(a, b)


def _span_merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    counts = pd.concat([a["by_namespace"], b["by_namespace"]])
    return {
        "rows": a["rows"] + b["rows"],
        "start": _earliest(a["start"], b["start"], min),
        "end": _earliest(a["end"], b["end"], max),
        "namespaces": a["namespaces"] | b["namespaces"],
        "by_namespace": counts.groupby(level=0, sort=False).sum().rename("count"),
    }


def time_range(frame: pd.DataFrame) -> dict[str, Any]:
    """First and last recorded time and the span in seconds (None when nothing is timed)."""
    return _time_range(_span_partial(frame))


def _time_range(part: dict[str, Any]) -> dict[str, Any]:
    start, end = part["start"], part["end"]
    if start is None:
        return {"start": None, "end": None, "seconds": 0.0}
    return {"start": start, "end": end, "seconds": (end - start).total_seconds()}


def _namespace_counts(counts: pd.Series) -> pd.Series:
    """Interactions per namespace, most first, ties by namespace."""
    table = counts.rename("count").rename_axis("namespace").reset_index()
    return _by_count(table, ["namespace"]).set_index("namespace")["count"]


def namespaces(frame: pd.DataFrame) -> list[str]:
    """The API namespaces the traffic used (``legacy``, ``voice``), in the catalogue's order."""
    return _namespaces(_span_partial(frame)["namespaces"])


def _namespaces(present: set[str]) -> list[str]:
    return [ns for ns in NAMESPACES if ns in present]


# --- status codes -------------------------------------------------------------------------------


def _codes_partial(frame: pd.DataFrame, by_namespace: bool) -> pd.DataFrame:
    return _crosstab(_coded_keys(frame, by_namespace), frame["status"].rename("status"))


def _codes_finish(table: pd.DataFrame) -> pd.DataFrame:
    return table.sort_index().sort_index(axis=1).astype("int64").rename_axis(columns="status")


def status_codes(frame: pd.DataFrame, *, by_namespace: bool = False) -> pd.DataFrame:
    """Calls per operation (rows; namespace and operation ``by_namespace``) and status code."""
    return _codes_finish(_codes_partial(frame, by_namespace))


# --- errors -------------------------------------------------------------------------------------


def _errors_partial(frame: pd.DataFrame, by_namespace: bool) -> pd.DataFrame:
    failed = frame.loc[frame["status"].eq(0) | frame["status"].ge(400)]
    keys = pd.DataFrame(
        {
            **({"namespace": _coded(failed["namespace"], OTHER)} if by_namespace else {}),
            "operation": _coded(failed["operation"], OTHER),
            "error_type": _coded(failed["error_type"], "(none)"),
            "error_message": failed["error_message"].fillna(""),
            "status": failed["status"],
        }
    )
    counts = keys.groupby(list(keys.columns), sort=False, observed=True).size().rename("count")
    return _as_text(counts.reset_index())


def _errors_merge(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    keys = [c for c in a.columns if c != "count"]
    return _regroup(pd.concat([a, b], ignore_index=True), keys)


def _by_count(counts: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """A count table most frequent first, ties in the order of their keys: the same rows come
    out in the same order however the partials were cut and merged (a cassette's rows, a
    dataset's days, on any engine)."""
    order = ["count", *keys]
    out = counts.sort_values(order, ascending=[False, *[True] * len(keys)], kind="stable")
    return out.reset_index(drop=True)


def _errors_finish(counts: pd.DataFrame) -> pd.DataFrame:
    return _by_count(counts, [c for c in counts.columns if c != "count"])


def errors(frame: pd.DataFrame, *, by_namespace: bool = False) -> pd.DataFrame:
    """Failed calls counted by (namespace,) operation, error type and message, most frequent first."""
    return _errors_finish(_errors_partial(frame, by_namespace))


# --- latency ------------------------------------------------------------------------------------
# Exact: the partial is the timed calls' (namespace, operation, latency). Sketched: per group,
# the exact count, min, max and sum, and DDSketch bucket counts for the quantiles.


def _latency_partial(frame: pd.DataFrame, sketched: bool) -> dict[str, Any]:
    timed = frame.loc[frame["latency_ms"].notna()]
    if not sketched:
        values = pd.DataFrame(
            {
                "namespace": _namespace(timed),
                "operation": _operation(timed),
                "latency_ms": timed["latency_ms"],
            }
        )
        return {"values": values}
    namespace, operation = _coded_keys(timed, by_namespace=True)
    signs, keys = sketch.bucket_keys(timed["latency_ms"].to_numpy())
    values = pd.DataFrame(
        {"namespace": namespace, "operation": operation, "latency_ms": timed["latency_ms"],
         "sign": signs, "key": keys}
    )  # fmt: skip
    out: dict[str, Any] = {}
    for level, by in (("operation", ["operation"]), ("namespace", ["namespace", "operation"])):
        grouped = values.groupby(by, sort=False, observed=True)["latency_ms"]
        stats = _as_text(grouped.agg(["count", "min", "max", "sum"]).reset_index())
        buckets = values.groupby([*by, "sign", "key"], sort=False, observed=True).size()
        out[f"stats_{level}"] = stats.drop(columns="sum")
        out[f"sums_{level}"] = stats[[*by, "sum"]]
        out[f"buckets_{level}"] = _as_text(buckets.rename("count").reset_index())
    return out


def _latency_merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    if "values" in a:
        return {"values": pd.concat([a["values"], b["values"]], ignore_index=True)}
    out: dict[str, Any] = {}
    for level, by in (("operation", ["operation"]), ("namespace", ["namespace", "operation"])):
        stats = pd.concat([a[f"stats_{level}"], b[f"stats_{level}"]], ignore_index=True)
        grouped = stats.groupby(by, sort=False)
        out[f"stats_{level}"] = grouped.agg(
            count=("count", "sum"), min=("min", "min"), max=("max", "max")
        ).reset_index()
        # Each partition's sums kept apart, in order, and added up once by the finish: the
        # mean is then the same float whichever grouping the merges took (a cluster of one
        # worker and one of two differed in the last digit of a mean).
        sums = [a[f"sums_{level}"], b[f"sums_{level}"]]
        out[f"sums_{level}"] = pd.concat(sums, ignore_index=True)
        buckets = pd.concat([a[f"buckets_{level}"], b[f"buckets_{level}"]], ignore_index=True)
        out[f"buckets_{level}"] = _regroup(buckets, [*by, "sign", "key"])
    return out


def _latency_finish(part: dict[str, Any], by_namespace: bool) -> pd.DataFrame:
    names = ["namespace", "operation"] if by_namespace else ["operation"]
    if "values" in part:
        timed = part["values"]
        keys = [timed[k] for k in names]
        grouped = timed["latency_ms"].groupby(keys, sort=True)
        parts = {"count": grouped.size(), "min": grouped.min()}
        for name, q in QUANTILES.items():
            parts[name] = grouped.quantile(q)
        parts["mean"] = grouped.mean()
        parts["max"] = grouped.max()
        out = pd.DataFrame(parts)
    else:
        level = "namespace" if by_namespace else "operation"
        stats = part[f"stats_{level}"].set_index(names).sort_index()
        sums = part[f"sums_{level}"].groupby(names, sort=False)["sum"].sum()
        buckets = part[f"buckets_{level}"]
        rows = {
            group: sketch.quantiles(table, QUANTILES)
            for group, table in buckets.groupby(names if by_namespace else names[0], sort=True)
        }
        quantiles = pd.DataFrame.from_dict(rows, orient="index", columns=list(QUANTILES))
        # The true quantile lies between the exact min and max; so, clipped, does the estimate.
        quantiles = quantiles.reindex(stats.index).clip(stats["min"], stats["max"], axis=0)
        out = pd.DataFrame(
            {
                "count": stats["count"],
                "min": stats["min"],
                **{name: quantiles[name] for name in QUANTILES},
                "mean": sums.reindex(stats.index) / stats["count"],
                "max": stats["max"],
            }
        )
    out.index.names = names
    return out.astype({"count": "int64"})


def latency(frame: pd.DataFrame, *, by_namespace: bool = False) -> pd.DataFrame:
    """Latency (ms) per (namespace and) operation: count of timed calls, min, quartiles, p95,
    p99, mean and max."""
    return _latency_finish(_latency_partial(frame, sketched=False), by_namespace)


# --- traffic over time --------------------------------------------------------------------------


def interval_for(span: pd.Timedelta) -> str:
    """The shortest interval from INTERVALS that cuts ``span`` into at most MAX_BUCKETS."""
    for interval in INTERVALS:
        if span / pd.Timedelta(interval) <= MAX_BUCKETS:
            return interval
    return INTERVALS[-1]


def status_class(status: pd.Series) -> pd.Series:
    """``2xx``/``3xx``/``4xx``/``5xx``, or ``no response`` for status 0: a category per class
    present, in the labels' text order (each row's text is made once per class, not per row)."""
    key = np.where(status.to_numpy() == 0, -1, status.to_numpy() // 100)
    present = np.unique(key)
    labels = ["no response" if k < 0 else f"{k}xx" for k in present.tolist()]
    order = sorted(range(len(labels)), key=labels.__getitem__)
    codes = np.empty(len(present), np.int64)
    codes[order] = np.arange(len(order))
    classes = pd.Categorical.from_codes(
        codes[np.searchsorted(present, key)], [labels[i] for i in order]
    )
    return pd.Series(classes, index=status.index, name="class")


def _traffic_partial(frame: pd.DataFrame, interval: str | None = None) -> dict[str, Any] | None:
    """Calls per bucket and status class, at the interval this partition's own span needs."""
    timed = frame.loc[frame["recorded_at"].notna()]
    if timed.empty:
        return None
    start, end = timed["recorded_at"].min(), timed["recorded_at"].max()
    interval = interval or interval_for(end - start)
    bucket = timed["recorded_at"].dt.floor(interval).rename("interval")
    table = _crosstab([bucket], status_class(timed["status"]))
    return {"interval": interval, "start": start, "end": end, "table": table}


def _coarser(table: pd.DataFrame, interval: str) -> pd.DataFrame:
    floored = table.index.floor(interval).rename("interval")
    return table.groupby(floored, sort=True).sum()


def _traffic_merge(a: dict[str, Any] | None, b: dict[str, Any] | None) -> dict[str, Any] | None:
    if a is None or b is None:
        return b if a is None else a
    start, end = min(a["start"], b["start"]), max(a["end"], b["end"])
    interval = max(a["interval"], b["interval"], interval_for(end - start), key=INTERVALS.index)
    table = _add_tables(_coarser(a["table"], interval), _coarser(b["table"], interval))
    return {"interval": interval, "start": start, "end": end, "table": table}


def _traffic_finish(part: dict[str, Any] | None, interval: str | None = None) -> pd.DataFrame:
    if part is None:
        return pd.DataFrame(index=pd.DatetimeIndex([], tz="UTC", name="interval"))
    interval = interval or interval_for(part["end"] - part["start"])
    table = part["table"]
    if part["interval"] != interval:
        table = _coarser(table, interval)
    table = table.sort_index(axis=1)
    full = pd.date_range(table.index.min(), table.index.max(), freq=interval, name="interval")
    table = table.reindex(full, fill_value=0).astype("int64")
    table.columns.name = "class"
    table.attrs["interval"] = interval
    return table


def traffic(frame: pd.DataFrame, interval: str | None = None) -> pd.DataFrame:
    """Calls per interval by status class; the interval is chosen from the time span if not given."""
    return _traffic_finish(_traffic_partial(frame, interval), interval)


# --- clock skew ---------------------------------------------------------------------------------
# Exact either way: skew is a difference of two whole-second clocks, so a dataset's partial
# counts each value (few distinct ones) and a frame's keeps them.


def _skew_partial(frame: pd.DataFrame, sketched: bool) -> dict[str, Any]:
    own = _text(frame["answered_by"]).isin(NOT_SERVICE_CLOCK)
    skew = frame["clock_skew_s"].where(~own).dropna()
    not_ours = int((own & frame["clock_skew_s"].notna()).sum())
    if sketched:
        counts = skew.value_counts(sort=False).rename("count").rename_axis("skew_s")
        return {"counts": counts, "not_service_clock": not_ours}
    return {"values": skew, "not_service_clock": not_ours}


def _skew_merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    out = {"not_service_clock": a["not_service_clock"] + b["not_service_clock"]}
    if "values" in a:
        out["values"] = pd.concat([a["values"], b["values"]], ignore_index=True)
    else:
        counts = pd.concat([a["counts"], b["counts"]])
        out["counts"] = counts.groupby(level=0, sort=False).sum()
    return out


def _skew_finish(part: dict[str, Any]) -> dict[str, Any]:
    """The statistics of the skew values, from each distinct value's count (a dataset's
    millions of calls have a few hundred): only the quantiles look at the values one by one."""
    counts = part["counts"] if "counts" in part else part["values"].value_counts(sort=False)
    counts = counts.sort_index()
    values, weights = counts.index.to_numpy(dtype="float64"), counts.to_numpy(dtype="int64")
    total = int(weights.sum())
    outside = int(weights[np.abs(values) > SIGV4_WINDOW_S].sum())
    stats: dict[str, Any] = {
        "count": total,
        "outside_window": outside,
        "window_s": SIGV4_WINDOW_S,
        "not_service_clock": part["not_service_clock"],
    }
    if total:
        # Whole seconds, so the weighted sum is the values' sum exactly.
        q = quantiles_of_counts(values, weights, [0.0, 0.5, 0.95, 1.0])
        stats.update(
            min=float(q[0]),
            p50=float(q[1]),
            p95=float(q[2]),
            max=float(q[3]),
            mean=float(np.dot(values, weights) / total),
        )
        stats["histogram"] = _histogram(values, weights)
    stats["warning"] = (
        f"{outside} call(s) with clock skew beyond SigV4's {SIGV4_WINDOW_S / 60:.0f}-minute window: "
        "AWS rejects such requests (check the client's clock)"
        if outside
        else None
    )
    return stats


def clock_skew(frame: pd.DataFrame) -> dict[str, Any]:
    """Client clock (X-Amz-Date) minus server clock (Date) in seconds, and the SigV4 warning.

    Only answers whose Date is the service's clock count: not those chime-tap gave itself
    (:data:`NOT_SERVICE_CLOCK`), whose clock a test may have moved on purpose. Answers from
    upstream, and interactions that do not say who answered (foreign cassettes), count.
    """
    return _skew_finish(_skew_partial(frame, sketched=False))


def quantiles_of_counts(values: np.ndarray, weights: np.ndarray, qs: list[float]) -> np.ndarray:
    """``np.quantile(np.repeat(values, weights), qs)`` (what ``Series.quantile`` gives: the
    linear method) of sorted distinct ``values``, without making the repeated array: numpy's
    own steps, the virtual index ``(n - 1) * q``, its two neighbours, and numpy's ``_lerp``."""
    n = int(weights.sum())
    virtual = (n - 1) * np.asarray(qs, dtype="float64")
    below = np.floor(virtual)
    above = virtual >= n - 1  # numpy takes the last value there
    at = np.cumsum(weights)
    a = values[np.searchsorted(at, np.where(above, n - 1, below), side="right")]
    b = values[np.searchsorted(at, np.where(above, n - 1, below + 1), side="right")]
    t = virtual - below
    diff = b - a
    return np.where(t >= 0.5, b - diff * (1 - t), a + diff * t)


def _histogram(values: np.ndarray, weights: np.ndarray) -> list[dict[str, float]]:
    """Up to 10 equal bins over the distinct ``values``, each counting their ``weights``."""
    counts, edges = np.histogram(values, bins=min(10, max(1, len(values))), weights=weights)
    return [
        {"from_s": float(a), "to_s": float(b), "count": int(c)}
        for a, b, c in zip(edges[:-1], edges[1:], counts, strict=True)
    ]


# --- timing gaps --------------------------------------------------------------------------------

# Why an interaction has no latency, by what wrote it (the frame's ``origin``).
NO_LATENCY = {
    "chime-tap": "whose chime-tap metadata has no duration_ms",
    "vcrpy": "from cassettes written by vcrpy, which keeps no timing",
    "flow": "from flow files, without a response",
    "har": "from HAR entries without timings",
}
_MEASURES = ("latency", "clock skew")


_SKEW_CAUSES = (
    "without a response",
    "with neither X-Amz-Date nor Date",
    "without an X-Amz-Date (unsigned, or not recorded)",
    "without a Date in the response",
)


def _tally(codes: np.ndarray, names: list[str]) -> pd.Series:
    """How many times each code appears, by its name, in order of first appearance (what
    ``value_counts(sort=False)`` of the names gives, without making a name per row)."""
    seen = pd.unique(codes)
    counts = np.bincount(codes, minlength=len(names))[seen]
    index = pd.Index([names[c] for c in seen], dtype="str")
    return pd.Series(counts, index=index, dtype="int64", name="count")


def _gaps_partial(frame: pd.DataFrame) -> pd.DataFrame:
    origin = _text(frame.loc[frame["latency_ms"].isna(), "origin"]).astype("category")
    causes = [NO_LATENCY.get(o, "for an unknown reason") for o in origin.cat.categories]
    codes = origin.cat.codes.to_numpy().astype(np.intp)
    codes[codes < 0] = len(causes)
    no_skew = frame.loc[frame["clock_skew_s"].isna()]
    unsigned, undated = no_skew["amz_date"].isna(), no_skew["response_date"].isna()
    skew_causes = np.select(
        [no_skew["status"].eq(0), unsigned & undated, unsigned], [0, 1, 2], 3
    ).astype(np.intp)
    counts = {
        "latency": _tally(codes, [*causes, "for an unknown reason"]),
        "clock skew": _tally(skew_causes, list(_SKEW_CAUSES)),
    }
    table = pd.concat(counts, names=["measure", "cause"]).rename("count").reset_index()
    return table[["measure", "count", "cause"]].astype({"count": "int64"})


def _gaps_merge(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    table = _regroup(pd.concat([a, b], ignore_index=True)[["measure", "cause", "count"]],
                     ["measure", "cause"])  # fmt: skip
    rank = table["measure"].map(_MEASURES.index)
    table = table.iloc[np.argsort(rank.to_numpy(), kind="stable")]
    return table[["measure", "count", "cause"]].reset_index(drop=True).astype({"count": "int64"})


def _gaps_finish(table: pd.DataFrame) -> pd.DataFrame:
    """Latency's causes first, then clock skew's, each most frequent first (ties by cause)."""
    out = table.assign(rank=table["measure"].map(_MEASURES.index))
    out = _by_count(out, ["cause"]).sort_values("rank", kind="stable")
    return out[["measure", "count", "cause"]].reset_index(drop=True)


def timing_gaps(frame: pd.DataFrame) -> pd.DataFrame:
    """Interactions without a latency or a clock skew, counted by what, and why (``cause``)."""
    return _gaps_finish(_gaps_partial(frame))


# --- violations ---------------------------------------------------------------------------------


def _violations_partial(frame: pd.DataFrame) -> pd.DataFrame:
    flagged = frame.loc[frame["violation_count"].gt(0)]
    items = pd.DataFrame(
        {
            "operation": _operation(flagged),
            "violation": flagged["violations"].str.split(VIOLATION_SEP),
        }
    )
    items = items.explode("violation", ignore_index=True)
    return (
        items.groupby(["operation", "violation"], sort=False).size().rename("count").reset_index()
    )


def _violations_merge(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    return _regroup(pd.concat([a, b], ignore_index=True), ["operation", "violation"])


def _violations_finish(counts: pd.DataFrame) -> pd.DataFrame:
    return _by_count(counts, ["operation", "violation"])


def violations(frame: pd.DataFrame) -> pd.DataFrame:
    """Schema violations counted by operation and message, most frequent first."""
    return _violations_finish(_violations_partial(frame))


# --- differences from a baseline (spy mode) ------------------------------------------------------

NO_COUNTERPART = "no recorded counterpart"  # chime_tap.spy's kind for a call with none
_DIFFERENCE_KEYS = ["operation", "kind", "what"]


def _baseline_partial(frame: pd.DataFrame) -> dict[str, Any]:
    noted = frame["differences"] if "differences" in frame else pd.Series([], dtype="str")
    compared = frame.loc[noted.notna()]
    found = compared.loc[compared["differences"].ne("")]
    items = pd.DataFrame(
        {"operation": _operation(found), "item": found["differences"].str.split(DIFFERENCE_SEP)}
    ).explode("item", ignore_index=True)
    fields = items["item"].str.split(LISTED_FIELD_SEP, n=1, expand=True)
    items["kind"] = fields[0] if 0 in fields else pd.Series(dtype="str")
    items["what"] = fields[1].fillna("") if 1 in fields else ""
    return {
        "compared": len(compared),
        "with_differences": len(found),
        "counts": items.groupby(_DIFFERENCE_KEYS, sort=False).size().rename("count").reset_index(),
    }


def _baseline_merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    return {
        "compared": a["compared"] + b["compared"],
        "with_differences": a["with_differences"] + b["with_differences"],
        "counts": _regroup(
            pd.concat([a["counts"], b["counts"]], ignore_index=True), _DIFFERENCE_KEYS
        ),
    }


def _baseline_finish(part: dict[str, Any]) -> dict[str, Any]:
    counts = _by_count(part["counts"], _DIFFERENCE_KEYS)
    return {
        "compared": int(part["compared"]),
        "with_differences": int(part["with_differences"]),
        "without_counterpart": int(counts.loc[counts["kind"].eq(NO_COUNTERPART), "count"].sum()),
        "differences": counts.reset_index(drop=True),
    }


def baseline_differences(frame: pd.DataFrame) -> dict[str, Any]:
    """Spy mode's differences from the baseline: calls compared, calls that differed, and each
    difference counted by operation, kind and what (pointer, status change, ...)."""
    return _baseline_finish(_baseline_partial(frame))


# --- every summary: partial, merge, finish ------------------------------------------------------


def partial(frame: pd.DataFrame, *, sketched: bool = False) -> dict[str, Any]:
    """Every summary's partial of one partition of the frame."""
    return {
        "sketched": sketched,
        "span": _span_partial(frame),
        "status_codes": _codes_partial(frame, False),
        "status_codes_ns": _codes_partial(frame, True),
        "errors": _errors_partial(frame, False),
        "errors_ns": _errors_partial(frame, True),
        "latency": _latency_partial(frame, sketched),
        "traffic": _traffic_partial(frame),
        "sessions": lifecycle.partial(frame),
        "clock_skew": _skew_partial(frame, sketched),
        "violations": _violations_partial(frame),
        "timing_gaps": _gaps_partial(frame),
        "baseline": _baseline_partial(frame),
    }


def merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """The partial of two consecutive partitions, ``a`` the earlier."""
    return {
        "sketched": a["sketched"],
        "span": _span_merge(a["span"], b["span"]),
        "status_codes": _add_tables(a["status_codes"], b["status_codes"]),
        "status_codes_ns": _add_tables(a["status_codes_ns"], b["status_codes_ns"]),
        "errors": _errors_merge(a["errors"], b["errors"]),
        "errors_ns": _errors_merge(a["errors_ns"], b["errors_ns"]),
        "latency": _latency_merge(a["latency"], b["latency"]),
        "traffic": _traffic_merge(a["traffic"], b["traffic"]),
        "sessions": None
        if a["sessions"] is None
        else lifecycle.merge(a["sessions"], b["sessions"]),
        "clock_skew": _skew_merge(a["clock_skew"], b["clock_skew"]),
        "violations": _violations_merge(a["violations"], b["violations"]),
        "timing_gaps": _gaps_merge(a["timing_gaps"], b["timing_gaps"]),
        "baseline": _baseline_merge(a["baseline"], b["baseline"]),
    }


def finish(part: dict[str, Any], settled: list[pd.DataFrame] | None = None) -> dict[str, Any]:
    """Every summary, by name, from the merged partial of all partitions; the session table
    from ``settled`` instead, when the partials' session pieces were cut into buckets
    (:func:`lifecycle.split`) and each bucket settled apart (the cluster engine).

    ``by_namespace`` holds the status code, error and latency tables broken down by namespace
    (``namespaces`` lists those present); the session table always has a namespace column.
    ``latency_quantiles`` says how the latency quantiles were found, when they are sketched.
    """
    span = part["span"]
    summary = {
        "interactions": span["rows"],
        "time_range": _time_range(span),
        "namespaces": _namespaces(span["namespaces"]),
        "status_codes": _codes_finish(part["status_codes"]),
        "errors": _errors_finish(part["errors"]),
        "latency_ms": _latency_finish(part["latency"], False),
        "traffic": _traffic_finish(part["traffic"]),
        "sessions": lifecycle.finish(part["sessions"])
        if settled is None
        else lifecycle.combine(settled),
        "clock_skew": _skew_finish(part["clock_skew"]),
        "violations": _violations_finish(part["violations"]),
        "timing_gaps": _gaps_finish(part["timing_gaps"]),
        "by_namespace": {
            "interactions": _namespace_counts(span["by_namespace"]),
            "status_codes": _codes_finish(part["status_codes_ns"]),
            "errors": _errors_finish(part["errors_ns"]),
            "latency_ms": _latency_finish(part["latency"], True),
        },
    }
    if part["baseline"]["compared"]:  # traffic recorded in spy mode (record --compare-to)
        summary["differences_from_baseline"] = _baseline_finish(part["baseline"])
    if part["sketched"]:
        summary["latency_quantiles"] = {
            "method": "DDSketch",
            "relative_accuracy": sketch.RELATIVE_ACCURACY,
            "note": sketch.describe(),
        }
    return summary


def summarize(frame: pd.DataFrame) -> dict[str, Any]:
    """Every summary of the frame, by name (:func:`finish` of the frame's one partial)."""
    return finish(partial(frame))
