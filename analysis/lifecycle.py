"""Proxy-session lifecycles, defined once as a per-partition partial, a merge and a finish.

A partition's events (the calls naming a session, and the sessions List answers named) are cut
into *pieces*: runs of one session's events that certainly belong to one lifecycle. Most cuts
are certain inside the partition (a successful Create, a CreatedTimestamp that differs from the
one before), but two depend on what came earlier, in another partition:

- the first piece of a session in a partition (``FIRST``) continues that session's last
  lifecycle, if an earlier partition saw it, and starts one otherwise;
- the first event with a CreatedTimestamp in a partition (``PIVOT``) starts a new lifecycle if
  the last CreatedTimestamp seen before it (perhaps in an earlier partition) differs.

:func:`merge` joins two partials of consecutive partitions (the earlier first) and settles what
the earlier one tells; :func:`finish` settles the rest and shapes the table. Partials of time
ordered partitions (a dataset's days), merged in any grouping that keeps their order, give the
table one pass over all events gives; ``tests/test_dataset.py`` checks it (days merged
pairwise and in a row; a dataset's report against the report of the files it came from).

Sessions never meet: a partial :func:`split` by session into buckets gives, bucket by bucket,
merges and a :func:`settle` each that run apart (the cluster's tasks, in parallel), and
:func:`combine` puts the settled buckets' rows in the table's order; :func:`finish` is
``combine([settle(part)])``. On a cluster, most sessions are seen in one run of days only:
:func:`apart` settles those where the run was read, and only the others are cut into
buckets. A piece's ``order`` (its session's first appearance) counts on
from the earlier partial's :attr:`Pieces.orders`, not from the pieces it holds, so orders are
the same in every bucket, and the buckets' rows interleave as one table's would.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from chime_tap.analysis.load import listed_sessions

OTHER = "(other)"
SESSION_COLUMNS = [
    "voice_connector_id", "proxy_session_id", "namespace", "calls", "first_seen", "last_seen",
    "created", "last_updated", "ended", "expiry_minutes", "observed_minutes", "outlived_expiry",
    "final_status", "status_source", "deleted",
]  # fmt: skip
SESSION_KEY = ["voice_connector_id", "proxy_session_id", "namespace"]
DELETED = "Deleted"  # final_status of a session whose Delete was answered 2xx

START, FIRST, PIVOT = 0, 1, 2  # how a piece begins (see the module's docstring)

# What a piece (and a lifecycle) holds, and how two consecutive ones of a lifecycle combine.
_FIRST = ["kind", "pivot_created"]
_ANY = ["acknowledged", "deleted"]
_SUM = ["calls"]
_MIN = ["first_seen", "created"]
_MAX = ["last_seen", "last_updated", "ended"]
_LAST = ["expiry_minutes", "last_created"]
# The Status of the last event that gave one, with that event's operation and time.
_SAID = ["final_status", "said_operation", "said_at"]
# ``session_hash``: the session key hashed, so merges find shared sessions by number, not text.
PIECE_COLUMNS = [
    "order", *SESSION_KEY, "session_hash", *_FIRST, *_ANY, *_SUM, *_MIN, *_MAX, *_LAST, *_SAID
]  # fmt: skip


# Few distinct values each: a piece keeps a category code, not the text (a dataset's millions of
# pieces are taken and copied many times over in the merges and the finish).
_CODED = ["voice_connector_id", "final_status", "said_operation"]


@dataclass
class Pieces:
    """A partial: the pieces (:data:`PIECE_COLUMNS`, sessions in order of first appearance),
    and ``orders``, how many sessions the partitions it covers numbered: its pieces' ``order``
    is below it, and a later partial's orders count on from it (a bucket of a partial keeps the
    whole partial's ``orders``, so its orders are the ones the whole partial's merge gives)."""

    table: pd.DataFrame
    orders: int


def _same_categories(a: pd.DataFrame, b: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``a`` and ``b`` with the same categories in each categorical column they share, so that
    concatenating them keeps the codes (pandas falls back to text when categories differ)."""
    for name in a.columns:
        x, y = a[name], b[name]
        if not (
            isinstance(x.dtype, pd.CategoricalDtype) and isinstance(y.dtype, pd.CategoricalDtype)
        ):
            continue
        if x.cat.categories.equals(y.cat.categories):
            continue
        union = x.cat.categories.union(y.cat.categories)
        a = a.assign(**{name: x.cat.set_categories(union)})
        b = b.assign(**{name: y.cat.set_categories(union)})
    return a, b


