"""Summaries of synthetic traffic with errors, throttling and expiries: counts, quantiles
(checked against numpy on the same data), lifecycles, clock skew and violations."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from chime_tap.analysis import lifecycle, load_frame, render, summarize
from chime_tap.analysis.summaries import interval_for, select, status_class, traffic
from chime_tap.cassettes.format import make_interaction

HOST = "voice-chime.us-east-1.amazonaws.com"
VC = "abcdef1ghij2klmno3pqr4"
T0 = pd.Timestamp("2026-03-01T10:00:00Z")


def session_body(
    sid: str, *, status="Open", created=T0, updated=T0, ended=None, expiry=60, caps=("SMS", "Voice")
):
    def iso(t):
        return None if t is None else t.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"

    return json.dumps({"ProxySession": {"ProxySessionId": sid, "VoiceConnectorId": VC, "Status": status, "ExpiryMinutes": expiry,
                                        "Capabilities": list(caps), "CreatedTimestamp": iso(created), "UpdatedTimestamp": iso(updated),
                                        "EndedTimestamp": iso(ended)}})  # fmt: skip


def call(
    op,
    at,
    *,
    sid=None,
    status=None,
    body="",
    latency=None,
    error=None,
    skew_s=0.0,
    violations=None,
    req_body=None,
):
    method = {
        "CreateProxySession": "POST",
        "UpdateProxySession": "POST",
        "DeleteProxySession": "DELETE",
    }.get(op, "GET")
    path = f"/voice-connectors/{VC}/proxy-sessions" + (
        f"/{sid}" if sid and op != "CreateProxySession" else ""
    )
    headers = {
        "Date": [at.strftime("%a, %d %b %Y %H:%M:%S GMT")],
        "Content-Type": ["application/json"],
    }
    if error:
        headers["x-amzn-ErrorType"] = [f"{error[0]}:http://internal.amazon.com/"]
        body = json.dumps({"Code": error[1], "Message": error[2]})
    meta = {
        "recorded_at": at.isoformat().replace("+00:00", "Z"),
        "operation": op,
        "namespace": "voice",
        "violations": violations or [],
    }
    if latency is not None:
        meta["duration_ms"] = latency
    amz = (at + pd.Timedelta(seconds=skew_s)).strftime("%Y%m%dT%H%M%SZ")
    return make_interaction(method=method, uri=f"https://{HOST}{path}", request_headers={"X-Amz-Date": [amz]}, request_body=req_body,
                            status=status, reason="", response_headers=headers, response_body=body, meta=meta)  # fmt: skip


def write(path: Path, items) -> Path:
    path.write_text(json.dumps({"version": 1, "interactions": list(items)}))
    return path


@pytest.fixture
def traffic_frame(tmp_path):
    rng = np.random.default_rng(7)
    latencies = rng.gamma(2.0, 40.0, size=200)
    items = []
    # Session a: created, updated, throttled, ended by expiry (Closed with EndedTimestamp).
    a_end = T0 + pd.Timedelta(minutes=30)
    items.append(
        call(
            "CreateProxySession",
            T0,
            sid="a",
            status=201,
            body=session_body("a", expiry=30),
            latency=latencies[0],
        )
    )
    items.append(call("UpdateProxySession", T0 + pd.Timedelta(minutes=5), sid="a", status=201,
                      body=session_body("a", updated=T0 + pd.Timedelta(minutes=5), expiry=30, caps=("Voice",)), latency=latencies[1]))  # fmt: skip
    items.append(call("GetProxySession", T0 + pd.Timedelta(minutes=6), sid="a", status=429, latency=latencies[2],
                      error=("ThrottledClientException", "Throttled", "Rate exceeded")))  # fmt: skip
    items.append(call("GetProxySession", a_end + pd.Timedelta(minutes=1), sid="a", status=200, latency=latencies[3],
                      body=session_body("a", status="Closed", updated=a_end, ended=a_end, expiry=30)))  # fmt: skip
    # Session b: created, then deleted; lives past its 1-minute expiry without an end.
    items.append(call("CreateProxySession", T0 + pd.Timedelta(minutes=1), sid="b", status=201, latency=latencies[4],
                      body=session_body("b", created=T0 + pd.Timedelta(minutes=1), updated=T0 + pd.Timedelta(minutes=1), expiry=1)))  # fmt: skip
    items.append(call("GetProxySession", T0 + pd.Timedelta(minutes=10), sid="b", status=200, latency=latencies[5], skew_s=400.0,
                      body=session_body("b", created=T0 + pd.Timedelta(minutes=1), updated=T0 + pd.Timedelta(minutes=1), expiry=1)))  # fmt: skip
    items.append(
        call(
            "DeleteProxySession",
            T0 + pd.Timedelta(minutes=11),
            sid="b",
            status=204,
            latency=latencies[6],
            skew_s=-2.0,
        )
    )
    # 193 more Gets of a missing session: NotFound, and a schema violation on every 10th.
    for i in range(7, 200):
        bad = [
            {
                "operation": "GetProxySession",
                "part": "path",
                "pointer": "/proxySessionId",
                "message": "'  ' does not match '.*\\\\S.*'",
            }
        ]
        items.append(call("GetProxySession", T0 + pd.Timedelta(seconds=3 * i), sid="zz", status=404, latency=latencies[i],
                          error=("NotFoundException", "NotFound", "No such session"), violations=bad if i % 10 == 0 else None))  # fmt: skip
    return write(tmp_path / "traffic.json", items), latencies


def test_status_codes_per_operation(traffic_frame):
    frame = load_frame([traffic_frame[0]])
    codes = summarize(frame)["status_codes"]
    assert codes.loc["CreateProxySession", 201] == 2
    assert codes.loc["UpdateProxySession", 201] == 1
    assert codes.loc["GetProxySession", 200] == 2
    assert codes.loc["GetProxySession", 429] == 1
    assert codes.loc["GetProxySession", 404] == 193
    assert codes.loc["DeleteProxySession", 204] == 1
    assert int(codes.to_numpy().sum()) == 200


def test_errors_by_type_and_message(traffic_frame):
    errors = summarize(load_frame([traffic_frame[0]]))["errors"]
    rows = {
        (r.operation, r.error_type, r.error_message, r.status): r.count for r in errors.itertuples()
    }
    assert rows == {
        ("GetProxySession", "NotFoundException", "No such session", 404): 193,
        ("GetProxySession", "ThrottledClientException", "Rate exceeded", 429): 1,
    }
    assert errors["count"].iloc[0] == 193  # most frequent first


def test_latency_quantiles_match_numpy(traffic_frame):
    path, latencies = traffic_frame
    latency = summarize(load_frame([path]))["latency_ms"]
    ops = np.array(["CreateProxySession", "UpdateProxySession", "GetProxySession", "GetProxySession",
                    "CreateProxySession", "GetProxySession", "DeleteProxySession"] + ["GetProxySession"] * 193)  # fmt: skip
    for op in ("GetProxySession", "CreateProxySession"):
        sample = latencies[ops == op]
        row = latency.loc[op]
        assert row["count"] == len(sample)
        for name, q in (("p50", 50), ("p95", 95), ("p99", 99)):
            assert row[name] == pytest.approx(np.percentile(sample, q), rel=1e-9)
        assert row["max"] == pytest.approx(sample.max())


def test_session_lifecycles(traffic_frame):
    sessions = summarize(load_frame([traffic_frame[0]]))["sessions"].set_index("proxy_session_id")
    a, b = sessions.loc["a"], sessions.loc["b"]
    assert a["calls"] == 4 and b["calls"] == 3
    assert a["created"] == T0
    assert a["ended"] == T0 + pd.Timedelta(minutes=30)
    assert a["last_updated"] == T0 + pd.Timedelta(minutes=30)
    assert a["final_status"] == "Closed"
    assert a["observed_minutes"] == pytest.approx(30.0)
    assert not a["outlived_expiry"] and not a["deleted"]
    assert a["status_source"] == "GetProxySession at 2026-03-01 10:31:00.000 UTC"
    # A Delete answered 204 ends the session: Deleted, said by that Delete.
    assert b["deleted"] and b["final_status"] == "Deleted"
    assert b["status_source"] == "DeleteProxySession at 2026-03-01 10:11:00.000 UTC"
    assert b["observed_minutes"] == pytest.approx(10.0)  # created at +1 min, last seen at +11 min
    assert b["outlived_expiry"]  # ExpiryMinutes 1
    # 193 Gets of "zz" answered 404: the service never acknowledged it, so it is no session.
    assert "zz" not in sessions.index and len(sessions) == 2


def test_clock_skew_warns_past_the_sigv4_window(traffic_frame):
    skew = summarize(load_frame([traffic_frame[0]]))["clock_skew"]
    assert skew["count"] == 200
    assert skew["outside_window"] == 1
    assert skew["max"] == 400.0 and skew["min"] == -2.0
    assert "5-minute" in skew["warning"]


def test_clock_skew_without_outliers_has_no_warning(tmp_path):
    path = write(
        tmp_path / "c.json",
        [call("ListProxySessions", T0, status=200, body='{"ProxySessions":[]}', skew_s=299.0)],
    )
    skew = summarize(load_frame([path]))["clock_skew"]
    assert skew["outside_window"] == 0 and skew["warning"] is None


@pytest.mark.parametrize("seed", range(40))
def test_quantiles_of_counts_are_numpys_of_the_values_repeated(seed):
    """A dataset's skew statistics come from each value's count, not from millions of values:
    the quantiles are np.quantile's of the values themselves, to the last bit."""
    from chime_tap.analysis.summaries import quantiles_of_counts

    rng = np.random.default_rng(seed)
    scale = [1, 30, 400, 1e5][seed % 4]
    values = np.unique(np.round(rng.normal(0, scale, size=int(rng.integers(1, 40))), seed % 3))
    weights = rng.integers(1, [2, 7, 5000][seed % 3], size=len(values))
    qs = [0.0, 0.5, 0.95, 1.0, *rng.random(5)]
    got = quantiles_of_counts(values, weights, qs)
    want = np.quantile(np.repeat(values, weights), qs)
    assert got.tolist() == want.tolist()


