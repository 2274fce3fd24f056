"""Benchmark: traffic at fleet scale (issue 17): ingest, reports on a dataset, the cluster engine.

    python -m bench fleet [-- --rows 10000000 --json-n 40000 --yaml-n 10000 --rounds 3]

Inputs come from ``bench/fleet_gen.py`` (many recorders, 30 days, the demo's operation mix and
fault rates, a latency distribution per operation). Every figure is a pair run in alternation
(``bench.paired``), each run in its own process so its time and memory are its own; imports are
not timed (nor for the baselines); CPU seconds (the process and its pool's workers) are shown
beside wall time, since a shared machine's neighbours stretch wall time. Peak memory is the sum of the resident sizes of the process
and its children (a report's worker processes), sampled every 20 ms.

- ingest of JSON cassettes (in the layout ``chime-tap record`` writes, one interaction a line)
  vs today's report loader (``load_frame``) on the same files, in interactions per second
  (target >= 5x);
- ingest of YAML cassettes vs ``yaml.load(CSafeLoader)`` of the same bytes (target <= 1.0x);
- the report (summaries + text) of a ``--rows`` dataset (target at 10,000,000: <= 20 s,
  <= 2 GB); the embedded engine (a process per core) vs ``--engine local`` (one process);
- ``--since/--until`` one day of the 30 vs the whole report: files read and time (targets
  <= 5 % of the files, <= 1/10 of the time);
- for reference, DuckDB counting status codes and errors over the same files (what an SQL
  engine takes for the simplest summaries; the report is not written in SQL, see the README);
- ``--engine dask`` on a local cluster of 2 worker processes vs 1 (target >= 1.6x, the same
  results), and beside it this machine's ceiling for that ratio: the same runs of days made
  into partials by two processes at once vs by one (no Dask, no merge, settling or ordering).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

from bench.bench_report import _verdict
from bench.paired import alternate, paired

ROOT = Path(__file__).resolve().parent.parent
FULL_ROWS = 10_000_000  # the report and cluster targets are for this size
ONE_DAY = ("2026-10-16T00:00:00Z", "2026-10-17T00:00:00Z")  # day 16 of fleet_gen's 30


# --- the measured steps, each in a child process ----------------------------------------------


def _child(step: str, args: list[str]) -> dict:
    import yaml

    from chime_tap.analysis import load_frame, render
    from chime_tap.analysis.engines import Filters, summarize_dataset
    from chime_tap.commands.ingest import read_table
    from chime_tap.dataset.ingest import ingest

    t0, c0 = time.perf_counter(), _cpu()
    out: dict = {}
    if step == "load":
        out["rows"] = len(load_frame(args))
    elif step == "parse-yaml":
        out["rows"] = sum(
            len(yaml.load(Path(p).read_bytes(), Loader=yaml.CSafeLoader)["interactions"])
            for p in args
        )
    elif step == "ingest":
        done = ingest(args[1:], args[0], read_table)
        out["rows"] = sum(d.rows for d in done)
    elif step == "duckdb":
        import duckdb

        glob = f"{args[0]}/*/*.parquet"
        counts = duckdb.sql(
            f"select operation, status, count(*) from read_parquet('{glob}') group by all"
        ).fetchall()
        failed = duckdb.sql(
            f"select operation, error_type, error_message, status, count(*) "
            f"from read_parquet('{glob}') where status >= 400 or status = 0 group by all"
        ).fetchall()
        out["rows"] = sum(n for *_, n in counts)
        out["groups"] = len(counts) + len(failed)
    elif step.startswith("report"):
        engine, root, *span = args
        since, until = [*span, None, None][:2]
        import pandas as pd

        filters = Filters(
            since=pd.Timestamp(since).to_pydatetime() if since else None,
            until=pd.Timestamp(until).to_pydatetime() if until else None,
        )
        summary, ran = summarize_dataset(root, filters, engine=engine)
        text = render(summary, "text")
        out.update(
            rows=summary["interactions"],
            files=ran.files,
            files_in_dataset=ran.files_in_dataset,
            text_chars=len(text),
        )
    out["seconds"] = time.perf_counter() - t0
    out["cpu_s"] = _cpu() - c0  # this process and its finished workers (a pool's)
    return out


def _cpu() -> float:
    """CPU seconds (user + system) of this process and of its children that have ended."""
    own, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


class _PeakRSS:
    """The largest sum of resident memory of a process and its descendants, sampled."""

    def __init__(self, pid: int) -> None:
        self.proc = psutil.Process(pid)
        self.peak = 0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.done.wait(0.02):
            try:
                procs = [self.proc, *self.proc.children(recursive=True)]
                total = 0
                for p in procs:
                    with contextlib.suppress(psutil.Error):  # it ended between the two calls
                        total += p.memory_info().rss
                self.peak = max(self.peak, total)
            except psutil.Error:
                return

    def stop(self) -> int:
        self.done.set()
        self.thread.join()
        return self.peak


def measure(step: str, *args: str | Path) -> dict:
    """Run one step in a child process; its figures, with the tree's peak RSS in MB."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.bench_fleet", "--child", step, *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    rss = _PeakRSS(proc.pid)
    out, err = proc.communicate(timeout=7200)
    peak = rss.stop()
    if proc.returncode != 0:
        raise RuntimeError(f"{step} exited {proc.returncode}: {err[-800:]}")
    result = json.loads(out.splitlines()[-1])
    result["peak_rss_mb"] = peak / 2**20
    return result


