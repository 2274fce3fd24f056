"""`chime-tap ingest` makes a dataset only when it has rows to write.

An input that exists but cannot be read adds nothing, exactly as a missing one: no folder, no
lock file, and `report` on the path then says there is no dataset (not an empty report). An
existing dataset is left as it was. The first readable input makes the folder.
"""

from __future__ import annotations

import json
from pathlib import Path

from chime_tap.cli import main
from chime_tap.dataset import layout

GET = "https://voice-chime.us-east-1.amazonaws.com/voice-connectors/abcdef1ghij2klmno3pqr4/proxy-sessions/ps-1"


def _unreadable(path: Path) -> Path:
    path.write_text("interactions: [this is: not, a cassette\n")
    return path


def _one_call(path: Path) -> Path:
    item = {
        "request": {"method": "GET", "uri": GET, "body": None, "headers": {}},
        "response": {
            "status": {"code": 200, "message": "OK"},
            "headers": {"Content-Type": ["application/json"]},
            "body": {"string": json.dumps({"ProxySession": {"ProxySessionId": "ps-1"}})},
        },
        "chime_tap": {"recorded_at": "2026-12-02T08:44:55.000Z"},
    }
    path.write_text(json.dumps({"version": 1, "interactions": [item]}))
    return path


def test_only_unreadable_input_creates_nothing(tmp_path: Path, capsys):
    bad, root = _unreadable(tmp_path / "t.yaml"), tmp_path / "ds-t"
    assert main(["ingest", str(bad), "--into", str(root), "--workers", "1"]) == 2
    err = capsys.readouterr().err
    assert (
        f"chime-tap: {bad}" in err
        and "0 new interaction(s) from 0 of 1 input(s) (1 not ingested)" in err
    )
    assert not root.exists()
    assert main(["report", str(root)]) == 2  # no dataset there, as for a missing input
    capsys.readouterr()


def test_an_existing_dataset_is_untouched_and_a_readable_input_makes_one(tmp_path: Path, capsys):
    bad, root = _unreadable(tmp_path / "t.yaml"), tmp_path / "deep" / "ds"
    good = _one_call(tmp_path / "c.json")
    assert main(["ingest", str(bad), str(good), "--into", str(root), "--workers", "1"]) == 1
    assert [p.parent.name for p in layout.data_files(root)] == ["date=2026-12-02"]
    before = sorted((p.relative_to(root), p.stat().st_mtime_ns) for p in root.rglob("*"))
    assert main(["ingest", str(bad), "--into", str(root), "--workers", "1"]) == 2
    assert sorted((p.relative_to(root), p.stat().st_mtime_ns) for p in root.rglob("*")) == before
    capsys.readouterr()
