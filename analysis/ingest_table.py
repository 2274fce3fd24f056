"""One input as a table of the dataset's schema, for ``chime-tap ingest``: the report's reader,
typed into Arrow columns without a DataFrame in between.

:func:`read_table` is ``to_table(load_file(path, ids=True))``, row for row and id for id
(``tests/test_ingest_fast.py`` compares the two on every input the tests hold). A JSON cassette
in the layout ``chime-tap record``'s writer leaves (its head, then one interaction a line), the
file users ingest, is read a line at a time: each line parsed by orjson (about three times
json's speed; json itself for what orjson reads otherwise: NaN, a lone surrogate, an integer
past 64 bits), checked as the replay's streaming reader checks a line (the same checks as every
reader's), made a row by the report's own rules (``load._Rows``), and the rows typed straight
into Arrow. Anything else, and any file this way stops on (a problem in it, a value it does not
type), is read by the general path, which says what is wrong in the words every reader uses.
"""

from __future__ import annotations

import gc
import os
import stat
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from chime_tap.analysis.load import (
    _AMZ_DATE,
    _AT,
    _HTTP_DATE,
    _TIME_FORMATS,
    INTERACTION_ID,
    _read_cassette,
    _Rows,
    _to_utc,
    has_long_digits,
    interaction_ids,
    load_file,
    within_orjson_depth,
)
from chime_tap.api.hosts import DEFAULT_HOSTS, HostPolicy
from chime_tap.cassettes.format import JSON_HEAD
from chime_tap.cassettes.reader import (
    MAX_INPUT_BYTES,
    _interaction_problem,
    _line_item,
    _unique_line,
)
from chime_tap.dataset.schema import SCHEMA, to_table


def read_table(path: str | os.PathLike[str], hosts: HostPolicy | None = None) -> pa.Table:
    """One input's interactions as a table of :data:`SCHEMA`; InputError (one line) if unreadable."""
    path = Path(path)
    try:
        table = _writers_json(path, hosts or DEFAULT_HOSTS)
    except Exception:  # the general path below says what is wrong, as every reader says it
        table = None
    if table is not None:
        return table
    return to_table(load_file(path, hosts=hosts, ids=True))


def _writers_json(path: Path, hosts: HostPolicy) -> pa.Table | None:
    """The table of a JSON cassette in the writer's layout, read a line at a time; None for
    any other file (or one that leaves the layout anywhere: the whole reader decides)."""
    data = _writers_bytes(path)
    lines = None if data is None else _writers_lines(data)
    if lines is None:
        return None
    # orjson reads an integer past 64 bits as a float where json keeps it an int: a line
    # holding 19 digits in a row (anywhere, to be sure) is read by json.loads.
    long_digits = has_long_digits(data)
    del data
    was_enabled = gc.isenabled()
    gc.disable()  # as replay_items does: what is parsed holds no cycles, and is dropped whole
    try:
        items = _writers_items(lines, long_digits)
        if items is None:
            return None
        rows = _Rows(hosts, ids=True)
        _read_cassette({"interactions": items}, rows)
        del items
        return _typed(rows, str(path))
    finally:
        if was_enabled:
            gc.enable()


def _writers_bytes(path: Path) -> bytes | None:
    """The whole of a regular file that starts as the writer's JSON layout; None otherwise."""
    # Opened without blocking, and only a regular file read: a FIFO would block (the general
    # path refuses it, and anything else it does not read, in its own words).
    with os.fdopen(os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC), "rb") as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_INPUT_BYTES:
            return None
        if f.read(len(JSON_HEAD)) != JSON_HEAD:
            return None  # a YAML cassette, say: not read twice
        f.seek(0)
        data = f.read(MAX_INPUT_BYTES + 1)  # a file that grew since is read up to the cap
    return data if len(data) <= MAX_INPUT_BYTES else None


_END = b"\n]}\n"  # how the writer's layout ends (b"]}\n" with no interaction)
_EMPTY = JSON_HEAD + b"]}\n"


def _writers_lines(data: bytes) -> list[bytes] | None:
    """The lines of a file in the writer's layout (its head, one interaction a line, the
    lines joined by ``,\\n``, its end); None when it leaves the layout."""
    if data == _EMPTY:
        return []
    if not data.endswith(_END):
        return None
    start, stop = len(JSON_HEAD), len(data) - len(_END)
    lines = data[start:stop].split(b",\n")
    if data.count(b"\n", start, stop) != len(lines) - 1:
        return None  # a line break inside a line: not the writer's
    return lines


