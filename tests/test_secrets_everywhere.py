"""No credential reaches any output, whatever path it takes (issue 15, item 10).

A real ``chime-tap record`` (answered by its simulator) receives calls carrying the test
credentials in the places the scrubber once missed: quoted by a schema violation, as JSON inside
a string, in unusual headers, in a presigned Referer, in a SigV2 form body. Then every output the
tool makes from that traffic is read byte for byte: the cassette, the proxy's log, ``validate``
in text and JSON, and ``report`` in all six formats. The findings themselves stay (the calls are
still flagged), only the credentials are gone.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import urllib3

from chime_tap.cassettes.format import META_KEY
from chime_tap.cassettes.reader import load_cassette
from support.procs import (
    CONNECTOR,
    FAKE_ACCESS_KEY,
    FAKE_SECRET_KEY,
    FAKE_SESSION_TOKEN,
    SECRETS,
    assert_no_secrets,
    chime_tap,
)

AUTHORITY = "127.0.0.1:9"  # named as a voice host; the simulator answers, nothing connects there
SESSIONS = f"http://{AUTHORITY}/voice-connectors/{CONNECTOR}/proxy-sessions"
PRESIGNED = (
    "https://bucket.s3.amazonaws.com/key?X-Amz-Algorithm=AWS4-HMAC-SHA256"
    f"&X-Amz-Credential={FAKE_ACCESS_KEY}%2F20261201%2Fus-east-1%2Fs3%2Faws4_request"
    f"&X-Amz-Security-Token={FAKE_SESSION_TOKEN}&X-Amz-Signature={FAKE_SECRET_KEY}"
)
SIGNED = {
    "Authorization": f"AWS4-HMAC-SHA256 Credential={FAKE_ACCESS_KEY}/20261201/us-east-1/"
    f"chime/aws4_request, SignedHeaders=host, Signature={FAKE_SECRET_KEY}",
    "X-Amz-Security-Token": FAKE_SESSION_TOKEN,
    "Content-Type": "application/json",
}
CALLS = [
    # a violation quoting the rejected value (a map where a list of numbers belongs)
    (
        "POST",
        SESSIONS,
        {"X-Api-Key": FAKE_SECRET_KEY, "Referer": PRESIGNED},
        {
            "ParticipantPhoneNumbers": {"SecretAccessKey": FAKE_SECRET_KEY},
            "Capabilities": ["Voice"],
        },
    ),
    # a violation quoting JSON held in a string (a name too long and of the wrong pattern)
    (
        "POST",
        SESSIONS,
        {"X-Auth-Token": FAKE_SESSION_TOKEN},
        {
            "ParticipantPhoneNumbers": ["+12065550100", "+14015550101"],
            "Capabilities": ["Voice"],
            "Name": json.dumps({"SessionToken": FAKE_SESSION_TOKEN, "pad": "x" * 40}),
        },
    ),
    # a SigV2-style form body on a path the service does not have
    (
        "POST",
        f"http://{AUTHORITY}/",
        {"Content-Type": "application/x-www-form-urlencoded"},
        f"Action=X&AWSAccessKeyId={FAKE_ACCESS_KEY}&Signature={FAKE_SECRET_KEY}"
        f"&SecurityToken={FAKE_SESSION_TOKEN}",
    ),
]


def _send(proxy_url: str) -> list[int]:
    statuses = []
    with urllib3.ProxyManager(proxy_url, retries=False, timeout=30) as pm:
        for method, url, headers, body in CALLS:
            data = body if isinstance(body, str) else json.dumps(body)
            r = pm.request(method, url, body=data.encode(), headers={**SIGNED, **headers})
            statuses.append(r.status)
    return statuses


def _no_secret_in(text: str, what: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"credential {secret[:8]}... in {what}"


def test_no_credential_reaches_the_cassette_the_log_validate_or_any_report(tmp_path: Path, cli):
    cassette = tmp_path / "calls.yaml"
    args = ["record", "--upstream", "simulator", "--record-all", "--hosts", f"{AUTHORITY}=voice"]
    with chime_tap(
        [*args, "--cassette", str(cassette)], confdir=tmp_path / "conf", cwd=tmp_path
    ) as proxy:
        statuses = _send(proxy.url)
        assert proxy.stop(signal.SIGINT) == 0
    assert statuses[:2] == [400, 400], statuses  # the simulator refuses both bodies
    _no_secret_in(proxy.output, "the proxy's log")

    items = load_cassette(cassette)["interactions"]
    assert len(items) == len(CALLS)
    # still flagged: the violations are kept, their quoted credentials are not
    assert all(items[i][META_KEY]["violations"] for i in (0, 1))
    headers = {k.lower(): v for k, v in items[0]["request"]["headers"].items()}
    assert headers["authorization"] == ["REDACTED"] and "x-api-key" not in headers

    outputs = [cassette]
    for fmt in ("text", "json"):
        done = cli("validate", cassette, "--format", fmt)
        assert done.returncode == 1, done.stderr  # the violations are findings
        _no_secret_in(done.stdout + done.stderr, f"validate --format {fmt}")
        assert "ParticipantPhoneNumbers" in done.stdout
    for fmt in ("txt", "md", "html", "json", "csv", "parquet"):
        out = tmp_path / f"report.{fmt}"
        done = cli("report", cassette, "--out", out)
        assert done.returncode == 0, done.stderr
        assert out.stat().st_size > 0
        outputs.append(out)
    assert_no_secrets(*outputs)