@pytest.mark.parametrize("seed", range(6))
def test_clock_skew_of_counts_is_the_skew_of_the_values(seed):
    """The statistics from a dataset's counts (a partial per day, merged) are those pandas and
    numpy give for the values one by one (the frame's report)."""
    from chime_tap.analysis.summaries import _skew_finish, _skew_merge

    rng = np.random.default_rng(seed)
    skew = pd.Series(np.round(rng.normal(0, [3, 200, 900][seed % 3], size=3000)), dtype="float64")
    days = [skew.iloc[:1000], skew.iloc[1000:2500], skew.iloc[2500:]]
    parts = [
        {"counts": d.value_counts(sort=False).rename("count"), "not_service_clock": 1} for d in days
    ]
    got = _skew_finish(_skew_merge(_skew_merge(parts[0], parts[1]), parts[2]))
    q = skew.quantile([0.0, 0.5, 0.95, 1.0]).to_numpy()
    counts, edges = np.histogram(skew.to_numpy(), bins=min(10, skew.nunique()))
    outside = int(skew.abs().gt(300).sum())
    assert got == {
        "count": 3000,
        "outside_window": outside,
        "window_s": 300.0,
        "not_service_clock": 3,
        "min": q[0],
        "p50": q[1],
        "p95": q[2],
        "max": q[3],
        "mean": skew.mean(),
        "histogram": [
            {"from_s": a, "to_s": b, "count": c}
            for a, b, c in zip(
                edges[:-1].tolist(), edges[1:].tolist(), counts.tolist(), strict=True
            )
        ],
        "warning": got["warning"],
    }
    assert (got["warning"] is None) == (outside == 0)


