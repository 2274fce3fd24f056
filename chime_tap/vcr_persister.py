"""The vcrpy persister for chime-tap cassettes: safe loading, the format chosen by file name."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from vcr.persisters.filesystem import CassetteNotFoundError
from vcr.serialize import serialize
from vcr.serializers import compat, jsonserializer, yamlserializer

from chime_tap.cassettes.atomic import FILE_MODE, replace_atomically
from chime_tap.cassettes.format import format_for
from chime_tap.cassettes.reader import load_for_replay, refuse_special_file
from chime_tap.errors import CassetteError
from chime_tap.vcrpy_internals import LoadedRequest, LoadedResponse

__all__ = ["ChimePersister"]


class ChimePersister:
    """vcrpy persister: loads with chime-tap's safe loader; JSON for ``*.json``, YAML otherwise."""

    @classmethod
    def load_cassette(
        cls, cassette_path: str | os.PathLike[str], serializer: Any
    ) -> tuple[list, list]:
        path = Path(cassette_path)
        # A FIFO or a device is no missing cassette: vcrpy would record onto it (replacing it).
        refuse_special_file(path, CassetteError)
        if not path.is_file() or path.stat().st_size == 0:
            raise CassetteNotFoundError()
        doc = load_for_replay(path)  # CassetteError (one line) for anything broken
        requests = [LoadedRequest(**item["request"]) for item in doc["interactions"]]
        responses = [
            LoadedResponse(compat.convert_to_bytes(item["response"]))
            for item in doc["interactions"]
        ]
        return requests, responses

    @staticmethod
    def save_cassette(
        cassette_path: str | os.PathLike[str], cassette_dict: dict[str, Any], serializer: Any
    ) -> None:
        chosen = jsonserializer if format_for(cassette_path) == "json" else yamlserializer
        data = serialize(cassette_dict, chosen)
        path = Path(cassette_path)
        refuse_special_file(path, CassetteError)  # never replaced by a regular file
        path.parent.mkdir(parents=True, exist_ok=True)
        # 0600 like every cassette chime-tap writes: it holds a service's answers.
        replace_atomically(path, data.encode("utf-8"), FILE_MODE)