def _hash(keys: pd.DataFrame) -> np.ndarray:
    """A 64-bit hash of each row's session key (two sessions may share one, rarely: see merge)."""
    return pd.util.hash_pandas_object(keys[SESSION_KEY], index=False).to_numpy()


def text(values: pd.Series, missing: str | None = None) -> pd.Series:
    """``values`` as text labels (pandas' str dtype), a missing value as ``missing`` (or left
    missing). The same as ``values.astype("str").fillna(missing)``; a categorical column (what a
    frame's few-valued columns are) is converted once per category, not once per row."""
    if not isinstance(values.dtype, pd.CategoricalDtype):
        out = values.astype("str")
        return out if missing is None else out.fillna(missing)
    import pyarrow as pa  # here, not at import: the cassette readers import this package too

    labels = [str(c) for c in values.cat.categories]
    codes = values.cat.codes.to_numpy().astype(np.int32)
    codes[codes < 0] = len(labels)  # the slot after the categories: missing
    table = pa.array([*labels, missing], type=pa.string())
    return pd.Series(
        pd.array(table.take(pa.array(codes)), dtype="str"), index=values.index, name=values.name
    )


def operation_labels(frame: pd.DataFrame) -> pd.Series:
    """The operation as plain labels, with non-proxy-session calls as OTHER."""
    return text(frame["operation"], OTHER).rename("operation")


def session_events(frame: pd.DataFrame) -> pd.DataFrame:
    """What the traffic says about each session, one event per row: the calls addressed to a
    session (its Create, and each Get, Update and Delete naming it, whatever the answer) and
    each session a List answer named. ``ack``: the service's 2xx answer acknowledged it."""
    used = [*SESSION_KEY, "recorded_at", "operation", "acknowledged", "session_status",
            "created_at", "updated_at", "ended_at", "expiry_minutes"]  # fmt: skip
    direct = frame.loc[frame["proxy_session_id"].notna(), used]  # not the frame's other text
    operation = operation_labels(direct)
    ack = direct["acknowledged"]
    deleted = ack & operation.eq("DeleteProxySession")
    status = text(direct["session_status"]).where(ack & ~deleted)
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


