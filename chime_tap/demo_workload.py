"""The demo's scripted workload: one boto3 user's proxy-session calls, and what its cassette must show.

Sessions are created, read, updated, listed page by page, deleted and expired, and a few invalid
calls go out with client-side validation off; the simulator's faults (a fixed seed) add throttles
and 5xx, which the caller retries visibly.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chime_tap.errors import ChimeTapError

CONNECTOR = "abcdef1ghij2klmno3pqr4"
# The demo's fault settings: with this seed the workload meets throttles and 5xx errors.
THROTTLE_RATE = 0.08
ERROR_RATE = 0.06
SEED = 7
MAX_ATTEMPTS = 6  # a caller's retry budget for throttles and 5xx
# Credentials the demo signs with: fake, and scrubbed from the cassette anyway.
DEMO_KEY_ID = "AKIADEMODEMODEMO0000"
DEMO_SECRET = "chime-tap-demo-secret-not-a-real-key"
VOICE_ENDPOINT = "https://voice-chime.us-east-1.amazonaws.com"

PEOPLE = [
    ("+12065550100", "+14015550101"),
    ("+12065550102", "+14015550103"),
    ("+16175550104", "+13125550105"),
]
# The sessions created, in order: the 4th is deleted, the last expires when the clock moves.
SESSIONS: list[dict[str, Any]] = [
    {"Name": "order 1001", "ExpiryMinutes": 60},
    {"Name": "order 1002", "ExpiryMinutes": 30, "NumberSelectionBehavior": "PreferSticky"},
    {
        "Name": "order 1003",
        "GeoMatchLevel": "AreaCode",
        "GeoMatchParams": {"Country": "US", "AreaCode": "617"},
    },
    {"Name": "order 1004", "ExpiryMinutes": 120, "NumberSelectionBehavior": "AvoidSticky"},
    {"Name": "short lived", "ExpiryMinutes": 5},
]
BAD_REQUEST = "BadRequestException"


@dataclass
class Tally:
    """What the workload did: API calls, their HTTP attempts by status, the invalid attempts.

    A call the service throttled or failed is tried again (up to MAX_ATTEMPTS): one call, several
    attempts, each one interaction in the cassette.
    """

    statuses: Counter = field(default_factory=Counter)  # HTTP attempts by status code
    invalid_calls: int = 0
    invalid_attempts: int = 0  # of the invalid calls, retries included
    invalid_not_rejected: int = 0  # of those attempts, answered otherwise than 400 (a fault)
    calls: int = 0

    @property
    def attempts(self) -> int:
        return sum(self.statuses.values())

    @property
    def retries(self) -> int:
        return self.attempts - self.calls


def voice_client(proxy_url: str, ca_bundle: str, **config: Any):
    """A chime-sdk-voice client signing with the demo's credentials, sending through the proxy."""
    import boto3
    from botocore.config import Config

    session = boto3.session.Session(
        aws_access_key_id=DEMO_KEY_ID,
        aws_secret_access_key=DEMO_SECRET,
        region_name="us-east-1",
    )
    cfg = Config(
        proxies={"http": proxy_url, "https": proxy_url},
        retries={"mode": "standard", "total_max_attempts": 1},  # the demo retries itself, visibly
        connect_timeout=10,
        read_timeout=30,
        **config,
    )
    return session.client(
        "chime-sdk-voice", endpoint_url=VOICE_ENDPOINT, config=cfg, verify=ca_bundle
    )


def control_via(proxy_url: str, token: str | None = None) -> Callable[[str, str], dict]:
    """The simulator's control endpoint (clock), reached through the proxy.

    ``token``: the control token the proxy printed at start; by default the one it keeps for
    its own user (``chime_tap.simulator.control.read_token``), read at each call.
    """
    import urllib3

    from chime_tap.simulator.control import CONTROL_HOST, authorization, read_token

    def call(method: str, path: str) -> dict:
        known = token or read_token(proxy_url)
        headers = {"Authorization": authorization(known)} if known else {}
        with urllib3.ProxyManager(proxy_url, retries=False, timeout=10) as pm:
            r = pm.request(method, f"http://{CONTROL_HOST}{path}", headers=headers)
        if r.status != 200:
            raise ChimeTapError(f"simulator control {method} {path}: HTTP {r.status}")
        return json.loads(r.data)

    return call


