"""Recording throughput: `chime-tap record` and `mitmdump -s addons/record.py` next to plain mitmdump.

Every proxy runs as a real process on 127.0.0.1 and forwards to the same fast loopback upstream
(an asyncio HTTP/1.1 server answering a fixed, valid GetProxySession body). The client sends
GetProxySession calls (a distinct session id each) on keep-alive connections through the proxy,
N threads. Two baselines: `mitmdump` as users run it (it prints one line per flow, as the
recorder does) and silent `mitmdump --set flow_detail=0`. The subjects add the recorder
(validation, scrubbing, one log line and one cassette append per flow): the `chime-tap record`
CLI with YAML and JSON cassettes, and the addon as a mitmdump script (YAML and JSON: the target
of issue 18 is for the script). The CLI runs mitmdump's addon chain without the addons that do
nothing at their default options (chime_tap.proxy);
``record-yaml-full`` is the CLI with mitmdump's whole chain, as any ``--set`` for one of those
addons gives it, so the recorder's own cost shows like for like. Rounds alternate between
configurations, the order reversed every other round (``bench.paired``); each ratio is the
median of per-round paired ratios (this configuration's figure over the baseline's in the same
round), min and max beside it, on throughput and on the proxy's CPU time per flow (steadier on
a shared machine); req/s and CPU per flow are the median rounds. The recorder's own cost per flow
is also timed in-process over tflow flows, next to a trivial addon that parses both JSON bodies
and appends one line per flow.

Where the script's cost is (quiet machine, this 2-core VM): plain mitmdump uses about 1,120 µs
of CPU per call at concurrency 1 and answers about 850 calls a second, so it is busy 95% of the
time even then; the script's gap is CPU at both concurrencies, and work moved off the client's
wait does not narrow it (tried: the counters and the log line run by ``loop.call_soon`` once
the answer is written; 7 rounds gave 0.87 and 0.90 where the code before gave 0.89 and 0.90).
Timed inside the running proxy, the recorder's hooks take about 150 µs per call (response:
mark, counters and log line 45-48, of which 37 µs is the line's way through logging and
mitmproxy's terminal handler; cassette append 45-55, validation 21-24, decoding 13, metadata 7)
and 13 µs (responseheaders): 2.5-3 times the in-process figure, whose loop runs hot in the
caches.

A floor runs beside them too: ``mitmdump-s-floor`` (bench/floor_addon.py) parses both bodies,
appends one line before the answer and logs one line the way the recorder does, and nothing
else: what any recorder that names each call and writes before answering starts from.

A control runs beside them: a second plain mitmdump process (``mitmdump-again``). It does the
baseline's work exactly, so its paired ratio to the baseline shows what this machine's noise
alone makes of "the same" in this run (on this 2-core VM, paired medians of 1.05-1.31 while
others worked, 0.97 and 1.04 over 7 rounds on a quiet machine, each round 0.85-1.24): a ratio
inside that spread is no measured difference, and a few percent needs a quiet machine and more
rounds (``--configs`` runs fewer configurations, so more rounds fit in the same time). A target
below every round of the control is missed; one the run cannot resolve is "NOT SHOWN".

    python -m bench record [-- --requests 2000 --concurrency 1 32 --rounds 3 --instructions 600]
    python -m bench record -- --configs mitmdump-s-yaml mitmdump-s-json --rounds 9
    python -m bench record -- --concurrency --instructions 600   # the instruction counts alone

With ``--instructions N`` each configuration (``--instruction-configs`` to pick some) also runs
under callgrind and the instructions per call are counted: unlike throughput, that figure does
not move when the machine is busy. It is counted twice: with the upstream answering the same
body every time (as in the throughput runs: the recorder's verdict cache hits) and with a body
that differs every time (it never does). Take N in the hundreds: a full collection of Python's
cyclic GC lands every few thousand calls and adds tens of millions of instructions to the window
it falls in (34 million measured once: 57,000 per call over 600 calls, 230,000 over 150).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT / "tests") not in sys.path:
    sys.path.insert(0, str(ROOT / "tests"))

from bench.loopback import PROXY_SESSION_BODY as BODY  # noqa: E402
from bench.loopback import TIME_CAP, VARY_UPDATED, cpu_seconds, drive, upstream_script  # noqa: E402
from bench.paired import alternate, paired  # noqa: E402
from chime_tap.process import LISTEN_RE  # noqa: E402
from support.procs import CONNECTOR, ProxyProcess  # noqa: E402

ADDON = ROOT / "addons" / "record.py"
FLOOR_ADDON = ROOT / "bench" / "floor_addon.py"
FLOOR = "mitmdump-s-floor"  # parse, append, one line: what any recorder that names calls does
CONTROL = "mitmdump-again"  # plain mitmdump again: the run's noise floor (configurations())
CALLGRIND_CAP = 3600.0  # seconds for the calls counted under callgrind (some 50x slower)

AUTH = "Authorization: AWS4-HMAC-SHA256 Credential=AKIABENCH/x, Signature=0\r\n"


def upstream_server(tmp: Path, vary: bool = False) -> ProxyProcess:
    """The loopback upstream every proxy forwards to (it prints its own listening line).

    ``vary``: each answer's UpdatedTimestamp differs, so no two bodies are the same bytes.
    """
    script = upstream_script(BODY, VARY_UPDATED if vary else None)
    return ProxyProcess([sys.executable, "-c", script], confdir=tmp, ready=LISTEN_RE)


def get_calls(
    proxy_port: int, host: str, total: int, concurrency: int, tag: str, time_cap: float = TIME_CAP
) -> dict[str, Any]:
    """``total`` signed-looking GetProxySession calls, a distinct session id each."""

    def url(thread: int, i: int) -> str:
        return f"http://{host}/voice-connectors/{CONNECTOR}/proxy-sessions/{tag}-{thread}-{i}"

    return drive(proxy_port, "GET", url, None, total, concurrency, headers=AUTH, time_cap=time_cap)


# --- in-process: the hooks alone ----------------------------------------------------------------


class TrivialAddon:
    """The reference a recorder is held to: parse both JSON bodies, append one line per flow."""

    def __init__(self, path: Path) -> None:
        self.f = open(path, "a")  # noqa: SIM115 - kept open across flows, closed by close()

    def response(self, flow) -> None:
        req = json.loads(flow.request.content) if flow.request.content else None
        resp = json.loads(flow.response.content) if flow.response.content else None
        self.f.write(
            json.dumps(
                {
                    "url": flow.request.url,
                    "status": flow.response.status_code,
                    "req": req,
                    "resp": resp,
                }
            )
            + "\n"
        )
        self.f.flush()

    def close(self) -> None:
        self.f.close()


def hook_cost(tmp: Path, n: int = 2000) -> dict[str, float]:
    """µs per flow spent in the hooks: Recorder (YAML, JSON) and TrivialAddon, over tflow flows."""
    import logging

    from mitmproxy import http
    from mitmproxy.test import taddons, tflow

    from chime_tap.addons.record import Recorder

    def flows(tag: str) -> list[tuple[Any, Any]]:
        out = []
        for i in range(n):
            f = tflow.tflow(resp=False)
            req = f.request
            req.scheme, req.host, req.port = "http", "127.0.0.1", 9000
            req.path = f"/voice-connectors/{CONNECTOR}/proxy-sessions/{tag}-{i}"
            req.headers.clear()
            req.headers["Host"] = "127.0.0.1:9000"
            req.headers["User-Agent"] = "Boto3/1.35 md/Botocore#1.35 ua/2.0 os/linux"
            req.headers["X-Amz-Date"] = "20260101T000000Z"
            req.headers["Authorization"] = (
                "AWS4-HMAC-SHA256 Credential=AKIABENCH/x, SignedHeaders=host;x-amz-date, Signature=0"
            )
            req.content = b""
            resp = http.Response.make(
                200, BODY, {"Content-Type": "application/json", "Content-Length": str(len(BODY))}
            )
            out.append((f, resp))
        return out

    results: dict[str, float] = {}
    logging.getLogger("chime_tap").setLevel(
        logging.WARNING
    )  # the log line is timed end-to-end, not here
    for fmt in ("yaml", "json"):
        addon = Recorder()
        with taddons.context(addon) as tctx:
            tctx.configure(
                addon, chime_cassette=str(tmp / f"hooks.{fmt}"), chime_hosts=["127.0.0.1:9000"]
            )
            pairs = flows(fmt)
            start = time.perf_counter()
            for f, resp in pairs:
                addon.request(f)  # as mitmproxy calls it: the call noted in flight
                f.response = resp
                body, resp.raw_content = resp.raw_content, None
                addon.responseheaders(f)
                resp.raw_content = body
                addon.response(f)
            results[f"recorder_{fmt}_us"] = (time.perf_counter() - start) / n * 1e6
            addon.done()
    trivial = TrivialAddon(tmp / "trivial.jsonl")
    pairs = flows("t")
    start = time.perf_counter()
    for f, resp in pairs:
        f.response = resp
        trivial.response(f)
    results["trivial_us"] = (time.perf_counter() - start) / n * 1e6
    trivial.close()
    return results


# --- the run ------------------------------------------------------------------------------------


class Proxy:
    """A proxy process (mitmdump or chime-tap) whose output goes to a file, not a pipe.

    A pipe drained by a thread of this busy, GIL-bound client process fills up and stalls the
    proxy on its log lines; a terminal or a file does not, and that is what users have.
    """

    def __init__(self, argv: list[str], tmp: Path, name: str, start_s: float = 60) -> None:
        self.log = tmp / f"{name}.log"
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + start_s
        while time.monotonic() < deadline and self.proc.poll() is None:
            text = self.log.read_text(errors="replace")
            m = re.search(r"listening (?:at |on http://)127\.0\.0\.1:(\d+)", text)
            if m:
                self.port = int(m.group(1))
                return
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"proxy did not start: {argv}\n{self.log.read_text(errors='replace')}")

    def cpu_seconds(self) -> float:
        """User + system CPU time the proxy process has used so far."""
        return cpu_seconds(self.proc.pid)

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(30)

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


def configurations(tmp: Path, upstream: str) -> dict[str, list[str]]:
    """name -> argv. Baselines first: plain mitmdump as users run it (one line per flow) and
    silent (no per-flow output); then the recorder as the CLI runs it and as a mitmdump script."""
    mitmdump = [str(Path(sys.executable).with_name("mitmdump")), "--set", "listen_host=127.0.0.1"]
    mitmdump += ["--set", "listen_port=0"]

    def chime_tap(cassette: str) -> list[str]:
        conf = f"{tmp / cassette}.conf"
        cli = [sys.executable, "-m", "chime_tap", "record", "--cassette", str(tmp / cassette)]
        return [*cli, "--hosts", upstream, "--listen-port", "0", "--confdir", conf]

    def script(cassette: str) -> list[str]:
        return ["-s", str(ADDON), "--set", f"chime_cassette={tmp / cassette}", "--set",
                f"chime_hosts={upstream}"]  # fmt: skip

    silent = ["--set", "flow_detail=0"]
    return {
        "mitmdump": [*mitmdump, "--set", f"confdir={tmp / 'c1'}"],
        # The control: a second plain mitmdump, doing exactly the baseline's work. Its ratio to
        # the baseline is what this machine's noise alone makes of "the same": the resolution
        # every other ratio of the run is read against.
        CONTROL: [*mitmdump, "--set", f"confdir={tmp / 'c0'}"],
        "mitmdump-silent": [*mitmdump, "--set", f"confdir={tmp / 'c2'}", *silent],
        "record-yaml": chime_tap("bench.yaml"),
        "record-json": chime_tap("bench.json"),
        # A --set naming an option of one of mitmdump's idle addons (anticache, off as by
        # default) gives the CLI mitmdump's whole chain: the recorder's cost like for like.
        "record-yaml-full": [*chime_tap("full.yaml"), "--set", "anticache=false"],
        "mitmdump-s-yaml": [
            *mitmdump,
            "--set",
            f"confdir={tmp / 'c3'}",
            *silent,
            *script("script.yaml"),
        ],
        "mitmdump-s-json": [
            *mitmdump,
            "--set",
            f"confdir={tmp / 'c4'}",
            *silent,
            *script("script.json"),
        ],
        # The floor: the least a recorder that names each call does (bench/floor_addon.py).
        FLOOR: [
            *mitmdump,
            "--set",
            f"confdir={tmp / 'c5'}",
            *silent,
            "-s",
            str(FLOOR_ADDON),
            "--set",
            f"floor_file={tmp / 'floor.jsonl'}",
        ],
    }


def instructions_per_flow(configs: dict[str, list[str]], upstream: str, tmp: Path, n: int) -> dict:
    """Each configuration under callgrind: instructions per GetProxySession call (counted, not
    timed, so the same on a busy machine as on an idle one). The counters are zeroed after a
    warm-up and dumped after ``n`` calls at concurrency 1: startup is not counted."""
    counts: dict[str, float] = {}
    for name, argv in configs.items():
        out = tmp / f"callgrind-{name}.out"
        valgrind = [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={out}",
            "--dump-instr=no",
        ]
        proxy = Proxy([*valgrind, *argv], tmp, f"cg-{name}", start_s=600)
        try:
            get_calls(proxy.port, upstream, 20, 1, f"cg-warm-{name}", CALLGRIND_CAP)
            subprocess.run(
                ["callgrind_control", "-z", str(proxy.proc.pid)], check=True, capture_output=True
            )
            done = get_calls(proxy.port, upstream, n, 1, f"cg-{name}", CALLGRIND_CAP)
            if done["statuses"] != {200: n}:
                raise RuntimeError(f"{name} under callgrind: unexpected answers {done['statuses']}")
            subprocess.run(
                ["callgrind_control", "-d", str(proxy.proc.pid)], check=True, capture_output=True
            )
            dumps = sorted(tmp.glob(f"callgrind-{name}.out.*"))
            total = re.search(r"^(?:summary|totals): (\d+)", dumps[-1].read_text(), re.M)
            if total is None:
                raise RuntimeError(f"{name}: no instruction total in {dumps[-1]}")
            counts[name] = int(total.group(1)) / n
        finally:
            proxy.kill()
    return {
        name: {
            "instructions_per_flow": c,
            **{f"ratio_vs_{b}": counts[b] / c if b in counts else None for b in BASELINES},
        }
        for name, c in counts.items()
    }


CONFIGURATIONS = (
    "mitmdump",
    CONTROL,
    "mitmdump-silent",
    "record-yaml",
    "record-json",
    "record-yaml-full",
    "mitmdump-s-yaml",
    "mitmdump-s-json",
    FLOOR,
)  # configurations()'s names
CASSETTES = {
    "record-yaml": "bench.yaml",
    "record-json": "bench.json",
    "record-yaml-full": "full.yaml",
    "mitmdump-s-yaml": "script.yaml",
    "mitmdump-s-json": "script.json",
}
SCRIPTS = ("mitmdump-s-yaml", "mitmdump-s-json")  # the addon as a mitmdump script: the targets
BASELINES = ("mitmdump", "mitmdump-silent")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--requests", type=int, default=2000, help="requests per run (default 2000)"
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        nargs="*",
        default=[1, 32],
        help="client threads of the throughput runs (default 1 32); none: no throughput runs, "
        "for the instruction counts alone, which a busy machine does not disturb",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="alternating rounds; the paired median is reported (default 3)",
    )
    parser.add_argument(
        "--configs",
        nargs="+",
        default=list(CONFIGURATIONS),
        choices=CONFIGURATIONS,
        metavar="NAME",
        help="the configurations of the throughput runs (default all; the baselines and the "
        f"control always run): {', '.join(CONFIGURATIONS)}. Fewer configurations, more rounds "
        "in the same time",
    )
    parser.add_argument(
        "--instructions",
        type=int,
        default=0,
        metavar="N",
        help="also count instructions per call under callgrind, over N calls per configuration "
        "(a figure a busy machine does not disturb; several minutes; 0, the default, skips it)",
    )
    parser.add_argument(
        "--instruction-configs",
        nargs="+",
        default=list(CONFIGURATIONS),
        choices=CONFIGURATIONS,
        metavar="NAME",
        help="the configurations counted under callgrind (default all: "
        + ", ".join(CONFIGURATIONS)
        + ")",
    )
    args = parser.parse_args(argv)

    from chime_tap.cassettes.reader import load_cassette

    results: dict[str, Any] = {"requests": args.requests, "rounds": args.rounds, "throughput": {}}
    with tempfile.TemporaryDirectory(prefix="bench-record-") as tmp:
        tmpdir = Path(tmp)
        server = upstream_server(tmpdir)
        upstream = f"127.0.0.1:{server.port}"
        configs = {
            name: argv_
            for name, argv_ in configurations(tmpdir, upstream).items()
            if name in args.configs or name in (*BASELINES, CONTROL)
        }
        procs: dict[str, Proxy] = {}
        try:
            for name, argv_ in configs.items():
                procs[name] = Proxy(argv_, tmpdir, name)
            for name, proc in procs.items():  # warm up: connections, imports, first flows
                get_calls(proc.port, upstream, 200, 4, f"warm-{name}")
            sent = 200
            for c in args.concurrency:

                def one_run(name: str, r: int, c: int = c) -> tuple[float, float]:
                    proc = procs[name]
                    before = proc.cpu_seconds()
                    out = get_calls(proc.port, upstream, args.requests, c, f"{name}-c{c}-r{r}")
                    used = proc.cpu_seconds() - before
                    if out["statuses"] != {200: args.requests}:
                        raise RuntimeError(f"{name} c={c}: unexpected answers {out['statuses']}")
                    return out["rps"], used / out["requests"] * 1e6

                runs = alternate(
                    {name: (lambda r, name=name: one_run(name, r)) for name in procs}, args.rounds
                )
                sent += args.requests * args.rounds
                rps = {name: [x[0] for x in v] for name, v in runs.items()}
                cpu = {name: [x[1] for x in v] for name, v in runs.items()}
                results["throughput"][c] = {
                    name: {
                        "rps": statistics.median(rps[name]),
                        "runs": rps[name],
                        "cpu_us_per_flow": statistics.median(cpu[name]),
                        # Each round's ratio to the baseline's run in the same round: the two
                        # runs share the machine's state, so the host's swings cancel out.
                        **{f"ratio_vs_{b}": paired(rps[name], rps[b]).as_dict() for b in BASELINES},
                        # CPU: the baseline's CPU per flow over this one's (> 1: cheaper)
                        **{
                            f"cpu_ratio_vs_{b}": paired(cpu[b], cpu[name]).as_dict()
                            for b in BASELINES
                        },
                    }
                    for name in configs
                }
            for name, cassette in CASSETTES.items():
                if name not in procs:
                    continue
                procs[name].stop()
                recorded = len(load_cassette(tmpdir / cassette)["interactions"])
                if recorded != sent:
                    raise RuntimeError(
                        f"{name}: {recorded} interactions recorded, {sent} calls sent"
                    )
                results[f"{name}_interactions"] = recorded
        finally:
            for proc in procs.values():
                proc.kill()
            server.kill()
        results["hooks"] = hook_cost(tmpdir)
        # Same bodies (as the throughput runs have: the recorder's verdict cache hits) and
        # bodies that all differ (it never does): both figures.
        for key, vary in (("instructions", False), ("instructions_varied", True)):
            if not args.instructions:
                break
            server = upstream_server(tmpdir, vary=vary)
            try:
                upstream = f"127.0.0.1:{server.port}"
                cg = tmpdir / key
                cg.mkdir()
                configs = configurations(cg, upstream)
                wanted = {k: v for k, v in configs.items() if k in args.instruction_configs}
                results[key] = instructions_per_flow(wanted, upstream, cg, args.instructions)
            finally:
                server.kill()

    print(
        f"recording throughput: {args.requests} GetProxySession calls per run, "
        f"{args.rounds} alternating rounds"
    )
    print(
        "req/s, cpu µs/flow: median rounds; ratio = median of per-round paired ratios (req/s over"
        " the baseline's req/s in the same round), min-max beside it; cpu ratio = baseline's"
        " proxy CPU per flow / this one's, paired the same way; baselines: mitmdump as users run"
        " it (a line per flow), and silent (flow_detail=0)"
    )
    print(
        f"{'conc.':>5} {'config':<16} {'req/s':>6} {'cpu µs/flow':>11} {'ratio (min-max)':>17}"
        f" {'cpu ratio':>17} {'ratio silent':>17} {'cpu ratio silent':>17}   runs (req/s)"
    )

    def text(r: dict) -> str:
        return f"{r['median']:.2f} ({r['min']:.2f}-{r['max']:.2f})"

    for c, by_name in results["throughput"].items():
        for name, fig in by_name.items():
            runs = " ".join(f"{x:.0f}" for x in fig["runs"])
            print(
                f"{c:>5} {name:<16} {fig['rps']:>6.0f} {fig['cpu_us_per_flow']:>11.0f}"
                f" {text(fig['ratio_vs_mitmdump']):>17} {text(fig['cpu_ratio_vs_mitmdump']):>17}"
                f" {text(fig['ratio_vs_mitmdump-silent']):>17}"
                f" {text(fig['cpu_ratio_vs_mitmdump-silent']):>17}   {runs}"
            )
    hooks = results["hooks"]
    print(
        f"hook cost per flow (in-process, tflow): recorder YAML {hooks['recorder_yaml_us']:.0f} µs, "
        f"JSON {hooks['recorder_json_us']:.0f} µs; trivial parse-and-append addon {hooks['trivial_us']:.0f} µs"
    )

    def ratio(r: float | None) -> str:
        return "-" if r is None else f"{r:.3f}"

    kinds = (("instructions", "the same body"), ("instructions_varied", "bodies that all differ"))
    for key, bodies in kinds:
        if key not in results:
            continue
        print(
            f"instructions per call under callgrind ({args.instructions} calls, concurrency 1; "
            f"the upstream answers {bodies}):"
        )
        print(f"{'config':<16} {'instr/flow':>11} {'ratio':>6} {'ratio silent':>12}")
        for name, fig in results[key].items():
            print(
                f"{name:<16} {fig['instructions_per_flow']:>11,.0f}"
                f" {ratio(fig['ratio_vs_mitmdump']):>6} {ratio(fig['ratio_vs_mitmdump-silent']):>12}"
            )
    targets = []  # issue 18: the addon as a mitmdump script, against plain mitmdump
    for c, by_name in results["throughput"].items():
        targets.append(
            f"resolution at concurrency {c}: a second plain mitmdump measured "
            f"{text(by_name[CONTROL]['ratio_vs_mitmdump'])} of plain mitmdump's throughput "
            f"(CPU per flow: {text(by_name[CONTROL]['cpu_ratio_vs_mitmdump'])}); the same work, "
            "so a ratio within that spread is no measured difference"
        )
    for name in SCRIPTS:
        cassette = CASSETTES[name].rsplit(".", 1)[1].upper()
        for c, by_name in results["throughput"].items():
            if name not in by_name:
                continue
            fig = by_name[name]["ratio_vs_mitmdump"]
            verdict = _verdict(fig, by_name[CONTROL]["ratio_vs_mitmdump"])
            targets.append(
                f"target {verdict}: mitmdump -s addons/record.py ({cassette} "
                f"cassette) at least {SCRIPT_TARGET}x plain mitmdump's throughput at concurrency "
                f"{c} (measured {text(fig)})"
            )
        for key, bodies in (
            ("instructions", "same bodies"),
            ("instructions_varied", "varied bodies"),
        ):
            fig = results.get(key, {}).get(name, {}).get("ratio_vs_mitmdump")
            if fig is None:
                continue
            targets.append(
                f"target {'met' if fig >= SCRIPT_TARGET else 'MISSED'} by instructions "
                f"({bodies}): mitmdump -s addons/record.py ({cassette} cassette) at {fig:.3f}x "
                "plain mitmdump's instructions per call (plain's over the script's)"
            )
    for c, by_name in results["throughput"].items():
        if FLOOR in by_name:
            targets.append(
                f"the floor at concurrency {c} (bench/floor_addon.py: both bodies parsed, one "
                "line appended, one line logged; no validation, scrubbing or metadata): "
                f"{text(by_name[FLOOR]['ratio_vs_mitmdump'])} of plain mitmdump's throughput"
            )
    print("\n".join(targets))
    results["targets"] = targets
    results["spy"] = spy_throughput(args)
    return results


def _verdict(subject: dict[str, Any], control: dict[str, Any]) -> str:
    """A throughput target's verdict, read against the run's control (the same work as the
    baseline): below every round of the control is a miss whatever the noise; otherwise, when
    the control itself is further from 1 than the target's margin, the run cannot tell."""
    if subject["median"] < control["min"]:
        return "MISSED"
    if abs(control["median"] - 1) > 1 - SCRIPT_TARGET:
        return f"NOT SHOWN (the control measured {control['median']:.3f}, not 1)"
    return "met" if subject["median"] >= SCRIPT_TARGET else "MISSED"