def partial(frame: pd.DataFrame) -> Pieces:
    """One partition's pieces (:data:`PIECE_COLUMNS`), sessions in order of first appearance."""
    events = session_events(frame)
    # Sessions in order of first appearance (the file order among equal times), each session's
    # events together, in time order.
    key = events.groupby(SESSION_KEY, sort=False, dropna=False, observed=True).ngroup()
    # Each session's key text once (keys are numbered in order of first appearance); the
    # events are sorted and grouped by the number, without moving the text.
    names = events.loc[~key.duplicated(), SESSION_KEY].reset_index(drop=True)
    events = events.drop(columns=SESSION_KEY).assign(key=key)
    events = events.take(_by_key_time_row(events))
    key = events["key"]
    first_of_key = key.ne(key.shift())
    has_created = events["created"].notna()
    known_created = events.groupby("key", sort=False)["created"].ffill()
    previous_created = known_created.groupby(key).shift()
    recreated = has_created & previous_created.notna() & events["created"].ne(previous_created)
    pivot = has_created & previous_created.isna() & ~events["create"]
    starts = first_of_key | events["create"] | recreated | pivot
    kind = np.select([events["create"] | recreated, pivot], [START, PIVOT], FIRST)
    acked = events["at"].where(events["ack"])
    said = events["status"].notna()
    pieces = events.assign(
        piece=starts.cumsum(),
        kind=pd.Series(kind, index=events.index).where(starts),
        pivot_created=events["created"].where(pivot),
        acked_at=acked,
        said_operation=events["operation"].where(said),
        said_at=events["at"].where(said),
    )
    g = pieces.groupby("piece", sort=True)
    pieces = pd.DataFrame(
        {
            "order": g["key"].first().astype("int64"),
            "kind": g["kind"].first().astype("int8"),
            "pivot_created": g["pivot_created"].first(),
            "acknowledged": g["ack"].any(),
            "deleted": g["deleted"].any().astype("bool"),
            "calls": g["call"].sum().astype("int64"),
            "first_seen": g["acked_at"].min(),
            "created": g["created"].min(),
            "last_seen": g["acked_at"].max(),
            "last_updated": g["updated"].max(),
            "ended": g["ended"].max(),
            "expiry_minutes": g["expiry"].last(),
            "last_created": g["created"].last(),
            "final_status": g["status"].last(),
            "said_operation": g["said_operation"].last(),
            "said_at": g["said_at"].last(),
        }
    ).reset_index(drop=True)
    pieces = pd.concat(
        [pieces, names.take(pieces["order"].to_numpy()).reset_index(drop=True)], axis=1
    )
    pieces = pieces.assign(session_hash=_hash(pieces)).astype({c: "category" for c in _CODED})
    return Pieces(pieces[PIECE_COLUMNS], len(names))


def _by_key_time_row(events: pd.DataFrame) -> np.ndarray:
    """The events' order by key, time (no time last) and row, ties as they stand: what
    ``sort_values(["key", "at", "row"], kind="stable")`` gives, without factorizing each
    column first."""
    at = events["at"].dt.tz_localize(None).to_numpy().view("int64")
    at = np.where(events["at"].isna().to_numpy(), np.iinfo(np.int64).max, at)
    return np.lexsort((events["row"].to_numpy(), at, events["key"].to_numpy()))


def merge(a: Pieces, b: Pieces) -> Pieces:
    """The pieces of two consecutive partitions as one partial (``a`` the earlier): what ``a``
    tells about ``b``'s first pieces is settled, and pieces of one lifecycle are joined."""
    later = b.table.assign(order=b.table["order"] + a.orders)
    return Pieces(_merged(a.table, later), a.orders + b.orders)


def _merged(earlier: pd.DataFrame, later: pd.DataFrame) -> pd.DataFrame:
    if earlier.empty or later.empty:
        return later if earlier.empty else earlier
    earlier, later = _same_categories(earlier, later)
    pieces = pd.concat([earlier, later], ignore_index=True)
    # Only the sessions both partitions saw have pieces to settle and join: a session seen on
    # one side only is already as _join leaves it, so most pieces pass through untouched.
    key = _shared_sessions(pieces, len(earlier), by_hash=True)
    if key is None:  # two sessions with one hash among the shared ones: by their text, then
        key = _shared_sessions(pieces, len(earlier), by_hash=False)
    both = key >= 0
    shared = pieces.loc[both]
    # One order per session: where it first appeared, the earlier partition first.
    first = shared["order"].groupby(key[both], sort=False).transform("min")
    shared = shared.assign(order=first).sort_values("order", kind="stable")
    joined = _join(shared, final=False) if len(shared) else shared
    out = pd.concat([pieces.loc[~both], joined], ignore_index=True)
    # Sessions in order of first appearance, each session's pieces together in time order.
    return out.sort_values("order", kind="stable", ignore_index=True)[PIECE_COLUMNS]