class Workload:
    """A realistic scripted session against the proxy, as one boto3 user would write it.

    ``progress`` receives one line per phase and per call.
    """

    def __init__(
        self,
        proxy_url: str,
        ca_bundle: str,
        control: Callable[[str, str], dict],
        progress: Callable[[str], None],
    ) -> None:
        self.client = voice_client(proxy_url, ca_bundle)
        # client-side validation off lets invalid input reach the wire
        self.raw = voice_client(proxy_url, ca_bundle, parameter_validation=False)
        self.control = control
        self.progress = progress
        self.tally = Tally()

    def close(self) -> None:
        self.client.close()
        self.raw.close()

    def call(
        self, what: str, fn: Callable[[], dict], *, expect: str | None = None, invalid: bool = False
    ) -> dict | None:
        """One API call with a caller's retry loop on throttles and 5xx; ``expect`` names an error we want."""
        import botocore.exceptions

        self.tally.calls += 1
        self.tally.invalid_calls += invalid
        for attempt in range(1, MAX_ATTEMPTS + 1):
            if invalid:
                self.tally.invalid_attempts += 1
            try:
                result = fn()
            except botocore.exceptions.ClientError as e:
                code = e.response["Error"]["Code"]
                status = e.response["ResponseMetadata"]["HTTPStatusCode"]
                self.tally.statuses[status] += 1
                self.tally.invalid_not_rejected += invalid and status != 400
                if status in (429, 500, 503) and attempt < MAX_ATTEMPTS:
                    self.progress(f"  {what}: {status} {code}, retrying (attempt {attempt + 1})")
                    time.sleep(0.01 * attempt)
                    continue
                if code == expect:
                    self.progress(f"  {what}: {status} {code} (as intended)")
                    return None
                raise ChimeTapError(
                    f"demo step {what!r} failed: {status} {code}: {e.response['Error'].get('Message', '')}"
                ) from None
            status = result["ResponseMetadata"]["HTTPStatusCode"]
            self.tally.statuses[status] += 1
            self.tally.invalid_not_rejected += invalid
            if expect:
                raise ChimeTapError(f"demo step {what!r} answered {status}, expected {expect}")
            self.progress(f"  {what}: {status}")
            return result
        raise AssertionError("unreachable")  # pragma: no cover

    def run(self) -> Tally:
        """Every phase in order; returns what was done."""
        created = self.create_sessions()
        self.read_and_update(created)
        self.list_sessions()
        self.delete_and_read_again(created[3])
        self.send_invalid_calls(created[0])
        self.expire_short_lived(created[-1], others=(created[0], created[2]))
        return self.tally

    def create_sessions(self) -> list[str]:
        self.progress("creating proxy sessions")
        created = []
        for i, spec in enumerate(SESSIONS):
            a, b = PEOPLE[i % len(PEOPLE)]
            r = self.call(
                f"create {spec['Name']!r}",
                lambda a=a, b=b, spec=spec: self.client.create_proxy_session(
                    VoiceConnectorId=CONNECTOR,
                    ParticipantPhoneNumbers=[a, b],
                    Capabilities=["Voice", "SMS"],
                    **spec,
                ),
            )
            created.append(r["ProxySession"]["ProxySessionId"])
        return created

    def read_and_update(self, created: list[str]) -> None:
        c = self.client
        self.progress("reading and updating sessions")
        for sid in created[:2]:
            self.call(
                f"get {sid[:8]}",
                lambda sid=sid: c.get_proxy_session(VoiceConnectorId=CONNECTOR, ProxySessionId=sid),
            )
        self.call(
            "update: SMS only",
            lambda: c.update_proxy_session(
                VoiceConnectorId=CONNECTOR, ProxySessionId=created[0], Capabilities=["SMS"]
            ),
        )
        self.call(
            "update: longer expiry",
            lambda: c.update_proxy_session(
                VoiceConnectorId=CONNECTOR,
                ProxySessionId=created[1],
                Capabilities=["Voice"],
                ExpiryMinutes=90,
            ),
        )

    def list_sessions(self) -> None:
        c = self.client
        self.progress("listing sessions two per page")
        token: dict[str, str] = {}
        for page in range(1, 11):
            r = self.call(
                f"list page {page}",
                lambda token=token: c.list_proxy_sessions(
                    VoiceConnectorId=CONNECTOR, MaxResults=2, **token
                ),
            )
            if not r.get("NextToken"):
                break
            token = {"NextToken": r["NextToken"]}
        self.call(
            "list open sessions",
            lambda: c.list_proxy_sessions(VoiceConnectorId=CONNECTOR, Status="Open"),
        )

    def delete_and_read_again(self, gone: str) -> None:
        c = self.client
        self.progress("deleting a session, then reading it again")
        self.call(
            f"delete {gone[:8]}",
            lambda: c.delete_proxy_session(VoiceConnectorId=CONNECTOR, ProxySessionId=gone),
        )
        self.call(
            f"get {gone[:8]} after delete",
            lambda: c.get_proxy_session(VoiceConnectorId=CONNECTOR, ProxySessionId=gone),
            expect="NotFoundException",
        )

    def send_invalid_calls(self, existing: str) -> None:
        raw = self.raw
        self.progress("sending deliberately invalid calls (client-side validation off)")
        calls: list[tuple[str, Callable[[], dict]]] = [
            (
                "create with one participant",
                lambda: raw.create_proxy_session(
                    VoiceConnectorId=CONNECTOR,
                    ParticipantPhoneNumbers=["+12065550100"],
                    Capabilities=["Voice"],
                ),
            ),
            (
                "create with capability 'Fax'",
                lambda: raw.create_proxy_session(
                    VoiceConnectorId=CONNECTOR,
                    ParticipantPhoneNumbers=list(PEOPLE[0]),
                    Capabilities=["Fax"],
                ),
            ),
            (
                "update with ExpiryMinutes 0",
                lambda: raw.update_proxy_session(
                    VoiceConnectorId=CONNECTOR,
                    ProxySessionId=existing,
                    Capabilities=["Voice"],
                    ExpiryMinutes=0,
                ),
            ),
            (
                "list with MaxResults 500",
                lambda: raw.list_proxy_sessions(VoiceConnectorId=CONNECTOR, MaxResults=500),
            ),
        ]
        for what, fn in calls:
            self.call(what, fn, expect=BAD_REQUEST, invalid=True)

    def expire_short_lived(self, short_lived: str, others: tuple[str, ...]) -> None:
        c = self.client
        self.progress(
            "moving the simulator's clock 6 minutes ahead: the short-lived session expires"
        )
        self.control("POST", "/clock/advance?seconds=360")
        r = self.call(
            "get the short-lived session",
            lambda: c.get_proxy_session(VoiceConnectorId=CONNECTOR, ProxySessionId=short_lived),
        )
        if r["ProxySession"]["Status"] != "Closed":
            raise ChimeTapError(
                f"demo: the short-lived session is {r['ProxySession']['Status']}, expected Closed"
            )
        self.call(
            "list closed sessions",
            lambda: c.list_proxy_sessions(VoiceConnectorId=CONNECTOR, Status="Closed"),
        )
        for sid in others:
            self.call(
                f"delete {sid[:8]}",
                lambda sid=sid: c.delete_proxy_session(
                    VoiceConnectorId=CONNECTOR, ProxySessionId=sid
                ),
            )


def check_cassette(path: Path, tally: Tally) -> tuple[int, list[str]]:
    """(proxy-session interactions, problems): violations are expected only on the invalid calls."""
    from chime_tap.api.validation import PATH, QUERY, REQUEST_BODY, validate_interaction
    from chime_tap.cassettes.format import iter_interactions
    from chime_tap.cassettes.reader import load_cassette

    checked, flagged, problems = 0, 0, []
    for interaction in iter_interactions(load_cassette(path)):
        route, violations = validate_interaction(interaction)
        if route is None:
            continue
        checked += 1
        if not violations:
            continue
        flagged += 1
        unexpected = [v for v in violations if v.part not in (PATH, QUERY, REQUEST_BODY)]
        problems += [f"interaction {interaction.index} {v.operation}: {v}" for v in unexpected]
    if flagged != tally.invalid_attempts:
        problems.append(
            f"{flagged} interaction(s) have request violations; the demo sent {tally.invalid_attempts} invalid request(s)"
        )
    if checked != tally.attempts:
        problems.append(
            f"the cassette holds {checked} proxy-session interaction(s); the demo sent {tally.attempts} request(s)"
        )
    return checked, problems
