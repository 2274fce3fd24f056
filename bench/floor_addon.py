"""The least a recorder that names each call does, as a mitmdump script: bench_record's floor.

For each flow: both JSON bodies parsed, one JSON line appended to a file by one ``os.write``
before the answer goes on (as the recorder's cassette is), and one line logged through
chime-tap's call logger the way the recorder logs its line (mitmproxy's legacy log events
skipped, ``calllog.log_call``). No validation, scrubbing, metadata or counters. Its throughput
beside plain mitmdump's is the budget any such recorder starts from:

    mitmdump -s bench/floor_addon.py --set floor_file=PATH
"""

from __future__ import annotations

import json
import logging
import os

from mitmproxy import ctx
from mitmproxy.log import LegacyLogEvents

from chime_tap.calllog import log_call, skip_legacy_log_events


class Floor:
    def __init__(self) -> None:
        self.fd: int | None = None

    def load(self, loader) -> None:
        loader.add_option("floor_file", str, "", "where the floor addon appends its lines")

    def running(self) -> None:
        skip_legacy_log_events(LegacyLogEvents)
        if ctx.options.floor_file and self.fd is None:
            self.fd = os.open(ctx.options.floor_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    def response(self, flow) -> None:
        req, resp = flow.request, flow.response
        line = {
            "method": req.method,
            "url": req.url,
            "status": resp.status_code,
            "request": json.loads(req.content) if req.content else None,
            "response": json.loads(resp.content) if resp.content else None,
        }
        if self.fd is not None:
            os.write(self.fd, json.dumps(line).encode() + b"\n")
        log_call(logging.INFO, f"{req.method} {req.path} -> {resp.status_code}")

    def done(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


addons = [Floor()]