def _shared_sessions(pieces: pd.DataFrame, split: int, *, by_hash: bool) -> np.ndarray | None:
    """A code per piece, the same for the pieces of one session, where the session has pieces
    both before and after ``split``; -1 elsewhere. ``by_hash``: sessions told apart by their
    hash, and None if two different ones among the shared share a hash (exactness first)."""
    if by_hash:
        key = pd.factorize(pieces["session_hash"].to_numpy())[0]
    else:
        key = pieces.groupby(SESSION_KEY, sort=False, dropna=False, observed=True).ngroup()
        key = key.to_numpy()
    count = int(key.max()) + 1 if len(key) else 0
    before = np.bincount(key[:split], minlength=count) > 0
    after = np.bincount(key[split:], minlength=count) > 0
    both = (before & after)[key]
    if by_hash and both.any():
        distinct = pieces.loc[both, SESSION_KEY].groupby(key[both], sort=False, dropna=False)
        if int(distinct.nunique(dropna=False).to_numpy().max()) > 1:
            return None
    return np.where(both, key, -1)


def _join(pieces: pd.DataFrame, *, final: bool) -> pd.DataFrame:
    """Settle each piece's start against the pieces before it, and join each lifecycle's pieces.

    ``final``: nothing comes before these pieces, so what is still open is settled too.
    """
    order = pieces["order"]
    first_of_key = order.ne(order.shift())
    known_before = pieces.groupby("order", sort=False)["last_created"].ffill()
    known_before = known_before.groupby(order).shift()
    kind = pieces["kind"]
    settles = kind.eq(PIVOT) & known_before.notna()
    recreated = settles & pieces["pivot_created"].ne(known_before)
    open_pivot = kind.eq(PIVOT) & known_before.isna()
    starts = first_of_key | kind.eq(START) | recreated | (open_pivot & ~final)
    kind = kind.mask(recreated, START).mask(settles & ~recreated, FIRST)
    if final:
        kind = kind.mask(first_of_key, START)
    life = starts.cumsum()
    g = pieces.assign(kind=kind).groupby(life, sort=True)
    return pd.DataFrame(
        {
            "order": g["order"].first(),
            **{k: g[k].first() for k in SESSION_KEY if k in pieces},
            "kind": g["kind"].first().astype("int8"),
            "pivot_created": g["pivot_created"].first(),
            "acknowledged": g["acknowledged"].any(),
            "deleted": g["deleted"].any().astype("bool"),
            "calls": g["calls"].sum().astype("int64"),
            "first_seen": g["first_seen"].min(),
            "created": g["created"].min(),
            "last_seen": g["last_seen"].max(),
            "last_updated": g["last_updated"].max(),
            "ended": g["ended"].max(),
            "expiry_minutes": g["expiry_minutes"].last(),
            "last_created": g["last_created"].last(),
            "final_status": g["final_status"].last(),
            "said_operation": g["said_operation"].last(),
            "said_at": g["said_at"].last(),
            "session_hash": g["session_hash"].first(),
            **({"position": g["position"].first()} if "position" in pieces else {}),
        }
    ).reset_index(drop=True)


def _lifecycles(pieces: pd.DataFrame) -> pd.DataFrame:
    """Every session's pieces finally joined, with ``position``: where the lifecycle's first
    piece was. A session of one piece is its own lifecycle: only sessions of several pieces
    go through the join. The key text is left out (:func:`settle` takes it by position)."""
    pieces = pieces.drop(columns=SESSION_KEY).assign(position=np.arange(len(pieces), dtype="int64"))
    several = pieces["order"].duplicated(keep=False).to_numpy()
    alone = pieces.loc[~several].assign(kind=np.int8(START))
    if not several.any():
        return alone
    return pd.concat([alone, _join(pieces.loc[several], final=True)], ignore_index=True)


