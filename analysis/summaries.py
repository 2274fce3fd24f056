"""Reports, each a function of the tidy frame that returns a DataFrame (or a small dict).

Calls that are not proxy-session operations (other traffic in a flow file or HAR) are counted
under :data:`OTHER`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from chime_tap.analysis.load import VIOLATION_SEP

OTHER = "(other)"
SIGV4_WINDOW_S = 300.0  # SigV4 rejects a request whose X-Amz-Date is more than 5 minutes off
QUANTILES = {"p25": 0.25, "p50": 0.50, "p75": 0.75, "p95": 0.95, "p99": 0.99}

# Interval candidates for traffic over time; the first giving at most MAX_BUCKETS is used.
INTERVALS = ("1s", "5s", "15s", "1min", "5min", "15min", "1h", "6h", "1D", "7D")
MAX_BUCKETS = 60


def _operation(frame: pd.DataFrame) -> pd.Series:
    """The operation as plain labels, with non-proxy-session calls as OTHER."""
    return frame["operation"].astype("str").fillna(OTHER).rename("operation")


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


def status_codes(frame: pd.DataFrame) -> pd.DataFrame:
    """Calls per operation (rows) and status code (columns)."""
    table = pd.crosstab(_operation(frame), frame["status"].rename("status"))
    return table.rename_axis(index="operation", columns="status")


def errors(frame: pd.DataFrame) -> pd.DataFrame:
    """Failed calls counted by operation, error type and message, most frequent first."""
    failed = frame.loc[frame["status"].eq(0) | frame["status"].ge(400)]
    keys = pd.DataFrame(
        {
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


def latency(frame: pd.DataFrame) -> pd.DataFrame:
    """Latency (ms) per operation: count of timed calls, min, quartiles, p95, p99, mean and max."""
    timed = frame.loc[frame["latency_ms"].notna()]
    grouped = timed["latency_ms"].groupby(_operation(timed), sort=True)
    parts = {"count": grouped.size(), "min": grouped.min()}
    for name, q in QUANTILES.items():
        parts[name] = grouped.quantile(q)
    parts["mean"] = grouped.mean()
    parts["max"] = grouped.max()
    out = pd.DataFrame(parts).rename_axis("operation")
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
    "voice_connector_id", "proxy_session_id", "calls", "first_seen", "last_seen", "created",
    "last_updated", "ended", "expiry_minutes", "observed_minutes", "outlived_expiry",
    "final_status", "deleted",
]  # fmt: skip


def sessions(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per proxy session seen: its lifecycle as the recorded calls show it.

    ``observed_minutes`` runs from creation (or first sighting) to the end (or the last update
    or sighting); ``outlived_expiry`` says it is longer than the session's ExpiryMinutes.
    """
    seen = frame.loc[frame["proxy_session_id"].notna()].sort_values("recorded_at", kind="stable")
    deleted = seen["operation"].eq("DeleteProxySession") & seen["status"].eq(204)
    g = seen.assign(deleted=deleted).groupby(
        ["voice_connector_id", "proxy_session_id"], sort=False, dropna=False
    )
    out = pd.DataFrame(
        {
            "calls": g.size(),
            "first_seen": g["recorded_at"].min(),
            "last_seen": g["recorded_at"].max(),
            "created": g["created_at"].min(),
            "last_updated": g["updated_at"].max(),
            "ended": g["ended_at"].max(),
            "expiry_minutes": g["expiry_minutes"].last(),
            "final_status": g["session_status"].last().astype("str"),
            "deleted": g["deleted"].any().astype("bool"),
        }
    )
    start = out["created"].fillna(out["first_seen"])
    end = out["ended"].fillna(out[["last_updated", "last_seen"]].max(axis=1))
    out["observed_minutes"] = (end - start).dt.total_seconds() / 60.0
    longer = out["observed_minutes"] > out["expiry_minutes"].astype("float64")
    out["outlived_expiry"] = longer.fillna(False).astype("bool")
    out = out.reset_index().sort_values("first_seen", kind="stable").reset_index(drop=True)
    return out[SESSION_COLUMNS]


def clock_skew(frame: pd.DataFrame) -> dict[str, Any]:
    """Client clock (X-Amz-Date) minus server clock (Date) in seconds, and the SigV4 warning."""
    skew = frame["clock_skew_s"].dropna()
    outside = int(skew.abs().gt(SIGV4_WINDOW_S).sum())
    stats: dict[str, Any] = {
        "count": len(skew),
        "outside_window": outside,
        "window_s": SIGV4_WINDOW_S,
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
    """Every summary of the frame, by name."""
    return {
        "interactions": len(frame),
        "time_range": time_range(frame),
        "status_codes": status_codes(frame),
        "errors": errors(frame),
        "latency_ms": latency(frame),
        "traffic": traffic(frame),
        "sessions": sessions(frame),
        "clock_skew": clock_skew(frame),
        "violations": violations(frame),
    }