def test_violations_ranked(traffic_frame):
    ranked = summarize(load_frame([traffic_frame[0]]))["violations"]
    assert list(ranked["count"]) == [sum(1 for i in range(7, 200) if i % 10 == 0)]
    assert ranked["violation"].iloc[0].startswith("path /proxySessionId: ")


def test_traffic_interval_follows_the_time_span(traffic_frame):
    frame = load_frame([traffic_frame[0]])
    assert interval_for(pd.Timedelta(seconds=30)) == "1s"
    assert interval_for(pd.Timedelta(hours=2)) == "5min"
    assert interval_for(pd.Timedelta(days=30)) == "1D"
    table = traffic(frame)
    assert table.attrs["interval"] == interval_for(
        frame["recorded_at"].max() - frame["recorded_at"].min()
    )
    assert int(table.to_numpy().sum()) == 200
    assert int(table["4xx"].sum()) == 194
    assert len(table) <= 60


def test_select_by_time_and_operation(traffic_frame):
    frame = load_frame([traffic_frame[0]])
    early = select(frame, until=T0 + pd.Timedelta(minutes=2))
    assert len(early) == 2 + sum(
        1 for i in range(7, 200) if 3 * i < 120
    )  # a and b created; Gets of zz
    assert set(select(frame, operations=["DeleteProxySession"])["operation"].astype(str)) == {
        "DeleteProxySession"
    }