def split(part: Pieces, count: int) -> list[Pieces]:
    """``part`` cut by session into ``count`` buckets (by ``session_hash``, so two sessions
    sharing a hash share a bucket and :func:`merge` tells them apart there), each keeping the
    whole partial's ``orders``."""
    bucket = (part.table["session_hash"].to_numpy() % np.uint64(count)).astype(np.intp)
    rows = np.argsort(bucket, kind="stable")  # each bucket's pieces in the order they stand
    bounds = np.searchsorted(bucket[rows], np.arange(count + 1))
    return [
        Pieces(part.table.take(rows[a:b]).reset_index(drop=True), part.orders)
        for a, b in itertools.pairwise(bounds)
    ]


def apart(part: Pieces, elsewhere: np.ndarray, before: int) -> tuple[pd.DataFrame, Pieces]:
    """``part``'s sessions that no other partial holds, settled into the table's rows
    (:func:`settle`), and the pieces of the others, to merge with theirs (:func:`split`).

    ``elsewhere``: the session hashes the other partials hold; ``before``:
    how many sessions the partials before this one numbered, so that the settled rows' orders
    are the ones a merge of every partial gives (a session of this partial only is numbered
    on from the earlier partials' count, as :func:`merge` numbers it). Two sessions sharing a
    hash are both merged, where :func:`merge` tells them apart."""
    table = part.table
    # By hash table, not by sorting (np.isin took 0.5 s for a million sessions, this 0.06 s).
    shared = table["session_hash"].isin(elsewhere).to_numpy()
    alone = table.loc[~shared].reset_index(drop=True) if shared.any() else table
    if before:
        alone = alone.assign(order=alone["order"] + before)
    rows = settle(Pieces(alone, before + part.orders))
    return rows, Pieces(table.loc[shared].reset_index(drop=True), part.orders)


# Few-valued columns settle's rows keep as category codes, made text once the rows of every
# bucket are together (a cluster's buckets are shipped and taken as codes, not text).
_CODES_UNTIL_COMBINED = ["voice_connector_id", "namespace", "final_status"]


def settle(part: Pieces) -> pd.DataFrame:
    """The table's rows of these pieces (all of their sessions' pieces: see :func:`split`),
    in the table's order, with ``order``, what :func:`combine` orders several buckets' rows
    by after the first sighting; see :data:`_CODES_UNTIL_COMBINED`."""
    pieces = part.table
    out = _lifecycles(pieces)
    # The acknowledged ones by first sighting, then by session (its first appearance), then
    # as they came, each column taken once (each take moves the text of millions of sessions
    # in a dataset's report), the key text from the lifecycle's first piece.
    keep = np.flatnonzero(out["acknowledged"].to_numpy(dtype=bool))
    seen = out["first_seen"].dt.tz_localize(None).to_numpy()[keep]
    order = out["order"].to_numpy()[keep]
    position = out["position"].to_numpy()[keep]
    rank = np.lexsort((position, order, seen))  # NaT sorts last
    out = out.take(keep[rank]).reset_index(drop=True)
    keys = pieces[SESSION_KEY].take(position[rank]).reset_index(drop=True)
    out = pd.concat([out, keys], axis=1)
    out["status_source"] = _labelled_times(out["said_operation"], out["said_at"], " at ")
    start = out["created"].fillna(out["first_seen"])
    end = out["ended"].fillna(out[["last_updated", "last_seen"]].max(axis=1))
    out["observed_minutes"] = (end - start).dt.total_seconds() / 60.0
    longer = out["observed_minutes"] > out["expiry_minutes"].astype("float64")
    out["outlived_expiry"] = longer.fillna(False).astype("bool")
    out = out.astype({name: "category" for name in _CODES_UNTIL_COMBINED})
    return out[[*SESSION_COLUMNS, "order"]].astype(
        {
            "proxy_session_id": "str",
            "calls": "int64",
            "expiry_minutes": "Int32",
            "status_source": "str",
        }
    )