def _writers_items(lines: list[bytes], long_digits: bool) -> list[dict] | None:
    """Each line's interaction, parsed and checked as the streaming reader
    (``reader.replay_items``) parses and checks a line; None when any line is not a good
    interaction (the whole reader then says what is wrong). The lines are used up."""
    items = []
    lines.reverse()
    while lines:
        line = lines.pop()  # each line freed once parsed: not the whole text twice in memory
        item = _parse_line(line, long_digits and has_long_digits(line))
        if type(item) is not dict or _interaction_problem(item) is not None:
            return None
        if not _unique_line(line, item):
            return None  # a duplicate key
        items.append(item)
    return items


def _parse_line(line: bytes, long_digits: bool) -> Any:
    """What ``json.loads`` makes of a line (None when it refuses it), by orjson where orjson
    reads what json reads; json itself for the rest, as the streaming reader parses a line."""
    if not long_digits and _ESCAPED_BACKSLASH_QUOTE not in line and within_orjson_depth(line):
        try:
            return orjson.loads(line)
        except orjson.JSONDecodeError:  # NaN, Infinity, a lone surrogate, bad JSON: json decides
            pass
    if line[:1] != b"{" or line[1:2] == b"\x00":
        # json.loads takes the encoding of bytes from their start (a BOM, UTF-16's zeros), and
        # the whole document, which starts as the layout does, is UTF-8: not a line of it.
        return None
    return _line_item(line)


# Where orjson reads what json reads is load.json_loads's rule (has_long_digits,
# within_orjson_depth), checked here a line at a time.
# A backslash-escaped backslash before a quote: the streaming reader parses such a line with
# a hook that refuses duplicate keys, since its count of keys (_unique_line) is not taken then.
_ESCAPED_BACKSLASH_QUOTE = b'\\\\"'


def _typed(rows: _Rows, source: str) -> pa.Table:
    """The rows as ``to_table(rows.frame(source))`` types them, column by column in Arrow."""
    n = len(rows.values) // len(_AT)
    times = {}
    for fmt in dict.fromkeys(_TIME_FORMATS.values()):  # a format's columns typed at once
        names = [name for name, f in _TIME_FORMATS.items() if f == fmt]
        values = [v for name in names for v in rows.column(name)]
        for k, column in enumerate(np.split(_times(values, fmt), len(names))):
            times[names[k]] = column
    # recorded_at, else the flow's start (a cassette has none), else the response's Date.
    recorded, date = times["recorded_at"], times["response_date"]
    times["recorded_at"] = np.where(np.isnat(recorded), date, recorded)
    amz = times["amz_date"]
    skew = (amz - date).astype("int64") * 1000 / 10**9  # as pandas' total_seconds, from ns
    skew[np.isnat(amz) | np.isnat(date)] = np.nan
    columns = {}
    for field in SCHEMA:
        name = field.name
        if name in times:
            values = times[name]
            columns[name] = pa.array(values, type=field.type, mask=np.isnat(values))
        elif name == "clock_skew_s":
            columns[name] = pa.array(skew, type=field.type, from_pandas=True)
        elif name == "source":
            columns[name] = pa.array([source] * n, type=field.type)
        elif name == INTERACTION_ID:
            columns[name] = pa.array(interaction_ids(rows.digests), type=field.type)
        elif name == "latency_ms":  # a NaN would be null once through pandas
            values = rows.column(name)
            columns[name] = pa.array(values, type=field.type, from_pandas=True)
        else:
            columns[name] = pa.array(rows.column(name), type=field.type)
    return pa.table(columns, schema=SCHEMA)


def _times(values: list, fmt: str) -> np.ndarray:
    """A column of time texts as ``datetime64[us]`` (UTC), NaT where missing or unparsable:
    what ``load._to_utc`` makes of them. The one spelling of the format that the recorder and
    the service write (:data:`_SHAPES`) is read here, a column at a time; any other text, and
    an impossible date, is left to ``_to_utc``, the rule."""
    out = np.full(len(values), np.datetime64("NaT", "us"))
    template, fields = _SHAPES[fmt]
    text, present = _texts(values)
    # As many bytes as the template has characters: then every byte is checked against it,
    # and a text of other characters (not ASCII) is no good.
    fits = pc.fill_null(pc.binary_length(text), -1).to_numpy() == len(template)
    where = np.flatnonzero(fits)
    if len(where):
        chosen = text.take(pa.array(where))
        _, offsets, data = chosen.buffers()
        start = int(np.frombuffer(offsets, np.int32)[chosen.offset])
        chars = np.frombuffer(data, np.uint8)[start : start + len(where) * len(template)]
        good, parsed = _parse(chars.reshape(-1, len(template)), template, fields)
        out[where[good]] = parsed[good]
        fits[where[~good]] = False
    rest = np.flatnonzero(present & ~fits)
    if len(rest):
        parsed = _to_utc([values[i] for i in rest.tolist()], fmt)
        out[rest] = parsed.dt.as_unit("us").dt.tz_localize(None).to_numpy()
    return out