def test_calls_without_a_response_count_as_no_response(tmp_path):
    item = call("GetProxySession", T0, sid="a", status=0, body="")
    item["chime_tap"]["error"] = "upstream refused the connection"
    frame = load_frame([write(tmp_path / "x.json", [item])])
    summary = summarize(frame)
    assert summary["status_codes"].loc["GetProxySession", 0] == 1
    row = summary["errors"].iloc[0]
    assert (row["error_type"], row["error_message"]) == (
        "NoResponse",
        "upstream refused the connection",
    )


def test_session_table_has_the_same_typed_columns_with_and_without_sessions(traffic_frame):
    from chime_tap.analysis.load import empty_frame
    from chime_tap.analysis.summaries import SESSION_COLUMNS, sessions

    full, empty = sessions(load_frame([traffic_frame[0]])), sessions(empty_frame())
    assert list(full.columns) == list(empty.columns) == SESSION_COLUMNS
    assert full.dtypes.to_dict() == empty.dtypes.to_dict()
    assert empty.empty and len(full) == 2


@pytest.mark.parametrize(
    ("answered_by", "counted"),
    [("upstream", True), ("no metadata", True), ("addon", False), ("chime-tap", False)],
)
def test_clock_skew_counts_only_dates_from_the_services_clock(tmp_path, answered_by, counted):
    """The simulator (addon) and enforce mode (chime-tap) date answers by chime-tap's clock,
    which a test may move: their skew is left out, and said to be. The service's answers, and
    those of a foreign cassette that does not say who answered, count."""
    item = call("ListProxySessions", T0, status=200, body='{"ProxySessions":[]}', skew_s=-360.0)
    if answered_by == "no metadata":
        del item["chime_tap"]
    else:
        item["chime_tap"]["answered_by"] = answered_by
    summary = summarize(load_frame([write(tmp_path / "c.json", [item])]))
    skew = summary["clock_skew"]
    assert (skew["count"], skew["outside_window"]) == ((1, 1) if counted else (0, 0))
    assert (skew["warning"] is not None) == counted
    assert skew["not_service_clock"] == (0 if counted else 1)
    text = render(summary, "text")
    assert ("WARNING" in text) == counted
    assert ("left out — 1 interaction(s) answered by chime-tap itself" in text) == (not counted)


def _legacy(item: dict) -> dict:
    """``item`` sent to the legacy namespace's host instead."""
    item["request"]["uri"] = item["request"]["uri"].replace(HOST, "service.chime.aws.amazon.com")
    item["chime_tap"]["namespace"] = "legacy"
    return item


