"""Reports, each a function of the tidy frame that returns a DataFrame (or a small dict).

Calls that are not proxy-session operations (other traffic in a flow file or HAR) are counted
under :data:`OTHER`, as operation and as namespace.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from chime_tap.analysis.load import VIOLATION_SEP, listed_sessions
from chime_tap.api.hosts import NAMESPACES

OTHER = "(other)"
SIGV4_WINDOW_S = 300.0  # SigV4 rejects a request whose X-Amz-Date is more than 5 minutes off
# answered_by values whose Date header is chime-tap's own clock, not the service's: the
# simulator (``addon``, whose clock a test may move) and enforce mode (``chime-tap``).
NOT_SERVICE_CLOCK = ("addon", "chime-tap")
QUANTILES = {"p25": 0.25, "p50": 0.50, "p75": 0.75, "p95": 0.95, "p99": 0.99}

# Interval candidates for traffic over time; the first giving at most MAX_BUCKETS is used.
INTERVALS = ("1s", "5s", "15s", "1min", "5min", "15min", "1h", "6h", "1D", "7D")
MAX_BUCKETS = 60


def _operation(frame: pd.DataFrame) -> pd.Series:
    """The operation as plain labels, with non-proxy-session calls as OTHER."""
    return frame["operation"].astype("str").fillna(OTHER).rename("operation")


def _namespace(frame: pd.DataFrame) -> pd.Series:
    """The namespace as plain labels, with non-proxy-session calls as OTHER."""
    return frame["namespace"].astype("str").fillna(OTHER).rename("namespace")


def namespaces(frame: pd.DataFrame) -> list[str]:
    """The API namespaces the traffic used (``legacy``, ``voice``), in the catalogue's order."""
    present = set(frame["namespace"].dropna().astype("str").unique())
    return [ns for ns in NAMESPACES if ns in present]


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


def _keys(frame: pd.DataFrame, by_namespace: bool) -> list[pd.Series]:
    """What a table is broken down by: the operation, after the namespace when asked."""
    return [_namespace(frame), _operation(frame)] if by_namespace else [_operation(frame)]


def status_codes(frame: pd.DataFrame, *, by_namespace: bool = False) -> pd.DataFrame:
    """Calls per operation (rows; namespace and operation ``by_namespace``) and status code."""
    table = pd.crosstab(_keys(frame, by_namespace), frame["status"].rename("status"))
    return table.rename_axis(columns="status")


def errors(frame: pd.DataFrame, *, by_namespace: bool = False) -> pd.DataFrame:
    """Failed calls counted by (namespace,) operation, error type and message, most frequent first."""
    failed = frame.loc[frame["status"].eq(0) | frame["status"].ge(400)]
    keys = pd.DataFrame(
        {
            **({"namespace": _namespace(failed)} if by_namespace else {}),
            "operation": _operation(failed),
            "error_type": failed["error_type"].astype("str").fillna("(none)"),
            "error_message": failed["error_message"].fillna(""),
            "status": failed["status"],
        }
    )
    counts = keys.groupby(list(keys.columns), sort=False, observed=True).size().rename("count")
    out = counts.reset_index().sort_values(
        ["count", "operation"], ascending=[False, True], kind="stable"
    )
    return out.reset_index(drop=True)


def latency(frame: pd.DataFrame, *, by_namespace: bool = False) -> pd.DataFrame:
    """Latency (ms) per (namespace and) operation: count of timed calls, min, quartiles, p95,
    p99, mean and max."""
    timed = frame.loc[frame["latency_ms"].notna()]
    grouped = timed["latency_ms"].groupby(_keys(timed, by_namespace), sort=True)
    parts = {"count": grouped.size(), "min": grouped.min()}
    for name, q in QUANTILES.items():
        parts[name] = grouped.quantile(q)
    parts["mean"] = grouped.mean()
    parts["max"] = grouped.max()
    out = pd.DataFrame(parts)
    out.index.names = ["namespace", "operation"] if by_namespace else ["operation"]
    return out.astype({"count": "int64"})


def time_range(frame: pd.DataFrame) -> dict[str, Any]:
    """First and last recorded time and the span in seconds (None when nothing is timed)."""
    times = frame["recorded_at"].dropna()
    if times.empty:
        return {"start": None, "end": None, "seconds": 0.0}
    start, end = times.min(), times.max()
    return {"start": start, "end": end, "seconds": (end - start).total_seconds()}