# --- the cases ----------------------------------------------------------------------------------


def _cassettes(tmp: Path, fmt: str, n: int) -> list[Path]:
    from bench import fleet_gen

    recorders = 8
    days = max(1, n // (recorders * 500))
    paths, _ = fleet_gen.write_cassettes(
        tmp / f"in-{fmt}", recorders=recorders, days=days, per_day=n // (recorders * days),
        fmt=fmt, seed=5,
    )  # fmt: skip
    return paths


def ingest_case(tmp: Path, fmt: str, n: int, rounds: int) -> dict:
    """ingest vs the baseline of the format: the report loader (json), libyaml (yaml)."""
    paths = _cassettes(tmp, fmt, n)
    base_step = "load" if fmt == "json" else "parse-yaml"

    def ingest_once(r: int) -> dict:
        target = tmp / f"ds-{fmt}-{r}"
        try:
            return measure("ingest", target, *paths)
        finally:
            shutil.rmtree(target, ignore_errors=True)

    runs = alternate({"base": lambda r: measure(base_step, *paths), "ingest": ingest_once}, rounds)
    rows = runs["ingest"][0]["rows"]
    assert all(r["rows"] == rows for rs in runs.values() for r in rs), runs
    # json: interactions/s of ingest over the loader's; yaml: ingest's time over libyaml's.
    # The same by CPU seconds (user + system, workers included): what the work costs, which a
    # shared machine's neighbours disturb less than wall time.
    base_cpu, ingest_cpu = [b["cpu_s"] for b in runs["base"]], [i["cpu_s"] for i in runs["ingest"]]
    if fmt == "json":
        ratio = paired([b["seconds"] for b in runs["base"]], [i["seconds"] for i in runs["ingest"]])
        cpu_ratio = paired(base_cpu, ingest_cpu)
    else:
        ratio = paired([i["seconds"] for i in runs["ingest"]], [b["seconds"] for b in runs["base"]])
        cpu_ratio = paired(ingest_cpu, base_cpu)
    mb = sum(p.stat().st_size for p in paths) / 1e6
    shutil.rmtree(paths[0].parent)
    return {
        "case": f"ingest {fmt}",
        "interactions": rows,
        "files": len(paths),
        "MB": round(mb, 1),
        "baseline": base_step,
        "baseline_s": [round(b["seconds"], 2) for b in runs["base"]],
        "ingest_s": [round(i["seconds"], 2) for i in runs["ingest"]],
        "ingest_per_s": round(rows / min(i["seconds"] for i in runs["ingest"])),
        "baseline_cpu_s": [round(c, 2) for c in base_cpu],
        "ingest_cpu_s": [round(c, 2) for c in ingest_cpu],
        "baseline_cpu_s_per_100k": round(statistics.median(base_cpu) * 100_000 / rows, 2),
        "ingest_cpu_s_per_100k": round(statistics.median(ingest_cpu) * 100_000 / rows, 2),
        "ratio": ratio.as_dict(),
        "ratio_text": ratio.text(),
        "cpu_ratio": cpu_ratio.as_dict(),
        "cpu_ratio_text": cpu_ratio.text(),
    }


def report_cases(root: Path, rounds: int) -> list[dict]:
    """The whole report (embedded and local engines) and one day of it."""
    runs = alternate(
        {
            "embedded": lambda r: measure("report", "embedded", root),
            "local": lambda r: measure("report", "local", root),
            "one day": lambda r: measure("report", "embedded", root, *ONE_DAY),
            "duckdb": lambda r: measure("duckdb", root),
        },
        rounds,
    )
    full, local, day, duck = runs["embedded"], runs["local"], runs["one day"], runs["duckdb"]
    counts_share = paired([x["seconds"] for x in duck], [x["seconds"] for x in full])
    speedup = paired([x["seconds"] for x in local], [x["seconds"] for x in full])
    time_share = paired([x["seconds"] for x in day], [x["seconds"] for x in full])
    return [
        {
            "case": "report (embedded)",
            "interactions": full[0]["rows"],
            "seconds": [round(x["seconds"], 2) for x in full],
            "peak_rss_mb": round(max(x["peak_rss_mb"] for x in full)),
            "cpu_s": [round(x["cpu_s"], 1) for x in full],
            "files": f"{full[0]['files']} of {full[0]['files_in_dataset']}",
            "embedded_vs_local": speedup.as_dict(),
            "embedded_vs_local_text": speedup.text(),
            "local_s": [round(x["seconds"], 2) for x in local],
            "local_cpu_s": [round(x["cpu_s"], 1) for x in local],
            "local_peak_rss_mb": round(max(x["peak_rss_mb"] for x in local)),
        },
        {
            # What an SQL engine takes for the counting summaries alone (status codes and
            # errors), for the choice of the embedded engine; not a report.
            "case": "duckdb counts (reference)",
            "seconds": [round(x["seconds"], 2) for x in duck],
            "peak_rss_mb": round(max(x["peak_rss_mb"] for x in duck)),
            "of_report_time": counts_share.as_dict(),
            "of_report_time_text": counts_share.text(3),
        },
        {
            "case": "report one day",
            "interactions": day[0]["rows"],
            "seconds": [round(x["seconds"], 2) for x in day],
            "files": f"{day[0]['files']} of {day[0]['files_in_dataset']}",
            "file_share": day[0]["files"] / day[0]["files_in_dataset"],
            "time_share": time_share.as_dict(),
            "time_share_text": time_share.text(3),
        },
    ]


def dask_case(root: Path, rounds: int) -> dict:
    """The same report on a local cluster of 1 and of 2 worker processes."""
    import dask
    from distributed import LocalCluster

    from chime_tap.analysis.engines import summarize_dataset

    # As the README advises for a cluster that runs reports: workers without dask's default
    # MALLOC_TRIM_THRESHOLD_=65536, which fixes glibc's mmap threshold, so every large pandas
    # array is mapped and unmapped again (a day's partial took ~1.4x as long).
    with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}):
        clusters = {
            n: LocalCluster(
                processes=True,
                n_workers=n,
                threads_per_worker=1,
                host="127.0.0.1",
                dashboard_address="127.0.0.1:0",
                silence_logs=40,
            )
            for n in (1, 2)
        }
    results: dict[int, list] = {1: [], 2: []}
    try:

        def on(n: int):
            def run(r: int) -> float:
                summary, ran = summarize_dataset(
                    root, engine="dask", scheduler=clusters[n].scheduler_address
                )
                assert ran.workers == n
                results[n].append(summary)
                return ran.seconds

            return run

        runs = alternate({"1 worker": on(1), "2 workers": on(2)}, rounds)
    finally:
        for c in clusters.values():
            c.close()
    a, b = results[1][0], results[2][0]
    equal = (
        a["interactions"] == b["interactions"]
        and a["status_codes"].equals(b["status_codes"])
        and a["errors"].equals(b["errors"])
        and a["latency_ms"].equals(b["latency_ms"])
        and a["sessions"].equals(b["sessions"])
    )
    ratio = paired(runs["1 worker"], runs["2 workers"])
    return {
        "case": "dask 2 workers vs 1",
        "one_worker_s": [round(x, 2) for x in runs["1 worker"]],
        "two_workers_s": [round(x, 2) for x in runs["2 workers"]],
        "ratio": ratio.as_dict(),
        "ratio_text": ratio.text(),
        "equal_results": equal,
    }