def test_one_id_in_two_namespaces_is_two_sessions_and_list_items_keep_any_id(tmp_path):
    odd = "odd%1E\x1eid\x1f%"  # the List column's separators and escape character, in an id
    listing = {"ProxySessions": [json.loads(session_body(odd, status="Closed"))["ProxySession"]]}
    items = [
        call("CreateProxySession", T0, sid="s", status=201, body=session_body("s")),
        _legacy(call("CreateProxySession", T0 + pd.Timedelta(seconds=1), sid="s", status=201,
                     body=session_body("s", expiry=5))),
        _legacy(call("ListProxySessions", T0 + pd.Timedelta(seconds=2), status=200, body=json.dumps(listing))),
        # A 200 whose body names another session acknowledges neither.
        call("GetProxySession", T0 + pd.Timedelta(seconds=3), sid="t", status=200, body=session_body("u")),
    ]  # fmt: skip
    table = summarize(load_frame([write(tmp_path / "ns.json", items)]))["sessions"]
    assert list(zip(table["proxy_session_id"], table["namespace"], table["expiry_minutes"],
                    table["final_status"], table["calls"], strict=True)) == [
        ("s", "voice", 60, "Open", 1),
        ("s", "legacy", 5, "Open", 1),
        (odd, "legacy", 60, "Closed", 0),  # seen only in a List: no call addressed it
    ]  # fmt: skip
    assert table["status_source"].iloc[2] == "ListProxySessions at 2026-03-01 10:00:02.000 UTC"


# --- text made in bulk, against pandas' own formatting ------------------------------------------


def test_session_status_times_are_strftime_to_the_millisecond() -> None:
    # lifecycle._labelled_times builds the time's text from parts (millions of sessions in a
    # dataset report); it must say exactly what strftime says, truncated to milliseconds,
    # before 1970 too.
    rng = np.random.default_rng(7)
    us = rng.integers(-(10**15), 2 * 10**15, 5000)
    times = pd.Series(pd.to_datetime(us, unit="us", utc=True), index=np.arange(3, 5003))
    times[rng.random(len(times)) < 0.1] = pd.NaT
    stray = pd.Series(
        pd.to_datetime(["1970-01-01T00:00:00.001", "2026-03-01T23:59:59.999"], utc=True)
    )
    far = pd.Series(
        np.array(["12000-03-01T10:00:00.250", "2026-01-01T00:00:00"], dtype="datetime64[us]")
    ).dt.tz_localize("UTC")  # a five-digit year: not the fixed width
    for sample in (
        times,
        times.dt.as_unit("ns"),
        times.iloc[:0],
        pd.Series([pd.NaT] * 2, dtype="datetime64[us, UTC]"),
        stray,  # two days 56 years apart: only those days' text is made
        far,
    ):
        expected = (sample.dt.strftime("%Y-%m-%d %H:%M:%S.%f").str[:-3] + " UTC").fillna(
            "unknown time"
        )
        nothing = pd.Series(pd.Categorical([""] * len(sample)), index=sample.index)
        got = lifecycle._labelled_times(nothing, sample, "")
        pd.testing.assert_series_equal(got, expected, check_names=False)


def test_status_source_is_the_operation_at_its_time(monkeypatch) -> None:
    # The session table's status_source, "<operation> at <time>", is made as bytes in bulk;
    # it must be the text pandas' own concatenation gives, missing where no operation said it.
    rng = np.random.default_rng(11)
    n = 3000
    times = pd.Series(pd.to_datetime(rng.integers(0, 2 * 10**15, n), unit="us", utc=True))
    times[rng.random(n) < 0.1] = pd.NaT
    names = ["CreateProxySession", "GetProxySession", "ListProxySessions", "Ünïcode op", "x"]
    operation = pd.Series(pd.Categorical.from_codes(rng.integers(-1, len(names), n), names))
    expected = (
        operation.astype("str")
        + " at "
        + (times.dt.strftime("%Y-%m-%d %H:%M:%S.%f").str[:-3] + " UTC").fillna("unknown time")
    ).where(operation.notna())
    monkeypatch.setattr(lifecycle, "_CHUNK", 256)  # made in several chunks, as at scale
    got = lifecycle._labelled_times(operation, times, " at ")
    pd.testing.assert_series_equal(got, expected)
    assert got.isna().sum() == (operation.cat.codes < 0).sum() > 0
    nothing = pd.Series(pd.Categorical([None] * 3, categories=[]))  # no session said a status
    assert lifecycle._labelled_times(nothing, times[:3], " at ").isna().all()


