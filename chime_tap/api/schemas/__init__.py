"""The JSON Schema documents, loaded from one place.

``proxy-sessions.json`` holds every part of every operation as a ``$defs`` entry; the catalogue
(``operations.py``) says which entry checks which part.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

DOCUMENT = "proxy-sessions.json"


@cache
def document() -> dict[str, Any]:
    """The whole schema document (Draft 2020-12)."""
    return json.loads(resources.files(__package__).joinpath(DOCUMENT).read_text("utf-8"))


def names() -> list[str]:
    return sorted(document()["$defs"])


@cache
def _schema_for(name: str) -> str:
    doc = document()
    if name not in doc["$defs"]:
        raise KeyError(f"no schema named {name!r} in {DOCUMENT}")
    # A root that refers to one $defs entry keeps every internal $ref resolvable, in any engine.
    return json.dumps({"$schema": doc["$schema"], "$defs": doc["$defs"], "$ref": f"#/$defs/{name}"})


def schema_for(name: str) -> dict[str, Any]:
    """A standalone schema that checks one ``$defs`` entry (a fresh copy each call)."""
    return json.loads(_schema_for(name))