def ceiling_case(root: Path, rounds: int) -> dict:
    """What this machine gives two processes at once on the report's own work, without Dask:
    the dataset's runs of days (two, as a 2-worker cluster gets them, a run a worker), their
    partials made by one process one after the other, then by two processes one run each, at
    once. A cluster of two workers cannot be faster than that ratio on the part it splits (on
    this 2-core VM, quiet: 1.89x, 1.97x and 1.96x, where Dask's ratio was 1.64x with the
    sessions settled in buckets on the workers; 1.98-1.99x beside Dask's 1.75x and 1.80x once
    each run settled its own sessions: what Dask lacks is what stays serial, settling a run's
    sessions after its days and fetching the rows, and Dask's own costs; with other work
    running the ceiling fell to 1.4-1.7x)."""
    import concurrent.futures

    from chime_tap.analysis.engines import Filters, run_partial, runs_of
    from chime_tap.dataset import read

    runs = runs_of(read.units(root), 2)
    pools = {n: concurrent.futures.ProcessPoolExecutor(max_workers=n) for n in (1, 2)}
    try:
        for pool in pools.values():  # imports and first reads done before any timing
            pool.submit(run_partial, runs[0][:1], Filters()).result()

        def on(n: int):
            def run(r: int) -> float:
                start = time.perf_counter()
                list(pools[n].map(run_partial, runs, [Filters()] * len(runs)))
                return time.perf_counter() - start

            return run

        timed = alternate({"1 process": on(1), "2 processes": on(2)}, rounds)
    finally:
        for pool in pools.values():
            pool.shutdown()
    ratio = paired(timed["1 process"], timed["2 processes"])
    return {
        "case": "machine ceiling, 2 processes vs 1",
        "one_process_s": [round(x, 2) for x in timed["1 process"]],
        "two_processes_s": [round(x, 2) for x in timed["2 processes"]],
        "ratio": ratio.as_dict(),
        "ratio_text": ratio.text(),
    }