def test_categorical_columns_become_the_same_text_as_astype_str() -> None:
    values = pd.Series(
        pd.Categorical(["b", None, "a", "b", None], categories=["a", "b", "unused"]),
        index=[4, 5, 6, 7, 8],
    )
    for missing in (None, "(none)"):
        expected = values.astype("str")
        expected = expected if missing is None else expected.fillna(missing)
        pd.testing.assert_series_equal(lifecycle.text(values, missing), expected)
        plain = values.astype("str")
        pd.testing.assert_series_equal(lifecycle.text(plain, missing), expected)


def test_session_events_order_is_the_stable_sort_by_key_time_row() -> None:
    # lifecycle sorts a partition's events with one lexsort; it must be pandas' stable sort
    # by key, time (no time last) and row, ties kept as they stand.
    rng = np.random.default_rng(5)
    n = 4000
    at = pd.Series(pd.to_datetime(rng.integers(0, 50, n), unit="s", utc=True))
    at[rng.random(n) < 0.2] = pd.NaT
    events = pd.DataFrame(
        {"key": rng.integers(0, 30, n), "at": at, "row": rng.integers(0, 40, n), "n": range(n)}
    ).set_index(pd.Index(rng.permutation(n)))
    expected = events.sort_values(["key", "at", "row"], kind="stable")
    pd.testing.assert_frame_equal(events.take(lifecycle._by_key_time_row(events)), expected)


def test_status_class_is_each_status_hundreds_or_no_response() -> None:
    # Made once per class as categories; the text must be what each row's own would be, and
    # the traffic table's columns in the labels' text order.
    status = pd.Series([503, 0, 200, 99, 404, 201, 0, 999, 302], dtype="int16", index=range(5, 14))
    expected = [f"{s // 100}xx" if s else "no response" for s in status]
    got = status_class(status)
    assert got.astype("str").tolist() == expected and got.index.equals(status.index)
    frame = pd.DataFrame(
        {"recorded_at": pd.date_range("2026-03-01", periods=len(status), freq="s", tz="UTC"),
         "status": status.to_numpy()}
    )  # fmt: skip
    table = traffic(frame)
    assert list(table.columns) == sorted(set(expected)) and table.columns.name == "class"
    assert table.sum().to_dict() == {c: expected.count(c) for c in set(expected)}


def test_partials_grouped_by_code_are_the_tables_of_text() -> None:
    # Partials group few-valued columns by category code and turn the keys back into text;
    # the tables must be those pandas makes from the text itself.
    from chime_tap.analysis.summaries import OTHER, _coded, _crosstab

    rng = np.random.default_rng(9)
    n = 2000
    ops = pd.Series(pd.Categorical(rng.choice(["Get", "List", "Create", None], n),
                                   categories=["List", "Get", "Create", "Unused"]), name="op")  # fmt: skip
    ns = pd.Series(rng.choice(["voice", "legacy", None], n), name="ns")  # plain text, missing
    status = pd.Series(rng.choice([200, 404, 0, 503], n), name="status")
    text_keys = [ns.fillna(OTHER).astype("str"), ops.astype("str").fillna(OTHER)]
    expected = pd.crosstab(text_keys, status)
    got = _crosstab([_coded(ns, OTHER), _coded(ops, OTHER)], status)
    pd.testing.assert_frame_equal(got, expected)
    one = _crosstab([_coded(ops, OTHER)], status)
    pd.testing.assert_frame_equal(one, pd.crosstab(text_keys[1], status))