def _texts(values: list) -> tuple[pa.StringArray, np.ndarray]:
    """The values that are text as an Arrow column (null for any other), and which values
    are not None."""
    try:
        text = pa.array(values, type=pa.string())
    except (pa.ArrowException, UnicodeError):  # a number, say, or a lone surrogate
        text = pa.array(
            [v if type(v) is str and v.isascii() else None for v in values], pa.string()
        )
        return text, np.array([v is not None for v in values], dtype=bool)
    return text, text.is_valid().to_numpy(zero_copy_only=False)


# Each time format's usual spelling: a template (d a digit, w a weekday's name, b a month's,
# anything else itself) and where each field lies in it.
_SHAPES = {
    "ISO8601": (
        "dddd-dd-ddTdd:dd:dd.dddZ",  # chime_tap.recording.iso_utc, the service's timestamps
        {"Y": (0, 4), "m": (5, 7), "d": (8, 10), "H": (11, 13), "M": (14, 16), "S": (17, 19),
         "ms": (20, 23)},
    ),
    _AMZ_DATE: (
        "ddddddddTddddddZ",
        {"Y": (0, 4), "m": (4, 6), "d": (6, 8), "H": (9, 11), "M": (11, 13), "S": (13, 15)},
    ),
    _HTTP_DATE: (
        "www, dd bbb dddd dd:dd:dd GMT",
        {"a": (0, 3), "d": (5, 7), "b": (8, 11), "Y": (12, 16), "H": (17, 19), "M": (20, 22),
         "S": (23, 25)},
    ),
}  # fmt: skip
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _parse(chars: np.ndarray, template: str, fields: dict) -> tuple[np.ndarray, np.ndarray]:
    """(which rows are a real time spelled as ``template``, their ``datetime64[us]``) of
    ``chars``, one text a row of bytes; a row not so spelled, or an impossible date (31
    February, 24:00, a weekday that is not the date's), is not good."""
    digit_at = [k for k, c in enumerate(template) if c == "d"]
    fixed_at = [k for k, c in enumerate(template) if c not in "dwb"]
    digits = chars[:, digit_at]
    good = np.all((digits >= 48) & (digits <= 57), axis=1)
    fixed = np.frombuffer("".join(template[k] for k in fixed_at).encode(), np.uint8)
    good &= np.all(chars[:, fixed_at] == fixed, axis=1)
    numbers = chars.astype(np.int64) - 48

    def number(name: str) -> np.ndarray:
        start, stop = fields[name]
        return numbers[:, start:stop] @ (10 ** np.arange(stop - start - 1, -1, -1))

    def named(name: str, names: tuple[str, ...]) -> np.ndarray:
        """1 + the index of the name at ``name``'s place in ``names`` (0: none of them)."""
        start, _ = fields[name]
        found = np.zeros(len(chars), dtype=np.int64)
        for i, word in enumerate(names):
            hit = np.all(chars[:, start : start + 3] == np.frombuffer(word.encode(), np.uint8), 1)
            found[hit] = i + 1
        return found

    year, day = number("Y"), number("d")
    month = number("m") if "m" in fields else named("b", _MONTHS)
    hour, minute, second = number("H"), number("M"), number("S")
    # pandas' nanoseconds reach 1677-09-21 to 2262-04-11: years outside whole are left to it.
    good &= (year >= 1678) & (year <= 2261) & (month >= 1) & (month <= 12) & (day >= 1)
    good &= (hour < 24) & (minute < 60) & (second < 60)
    months = np.where(good, (year - 1970) * 12 + month - 1, 0).astype("datetime64[M]")
    date = months.astype("datetime64[D]") + np.where(good, day - 1, 0).astype("timedelta64[D]")
    good &= date.astype("datetime64[M]") == months  # no 31 February
    if "a" in fields:  # 1970-01-01 was a Thursday
        good &= named("a", _WEEKDAYS) == (date.astype(np.int64) + 3) % 7 + 1
    micros = ((hour * 60 + minute) * 60 + second) * 1_000_000
    if "ms" in fields:
        micros += number("ms") * 1000
    return good, date.astype("datetime64[us]") + micros.astype("timedelta64[us]")