def interval_for(span: pd.Timedelta) -> str:
    """The shortest interval from INTERVALS that cuts ``span`` into at most MAX_BUCKETS."""
    for interval in INTERVALS:
        if span / pd.Timedelta(interval) <= MAX_BUCKETS:
            return interval
    return INTERVALS[-1]


def status_class(status: pd.Series) -> pd.Series:
    """``2xx``/``3xx``/``4xx``/``5xx``, or ``no response`` for status 0."""
    labels = (status // 100).astype("str") + "xx"
    return labels.where(status.ne(0), "no response").rename("class")


def traffic(frame: pd.DataFrame, interval: str | None = None) -> pd.DataFrame:
    """Calls per interval by status class; the interval is chosen from the time span if not given."""
    timed = frame.loc[frame["recorded_at"].notna()]
    if timed.empty:
        return pd.DataFrame(index=pd.DatetimeIndex([], tz="UTC", name="interval"))
    if interval is None:
        interval = interval_for(timed["recorded_at"].max() - timed["recorded_at"].min())
    bucket = timed["recorded_at"].dt.floor(interval).rename("interval")
    table = pd.crosstab(bucket, status_class(timed["status"]))
    full = pd.date_range(table.index.min(), table.index.max(), freq=interval, name="interval")
    table = table.reindex(full, fill_value=0)
    table.columns.name = "class"
    table.attrs["interval"] = interval
    return table


SESSION_COLUMNS = [
    "voice_connector_id", "proxy_session_id", "namespace", "calls", "first_seen", "last_seen",
    "created", "last_updated", "ended", "expiry_minutes", "observed_minutes", "outlived_expiry",
    "final_status", "status_source", "deleted",
]  # fmt: skip
SESSION_KEY = ["voice_connector_id", "proxy_session_id", "namespace"]
DELETED = "Deleted"  # final_status of a session whose Delete was answered 2xx


def _session_events(frame: pd.DataFrame) -> pd.DataFrame:
    """What the traffic says about each session, one event per row: the calls addressed to a
    session (its Create, and each Get, Update and Delete naming it, whatever the answer) and
    each session a List answer named. ``ack``: the service's 2xx answer acknowledged it."""
    direct = frame.loc[frame["proxy_session_id"].notna()]
    operation = _operation(direct)
    ack = direct["acknowledged"]
    deleted = ack & operation.eq("DeleteProxySession")
    status = direct["session_status"].astype("str").where(ack & ~deleted)
    calls = pd.DataFrame(
        {
            **{k: direct[k] for k in SESSION_KEY},
            "row": direct.index.to_numpy(dtype="int64"),
            "at": direct["recorded_at"],
            "operation": operation,
            "call": True,
            "ack": ack,
            "create": ack & operation.eq("CreateProxySession"),
            "deleted": deleted,
            "status": status.mask(deleted, DELETED),
            "created": direct["created_at"].where(ack),
            "updated": direct["updated_at"].where(ack),
            "ended": direct["ended_at"].where(ack),
            "expiry": direct["expiry_minutes"].where(ack),
        }
    )
    items = listed_sessions(frame)
    listed = pd.DataFrame(
        {
            "voice_connector_id": items["voice_connector_id"],
            "proxy_session_id": items["proxy_session_id"],
            "namespace": items["namespace"],
            "row": items["row"],
            "at": items["recorded_at"],
            "operation": "ListProxySessions",
            "call": False,
            "ack": True,
            "create": False,
            "deleted": False,
            "status": items["session_status"],
            "created": items["created_at"],
            "updated": items["updated_at"],
            "ended": items["ended_at"],
            "expiry": items["expiry_minutes"],
        }
    )
    events = pd.concat([calls, listed], ignore_index=True) if len(listed) else calls
    return events.astype({"call": "bool", "ack": "bool", "create": "bool", "deleted": "bool"})


def sessions(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per proxy session the service acknowledged, keyed by voice connector, session id
    and namespace: its lifecycle as the service's answers tell it.

    A session counts once a 2xx answer names it (a Create, Get or Update body, a List item, a
    Delete). Calls on ids the service never acknowledged (404s, 400s) make no row. A second
    successful Create of the same id (or an answer with another CreatedTimestamp) starts a new
    row: two sessions created at different times are never merged.

    ``calls``: calls addressed to the session (its Create, and Gets, Updates and Deletes naming
    it, whatever their answer). ``first_seen``/``last_seen``: the first and last answer that
    acknowledged it. ``final_status``: the Status of the last answer that gave one (``Deleted``
    after a Delete answered 2xx), and ``status_source`` that answer's operation and time.
    ``observed_minutes`` runs from creation (or first sighting) to the end (or the last update
    or sighting); ``outlived_expiry`` says it is longer than the session's ExpiryMinutes.
    """
    events = _session_events(frame)
    # Sessions in time order (the file order among equal times), each session's events together.
    key = events.groupby(SESSION_KEY, sort=False, dropna=False, observed=True).ngroup()
    events = events.assign(key=key).sort_values(["key", "at", "row"], kind="stable")
    key = events["key"]
    by_key = events.groupby("key", sort=False)
    known_created = by_key["created"].ffill()
    previous_created = known_created.groupby(key).shift()
    recreated = events["created"].notna() & previous_created.notna()
    recreated &= events["created"].ne(previous_created)
    starts = key.ne(key.shift()) | events["create"] | recreated
    life = starts.cumsum().rename("life")

    acked = events["at"].where(events["ack"])
    # Each event's place, where it gives a Status: the group's last one set final_status.
    told = pd.Series(np.arange(len(events)), index=events.index).where(events["status"].notna())
    g = events.assign(acked_at=acked, told=told).groupby(life, sort=True)
    out = pd.DataFrame(
        {
            **{k: g[k].first() for k in SESSION_KEY},
            "acknowledged": g["ack"].any(),
            "calls": g["call"].sum().astype("int64"),
            "first_seen": g["acked_at"].min(),
            "last_seen": g["acked_at"].max(),
            "created": g["created"].min(),
            "last_updated": g["updated"].max(),
            "ended": g["ended"].max(),
            "expiry_minutes": g["expiry"].last(),
            "final_status": g["status"].last(),
            "told": g["told"].max(),
            "deleted": g["deleted"].any().astype("bool"),
        }
    )
    out = out.loc[out["acknowledged"]]
    said = events.iloc[out["told"].dropna().astype("int64")].set_axis(out["told"].dropna().index)
    out["status_source"] = (said["operation"] + " at " + _stamp(said["at"])).reindex(out.index)
    start = out["created"].fillna(out["first_seen"])
    end = out["ended"].fillna(out[["last_updated", "last_seen"]].max(axis=1))
    out["observed_minutes"] = (end - start).dt.total_seconds() / 60.0
    longer = out["observed_minutes"] > out["expiry_minutes"].astype("float64")
    out["outlived_expiry"] = longer.fillna(False).astype("bool")
    out = out.sort_values("first_seen", kind="stable").reset_index(drop=True)
    return out[SESSION_COLUMNS].astype(
        {
            "voice_connector_id": "str",
            "proxy_session_id": "str",
            "namespace": "str",
            "calls": "int64",
            "expiry_minutes": "Int32",
            "final_status": "str",
            "status_source": "str",
        }
    )


def _stamp(times: pd.Series) -> pd.Series:
    """Times as ``2026-03-01 10:00:00.250 UTC`` text; ``unknown time`` where there is none."""
    text = times.dt.strftime("%Y-%m-%d %H:%M:%S.%f").str[:-3] + " UTC"
    return text.fillna("unknown time")


def clock_skew(frame: pd.DataFrame) -> dict[str, Any]:
    """Client clock (X-Amz-Date) minus server clock (Date) in seconds, and the SigV4 warning.

    Only answers whose Date is the service's clock count: not those chime-tap gave itself
    (:data:`NOT_SERVICE_CLOCK`), whose clock a test may have moved on purpose. Answers from
    upstream, and interactions that do not say who answered (foreign cassettes), count.
    """
    own = frame["answered_by"].astype("str").isin(NOT_SERVICE_CLOCK)
    skew = frame["clock_skew_s"].where(~own).dropna()
    outside = int(skew.abs().gt(SIGV4_WINDOW_S).sum())
    stats: dict[str, Any] = {
        "count": len(skew),
        "outside_window": outside,
        "window_s": SIGV4_WINDOW_S,
        "not_service_clock": int((own & frame["clock_skew_s"].notna()).sum()),
    }
    if not skew.empty:
        q = skew.quantile([0.0, 0.5, 0.95, 1.0]).to_numpy()
        stats.update(
            min=float(q[0]),
            p50=float(q[1]),
            p95=float(q[2]),
            max=float(q[3]),
            mean=float(skew.mean()),
        )
        stats["histogram"] = _histogram(skew)
    stats["warning"] = (
        f"{outside} call(s) with clock skew beyond SigV4's {SIGV4_WINDOW_S / 60:.0f}-minute window: "
        "AWS rejects such requests (check the client's clock)"
        if outside
        else None
    )
    return stats


# Why an interaction has no latency, by what wrote it (the frame's ``origin``).
NO_LATENCY = {
    "chime-tap": "whose chime-tap metadata has no duration_ms",
    "vcrpy": "from cassettes written by vcrpy, which keeps no timing",
    "flow": "from flow files, without a response",
    "har": "from HAR entries without timings",
}


def timing_gaps(frame: pd.DataFrame) -> pd.DataFrame:
    """Interactions without a latency or a clock skew, counted by what, and why (``cause``)."""
    no_latency = frame.loc[frame["latency_ms"].isna(), "origin"].astype("str")
    latency_causes = no_latency.map(NO_LATENCY).fillna("for an unknown reason")
    no_skew = frame.loc[frame["clock_skew_s"].isna()]
    unsigned, undated = no_skew["amz_date"].isna(), no_skew["response_date"].isna()
    skew_causes = np.select(
        [no_skew["status"].eq(0), unsigned & undated, unsigned],
        [
            "without a response",
            "with neither X-Amz-Date nor Date",
            "without an X-Amz-Date (unsigned, or not recorded)",
        ],
        "without a Date in the response",
    )
    counts = {
        "latency": latency_causes.value_counts(sort=False),
        "clock skew": pd.Series(skew_causes, dtype="str").value_counts(sort=False),
    }
    table = pd.concat(counts, names=["measure", "cause"]).rename("count").reset_index()
    return table[["measure", "count", "cause"]].astype({"count": "int64"})


def _histogram(skew: pd.Series) -> list[dict[str, float]]:
    counts, edges = np.histogram(skew.to_numpy(), bins=min(10, max(1, skew.nunique())))
    return [
        {"from_s": float(a), "to_s": float(b), "count": int(c)}
        for a, b, c in zip(edges[:-1], edges[1:], counts, strict=True)
    ]


def violations(frame: pd.DataFrame) -> pd.DataFrame:
    """Schema violations counted by operation and message, most frequent first."""
    flagged = frame.loc[frame["violation_count"].gt(0)]
    items = pd.DataFrame(
        {
            "operation": _operation(flagged),
            "violation": flagged["violations"].str.split(VIOLATION_SEP),
        }
    )
    items = items.explode("violation", ignore_index=True)
    counts = (
        items.groupby(["operation", "violation"], sort=False).size().rename("count").reset_index()
    )
    return counts.sort_values(
        ["count", "operation", "violation"], ascending=[False, True, True], kind="stable"
    ).reset_index(drop=True)


def summarize(frame: pd.DataFrame) -> dict[str, Any]:
    """Every summary of the frame, by name.

    ``by_namespace`` holds the status code, error and latency tables broken down by namespace
    (``namespaces`` lists those present); the session table always has a namespace column.
    """
    return {
        "interactions": len(frame),
        "time_range": time_range(frame),
        "namespaces": namespaces(frame),
        "status_codes": status_codes(frame),
        "errors": errors(frame),
        "latency_ms": latency(frame),
        "traffic": traffic(frame),
        "sessions": sessions(frame),
        "clock_skew": clock_skew(frame),
        "violations": violations(frame),
        "timing_gaps": timing_gaps(frame),
        "by_namespace": {
            "interactions": _namespace(frame).value_counts(sort=False),
            "status_codes": status_codes(frame, by_namespace=True),
            "errors": errors(frame, by_namespace=True),
            "latency_ms": latency(frame, by_namespace=True),
        },
    }
