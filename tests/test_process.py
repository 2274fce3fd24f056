"""chime_tap.process.ListeningProcess with small Python children: what the demo and the tests rely on."""

from __future__ import annotations

import re
import signal
import sys
import time
from pathlib import Path

import pytest

from chime_tap.errors import ChimeTapError
from chime_tap.process import CHIME_TAP_LISTEN_RE, ListeningProcess


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def gone(pid: int, timeout: float = 10.0) -> bool:
    """Whether ``pid`` is gone (or a zombie) within ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return True
        if state == "Z":
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize(
    ("line", "url"),
    [
        ("chime-tap record: listening on http://127.0.0.1:8080 (mode regular)", "127.0.0.1:8080"),
        ("chime-tap simulate: listening on http://[::1]:9000 (mode regular)", "[::1]:9000"),
        ("[15:35:13.857] HTTP(S) proxy listening at 127.0.0.1:51949.", "127.0.0.1:51949"),
        ("[09:00:00.000] HTTP(S) proxy listening at [::]:8080.", "[::]:8080"),
    ],
)
def test_address_from_the_listen_line_of_chime_tap_or_mitmdump(tmp_path, line, url):
    code = f"import time; print({line!r}, flush=True); time.sleep(60)"
    with ListeningProcess(python(code), log_path=tmp_path / "child.log") as child:
        child.wait_listening(30)
        assert child.url == f"http://{url}"
        assert f"{child.host}:{child.port}" == url.replace("[", "").replace("]", "")


def test_a_chime_tap_proxy_is_ready_at_its_own_line_not_at_mitmproxys_earlier_one(tmp_path):
    # mitmproxy prints its line once the port is bound, before the addons have started (the CA
    # read, the simulator's token kept); traffic sent then raced start-up in a CI run.
    code = (
        "import time; print('[09:00:00.000] HTTP(S) proxy listening at 127.0.0.1:1111.', flush=True); "
        "time.sleep(1.0); "
        "print('chime-tap simulate: listening on http://127.0.0.1:2222 (mode regular)', flush=True); "
        "time.sleep(60)"
    )
    with ListeningProcess(
        python(code), log_path=tmp_path / "child.log", ready=CHIME_TAP_LISTEN_RE
    ) as child:
        child.wait_listening(30)
        assert child.port == 2222
        assert any("proxy listening at" in line for line in child.lines)


def test_child_exiting_before_listening_is_a_one_line_error_naming_the_log(tmp_path):
    log = tmp_path / "child.log"
    child = ListeningProcess(
        python("print('bad option'); print('second line'); raise SystemExit(3)"),
        log_path=log,
        name="the recording proxy",
    )
    with child, pytest.raises(ChimeTapError) as info:
        child.wait_listening(30)
    message = str(info.value)
    assert message == (
        "the recording proxy exited with status 3 before listening"
        f" (bad option; second line); log: {log}"
    )
    assert log.read_text() == "bad option\nsecond line\n"


def test_child_silent_past_the_timeout_is_an_error_naming_the_log(tmp_path):
    log = tmp_path / "child.log"
    with ListeningProcess(python("import time; time.sleep(60)"), log_path=log) as child:
        with pytest.raises(
            ChimeTapError, match=rf"did not start within 0s; log: {re.escape(str(log))}$"
        ):
            child.wait_listening(0.2)
        assert child.running  # left for the caller to stop
        assert child.stop(timeout=10) == -signal.SIGTERM
    assert not child.running


def test_listening_child_gives_its_address_output_and_log(tmp_path):
    log = tmp_path / "child.log"
    log.write_text("an earlier run\n")
    code = (
        "import signal, sys, time\n"
        "signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))\n"
        "print('HTTP(S) proxy listening at 127.0.0.1:4567.')\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    with ListeningProcess(python(code), log_path=log, append=True) as child:
        child.wait_listening(30)
        assert (child.host, child.port, child.url) == ("127.0.0.1", 4567, "http://127.0.0.1:4567")
        assert child.wait_for_output("ready")
        assert child.stop() == 0
    assert child.lines == ["HTTP(S) proxy listening at 127.0.0.1:4567.", "ready"]
    assert log.read_text() == "an earlier run\n" + child.output + "\n"


def test_stop_kills_the_process_group_of_a_child_that_ignores_the_signal(tmp_path):
    code = (
        "import signal, subprocess, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "helper = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        "print(f'helper {helper.pid} listening at 127.0.0.1:1', flush=True)\n"
        "time.sleep(60)\n"
    )
    with ListeningProcess(python(code), log_path=tmp_path / "child.log") as child:
        child.wait_listening(30)
        helper = int(child.lines[0].split()[1])
        assert child.stop(timeout=0.5) == -signal.SIGKILL
    assert gone(helper)