def combine(tables: list[pd.DataFrame]) -> pd.DataFrame:
    """The settled rows of every bucket of one partial (or of the sessions of each partial
    alone, :func:`apart`, and of the buckets of the rest) as the one table :func:`finish` of
    the whole partial gives: by first sighting, then by session (rows of one session, all in
    one table, keep their order)."""
    tables = [t for t in tables if len(t)] or tables[:1]
    if len(tables) == 1:
        out = tables[0]
    else:
        for name in _CODES_UNTIL_COMBINED:  # one set of categories, so codes concatenate
            union = functools.reduce(pd.Index.union, (t[name].cat.categories for t in tables))
            tables = [t.assign(**{name: t[name].cat.set_categories(union)}) for t in tables]
        out = pd.concat(tables, ignore_index=True)
        seen = out["first_seen"].dt.tz_localize(None).to_numpy()
        order = out["order"].to_numpy()
        if not _in_order(seen, order):  # as they stand, they need not be taken again
            out = _taken(out, np.lexsort((order, seen)))
    text_of = {name: text(out[name]).astype("str") for name in _CODES_UNTIL_COMBINED}
    return out[SESSION_COLUMNS].assign(**text_of)


def _in_order(seen: np.ndarray, order: np.ndarray) -> bool:
    """Whether rows stand as ``np.lexsort((order, seen))`` puts them: by time (none last),
    then by order. The runs of days a cluster settles apart come back so, one after another,
    when no session was seen in two of them."""
    at = np.where(np.isnat(seen), np.iinfo(np.int64).max, seen.view("int64"))
    step = np.diff(at)
    if (step < 0).any():
        return False
    return not (np.diff(order)[step == 0] < 0).any()


def _taken(frame: pd.DataFrame, rows: np.ndarray) -> pd.DataFrame:
    """``frame.take(rows)`` with a fresh index; a text column taken as one Arrow array (pandas
    takes the chunks a concatenation leaves one index at a time, ten times slower)."""
    import pyarrow as pa  # here, not at import: the cassette readers import this package too

    texts = [name for name in frame.columns if isinstance(frame[name].dtype, pd.StringDtype)]
    out = frame.drop(columns=texts).take(rows).reset_index(drop=True)
    index = pa.array(rows)
    for name in texts:
        values = pa.array(frame[name])
        if isinstance(values, pa.ChunkedArray):
            values = values.combine_chunks()
        out[name] = pd.array(values.take(index), dtype="str")
    return out[frame.columns]


def finish(part: Pieces) -> pd.DataFrame:
    """One row per proxy session the service acknowledged (see :func:`sessions`)."""
    return combine([settle(part)])


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
    return finish(partial(frame))


_DAY_MS = 86_400_000
_UNKNOWN_TIME = b"unknown time"
_CHUNK = 1 << 18  # rows made at once: bounds the scratch memory to a few MiB


@functools.cache
def _clock_text() -> tuple[np.ndarray, np.ndarray]:
    """(``" HH:MM:SS"`` of each second of a day, ``".mmm UTC"`` of each millisecond of a
    second) as fixed-width byte strings, for a time's text made by two look-ups."""
    second = np.arange(86_400)
    hours, minutes, seconds = second // 3600, second // 60 % 60, second % 60
    clock = np.char.add(np.char.add(np.char.add(" ", _two(hours)), ":"), _two(minutes))
    clock = np.char.add(np.char.add(clock, ":"), _two(seconds))
    ms = np.char.add(np.char.add(".", np.char.zfill(np.arange(1000).astype("U3"), 3)), " UTC")
    return clock.astype("S9"), ms.astype("S8")


def _two(values: np.ndarray) -> np.ndarray:
    return np.char.zfill(values.astype("U2"), 2)