# --- spy mode (issue 16): record --compare-to next to record, same run ---------------------------

SCRIPT_TARGET = 0.97  # the addon as a mitmdump script, against plain mitmdump (paired median)
SPY_TARGET = 0.9  # spy mode's throughput at least this share of record's, at each concurrency


def spy_throughput(args: argparse.Namespace) -> dict[str, Any]:
    """`chime-tap record --compare-to BASELINE` against `chime-tap record` (YAML), alternating.

    The baseline is recorded first, through `chime-tap record`, from the very calls the runs
    then send (a distinct session id each), so spy mode finds every counterpart exactly and
    compares every answer: its whole cost per call. Checked after the runs: every spied call
    has its counterpart and no difference.
    """
    from chime_tap.cassettes.reader import load_cassette

    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-spy-") as tmp:
        tmpdir = Path(tmp)
        server = upstream_server(tmpdir)
        upstream = f"127.0.0.1:{server.port}"
        tags = [("spy-warm", 200, 4)] + [
            (f"spy-c{c}-r{r}", args.requests, c)
            for c in args.concurrency
            for r in range(args.rounds)
        ]

        def record(cassette: str, *extra: str) -> Proxy:
            argv = [
                sys.executable,
                "-m",
                "chime_tap",
                "record",
                "--cassette",
                str(tmpdir / cassette),
            ]
            argv += [
                "--hosts",
                upstream,
                "--listen-port",
                "0",
                "--confdir",
                f"{tmpdir / cassette}.conf",
            ]
            return Proxy([*argv, *extra], tmpdir, cassette)

        procs: dict[str, Proxy] = {}
        try:
            baseline = record("baseline.yaml")
            for tag, n, c in tags:
                get_calls(baseline.port, upstream, n, c, tag)
            baseline.stop()
            procs["record-yaml"] = record("plain.yaml")
            procs["record-yaml-spy"] = record(
                "spy.yaml", "--compare-to", str(tmpdir / "baseline.yaml")
            )
            for proc in procs.values():
                get_calls(proc.port, upstream, 200, 4, "spy-warm")
            for c in args.concurrency:

                def one_run(name: str, r: int, c: int = c) -> tuple[float, float]:
                    proc = procs[name]
                    before = proc.cpu_seconds()
                    done = get_calls(proc.port, upstream, args.requests, c, f"spy-c{c}-r{r}")
                    used = proc.cpu_seconds() - before
                    if done["statuses"] != {200: args.requests}:
                        raise RuntimeError(f"{name} c={c}: unexpected answers {done['statuses']}")
                    return done["rps"], used / done["requests"] * 1e6

                runs = alternate(
                    {name: (lambda r, name=name: one_run(name, r)) for name in procs}, args.rounds
                )
                rps = {name: [x[0] for x in v] for name, v in runs.items()}
                cpu = {name: [x[1] for x in v] for name, v in runs.items()}
                out[c] = {
                    "record_rps": statistics.median(rps["record-yaml"]),
                    "spy_rps": statistics.median(rps["record-yaml-spy"]),
                    "record_cpu_us_per_flow": statistics.median(cpu["record-yaml"]),
                    "spy_cpu_us_per_flow": statistics.median(cpu["record-yaml-spy"]),
                    "ratio": paired(rps["record-yaml-spy"], rps["record-yaml"]).as_dict(),
                    "cpu_ratio": paired(cpu["record-yaml"], cpu["record-yaml-spy"]).as_dict(),
                }
            procs["record-yaml-spy"].stop()
            spied = load_cassette(tmpdir / "spy.yaml")["interactions"]
            exact = [
                i for i in spied
                if i["chime_tap"]["baseline"]["match"] == "exact" and not i["chime_tap"]["differences"]
            ]  # fmt: skip
            if len(exact) != len(spied) or len(spied) != sum(n for _, n, _ in tags):
                raise RuntimeError(
                    f"spy: {len(exact)} of {len(spied)} calls found the same as the baseline"
                )
            out["spied_calls"] = len(spied)
        finally:
            for proc in procs.values():
                proc.kill()
            server.kill()

    def text(r: dict) -> str:
        return f"{r['median']:.2f} ({r['min']:.2f}-{r['max']:.2f})"

    print(
        f"spy mode: record --compare-to against record (YAML), {args.rounds} alternating rounds; "
        f"{out['spied_calls']} calls compared, each found exactly and the same"
    )
    print(
        f"{'conc.':>5} {'record req/s':>12} {'spy req/s':>10} {'record cpu µs':>13} "
        f"{'spy cpu µs':>10} {'ratio (min-max)':>17} {'cpu ratio':>17}"
    )
    targets = []
    for c in args.concurrency:
        fig = out[c]
        print(
            f"{c:>5} {fig['record_rps']:>12.0f} {fig['spy_rps']:>10.0f}"
            f" {fig['record_cpu_us_per_flow']:>13.0f} {fig['spy_cpu_us_per_flow']:>10.0f}"
            f" {text(fig['ratio']):>17}"
            f" {text(fig['cpu_ratio']):>17}"
        )
        ok = fig["ratio"]["median"] >= SPY_TARGET
        targets.append(
            f"target {'met' if ok else 'MISSED'}: spy mode at least {SPY_TARGET}x record's "
            f"throughput at concurrency {c} (measured {text(fig['ratio'])})"
        )
    print("\n".join(targets))
    out["targets"] = targets
    return out


if __name__ == "__main__":
    main()