def targets(rows: dict[str, dict], n: int) -> list[str]:
    """One line per target of the issue, for the parts this run measured."""
    out = []
    if "ingest json" in rows:
        j, y = rows["ingest json"], rows["ingest yaml"]
        out.append(_verdict("ingest JSON >= 5x the report loader's interactions/s",
                            j["ratio"]["median"] >= 5,
                            f"{j['ratio_text']}x; per CPU second {j['cpu_ratio_text']}x, "
                            f"{j['ingest_cpu_s_per_100k']} vs {j['baseline_cpu_s_per_100k']} "
                            "CPU-s per 100k"))  # fmt: skip
        out.append(_verdict("ingest YAML <= 1.0x yaml.load(CSafeLoader)",
                            y["ratio"]["median"] <= 1.0,
                            f"{y['ratio_text']}x; by CPU {y['cpu_ratio_text']}x"))  # fmt: skip
    if "report (embedded)" in rows:
        out += _report_targets(rows, n)
    if "dask 2 workers vs 1" in rows:
        d = rows["dask 2 workers vs 1"]
        if n != FULL_ROWS:
            out.append(f"(the dask target is for {FULL_ROWS:,} interactions; measured at {n:,})")
        out.append(_verdict("dask 2 workers >= 1.6x 1 worker, equal results",
                            d["ratio"]["median"] >= 1.6 and d["equal_results"],
                            f"{d['ratio_text']}x, equal results: {d['equal_results']}"))  # fmt: skip
    if "machine ceiling, 2 processes vs 1" in rows:
        c = rows["machine ceiling, 2 processes vs 1"]
        out.append(f"(this machine's ceiling for the same work without Dask: two processes at "
                   f"once {c['ratio_text']}x one process)")  # fmt: skip
    return out