def _labelled_times(labels: pd.Series, times: pd.Series, separator: str) -> pd.Series:
    """``<label><separator><time>`` per row, the time as ``2026-03-01 10:00:00.250 UTC``
    (milliseconds truncated; ``unknown time`` where there is none); missing where the label is. Made as bytes: a fixed-width record per row (the label right-aligned,
    then the time's parts, each a table look-up), cut to the row's text. strftime and string
    concatenation per value took seconds for a dataset's millions of sessions, in the
    report's one serial step."""
    import pyarrow as pa  # here, not at import: the cassette readers import this package too

    labels = labels.astype("category")
    names = [f"{c}{separator}".encode() for c in labels.cat.categories]
    codes = labels.cat.codes.to_numpy()
    us = times.dt.as_unit("us").dt.tz_localize(None).to_numpy().view("int64")
    known = ~times.isna().to_numpy()
    ms = np.floor_divide(us, 1000)
    days = _day_text(np.floor_divide(ms, _DAY_MS), known)
    if days is None:  # a year of other than four digits (never in pandas' range): strftime's
        when = times.dt.strftime("%Y-%m-%d %H:%M:%S.%f").str[:-3] + " UTC"
        said = text(labels) + separator + when.fillna("unknown time")
        return said.set_axis(labels.index)
    day_text, where = days
    clock, millis = _clock_text()
    width = max([1, *map(len, names)])
    record = np.dtype([("label", f"S{width}"), ("day", "S10"), ("clock", "S9"), ("ms", "S8")])
    # Per label (the last: none, a missing row) and time known or not: the bytes of the record
    # a row's text is; its length.
    label = np.array([n.rjust(width) for n in names] + [b""], f"S{width}")
    begin = np.array([width - len(n) for n in names] + [record.itemsize])  # none: no bytes
    end = np.array([width + len(_UNKNOWN_TIME), record.itemsize])  # time unknown, known
    kept = np.arange(record.itemsize)
    keep = (kept >= begin[:, None, None]) & (kept < end[None, :, None])
    code = np.where(codes >= 0, codes, len(names))
    lengths = np.maximum(end[known.astype(np.intp)] - begin[code], 0)
    chunks = []
    for at in range(0, len(codes), _CHUNK):
        part = slice(at, at + _CHUNK)
        rows = np.empty(len(code[part]), record)
        rows["label"] = label[code[part]]
        tod = ms[part] % _DAY_MS
        rows["day"] = day_text[where[part]]
        rows["clock"] = clock[tod // 1000]
        rows["ms"] = millis[tod % 1000]
        unknown = ~known[part]  # "unknown time" over the day and on into the clock's place
        rows["day"][unknown] = _UNKNOWN_TIME[:10]
        rows["clock"][unknown] = _UNKNOWN_TIME[10:]
        flat = rows.view(np.uint8).reshape(len(rows), record.itemsize)
        chunks.append(flat[keep[code[part], known[part].astype(np.intp)]])
    offsets = np.zeros(len(codes) + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    buffers = [
        pa.py_buffer(np.packbits(codes >= 0, bitorder="little")),
        pa.py_buffer(offsets),
        pa.py_buffer(np.concatenate(chunks) if chunks else np.empty(0, np.uint8)),
    ]
    array = pa.Array.from_buffers(pa.large_string(), len(codes), buffers)
    return pd.Series(pd.array(array, dtype="str"), index=labels.index)


def _day_text(day: np.ndarray, known: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(the ``YYYY-MM-DD`` of the days, each row's place in it) for rows of ``day`` (days
    counted from 1970-01-01; 0 where not ``known``); None if a year has other than four
    digits."""
    where = np.zeros(len(day), np.int64)
    if not known.any():
        return np.zeros(1, "S10"), where
    first, last = int(day[known].min()), int(day[known].max())
    if last - first <= 10 * len(day) + 4096:  # a range of days: each row's place by subtraction
        days = np.arange(first, last + 1)
        where[known] = day[known] - first
    else:  # a few days far apart (a stray clock): only those
        days, where[known] = np.unique(day[known], return_inverse=True)
    text = np.datetime_as_string(days.astype("datetime64[D]"))
    if np.char.str_len(text).max() != 10:
        return None
    return text.astype("S10"), where
