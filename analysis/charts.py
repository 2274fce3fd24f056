"""The report's charts as PNG bytes (matplotlib, Agg backend, no pyplot global state)."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")  # never a GUI backend, whatever the user's matplotlibrc says

import pandas as pd
from matplotlib import dates as mdates
from matplotlib import ticker
from matplotlib.figure import Figure

_CLASS_COLOURS = {
    "2xx": "#2e7d32",
    "3xx": "#1565c0",
    "4xx": "#ef6c00",
    "5xx": "#c62828",
    "no response": "#616161",
}


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return buf.getvalue()


def _count_ticks() -> ticker.MaxNLocator:
    """Ticks of an axis of counts: whole numbers only (no "0.5 calls" on a small chart)."""
    return ticker.MaxNLocator(integer=True)


MAX_LABELLED_BARS = 12  # up to this many bars, each gets its own tick; more: matplotlib's choice


def time_format(start: pd.Timestamp, end: pd.Timestamp, interval: pd.Timedelta) -> str:
    """Tick labels in the unit the chart's interval calls for: seconds below a minute, minutes
    below a day, days above; with the date when the bars span more than one day."""
    if interval >= pd.Timedelta("1D"):
        return "%Y-%m-%d"
    fmt = "%H:%M:%S" if interval < pd.Timedelta("1min") else "%H:%M"
    return fmt if start.normalize() == end.normalize() else "%m-%d " + fmt


def status_over_time(traffic: pd.DataFrame) -> bytes | None:
    """Stacked bars: calls per interval by status class."""
    fig = status_figure(traffic)
    return None if fig is None else _png(fig)


def status_figure(traffic: pd.DataFrame) -> Figure | None:
    """The figure behind :func:`status_over_time`."""
    if traffic.empty:
        return None
    fig = Figure(figsize=(9, 3.2))
    ax = fig.subplots()
    x = traffic.index.tz_convert("UTC").tz_localize(None)
    width = (x[1] - x[0]) * 0.9 if len(x) > 1 else pd.Timedelta(traffic.attrs.get("interval", "1s"))
    bottom = pd.Series(0, index=traffic.index).to_numpy()
    for cls in traffic.columns:
        values = traffic[cls].to_numpy()
        ax.bar(
            x,
            values,
            width=width,
            bottom=bottom,
            label=cls,
            color=_CLASS_COLOURS.get(cls),
            align="edge",
        )
        bottom = bottom + values
    ax.set_ylabel(f"calls per {traffic.attrs.get('interval', 'interval')}")
    ax.yaxis.set_major_locator(_count_ticks())
    interval = pd.Timedelta(traffic.attrs.get("interval", "1s"))
    start, end = x[0], x[-1] + interval
    fmt = time_format(start, end, interval)
    if len(x) <= MAX_LABELLED_BARS:
        ax.set_xticks(x)
    else:
        ax.xaxis.set_major_locator(mdates.AutoDateLocator(maxticks=MAX_LABELLED_BARS))
    ax.xaxis.set_major_formatter(mdates.DateFormatter(fmt))
    ax.set_xlim(start, end)
    day = "" if "%d" in fmt else f" on {start:%Y-%m-%d}"
    ax.set_xlabel(f"time (UTC){day}")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small")
    fig.autofmt_xdate()
    return fig


def latency_distribution(latency: pd.DataFrame) -> bytes | None:
    """Box plots of latency per operation, drawn from the latency summary's quantiles."""
    if latency.empty:
        return None
    stats = [
        {
            "label": str(op),
            "whislo": row["min"],
            "q1": row["p25"],
            "med": row["p50"],
            "q3": row["p75"],
            "whishi": row["p99"],
            "fliers": [row["max"]],
        }
        for op, row in latency.iterrows()
    ]
    fig = Figure(figsize=(9, 0.9 + 0.55 * len(stats)))
    ax = fig.subplots()
    ax.bxp(stats, orientation="horizontal", showfliers=True)
    ax.plot(latency["p95"].to_numpy(), range(1, len(stats) + 1), "v", color="#c62828", label="p95")
    ax.set_xlabel("latency (ms): box p25-p75, line p50, whiskers min-p99, point max")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small")
    return _png(fig)


def error_breakdown(errors: pd.DataFrame) -> bytes | None:
    """Horizontal bars: failed calls per operation, split by error type."""
    fig = error_figure(errors)
    return None if fig is None else _png(fig)


def error_figure(errors: pd.DataFrame) -> Figure | None:
    """The figure behind :func:`error_breakdown`."""
    if errors.empty:
        return None
    table = errors.pivot_table(
        index="operation", columns="error_type", values="count", aggfunc="sum", fill_value=0
    )
    fig = Figure(figsize=(9, 0.8 + 0.5 * len(table)))
    ax = fig.subplots()
    left = pd.Series(0, index=table.index).to_numpy()
    for etype in table.columns:
        values = table[etype].to_numpy()
        ax.barh(table.index, values, left=left, label=etype)
        left = left + values
    ax.set_xlabel("failed calls")
    ax.xaxis.set_major_locator(_count_ticks())
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small")
    return fig