def _report_targets(rows: dict[str, dict], n: int) -> list[str]:
    out = []
    full, day = rows["report (embedded)"], rows["report one day"]
    median = sorted(full["seconds"])[len(full["seconds"]) // 2]
    measured = f"{median} s median of {min(full['seconds'])}-{max(full['seconds'])} s, {full['peak_rss_mb']} MB peak"
    if n == FULL_ROWS:
        ok = median <= 20 and full["peak_rss_mb"] <= 2048
        out.append(
            _verdict(f"report of a {n:,}-interaction dataset <= 20 s and <= 2 GB", ok, measured)
        )
    else:
        out.append(
            f"target not judged at {n:,} interactions (--rows {FULL_ROWS}): report {measured}"
        )
    out.append(_verdict("one day of 30 reads <= 5% of the files and <= 1/10 of the time",
                        day["file_share"] <= 0.05 and day["time_share"]["median"] <= 0.1,
                        f"{day['files']} files ({day['file_share']:.1%}), "
                        f"{day['time_share_text']} of the time"))  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000,
                        help="interactions in the report's dataset (the issue's figure: 10000000)")  # fmt: skip
    parser.add_argument("--json-n", type=int, default=40_000, help="interactions ingested as JSON")
    parser.add_argument("--yaml-n", type=int, default=10_000, help="interactions ingested as YAML")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per pair")
    parser.add_argument("--dataset", type=Path,
                        help="keep the generated dataset here and reuse it if it is there")  # fmt: skip
    parser.add_argument("--skip", action="append", default=[],
                        choices=("ingest", "report", "dask"), help="leave a part out")  # fmt: skip
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        result = _child(args.child[0], args.child[1:])
        print(json.dumps(result))
        return result
    from bench import fleet_gen

    rows: dict[str, dict] = {}
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()} at start")
    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as tmp_name:
        tmp = Path(tmp_name)
        if "ingest" not in args.skip:
            for fmt, n in (("json", args.json_n), ("yaml", args.yaml_n)):
                rows[f"ingest {fmt}"] = ingest_case(tmp, fmt, n, args.rounds)
                print(json.dumps(rows[f"ingest {fmt}"]), flush=True)
        root = args.dataset or tmp / "fleet"
        if not root.exists():
            t0 = time.perf_counter()
            fleet_gen.write_dataset(root, rows=args.rows)
            print(f"generated {args.rows:,} interactions in {time.perf_counter() - t0:.0f} s")
        if "report" not in args.skip:
            for row in report_cases(root, args.rounds):
                rows[row["case"]] = row
                print(json.dumps(row), flush=True)
        if "dask" not in args.skip:
            rows["dask 2 workers vs 1"] = dask_case(root, args.rounds)
            print(json.dumps(rows["dask 2 workers vs 1"]), flush=True)
            rows["machine ceiling, 2 processes vs 1"] = ceiling_case(root, args.rounds)
            print(json.dumps(rows["machine ceiling, 2 processes vs 1"]), flush=True)
    print(f"load average at the end: {os.getloadavg()}")
    verdicts = targets(rows, args.rows)
    for line in verdicts:
        print(line)
    return {"cases": rows, "targets": verdicts}


if __name__ == "__main__":
    main()
