"""Content codings under attack: decompression bombs stop at the cap, codecs that are not HTTP
content codings are kept as they came, and the caller is told why a body was kept coded.

Each bomb (1 GiB of zeros in a few hundred bytes to a megabyte) is decoded in a child process
whose address space is capped at 512 MiB (RLIMIT_AS) and that must finish within its timeout:
the old decoder needed 5.2 GB for the brotli one.
"""

from __future__ import annotations

import base64
import bz2
import codecs
import gzip
import json
import struct
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import brotli
import pytest
import zstandard

from chime_tap.wire import (
    DECODED_BODY_LIMIT,
    BodyTooLarge,
    Decoded,
    UndecodableBody,
    decode,
    decode_body,
    decode_content,
    decode_fields,
)

BOMBS = Path(__file__).parent / "data" / "bad-input" / "bombs"
GiB = 1 << 30
BODY = json.dumps({"Capabilities": ["Voice"], "ExpiryMinutes": 60}).encode()
MEMORY_CAP = 512 << 20


def _zlib_streams(total: int = GiB) -> dict[str, bytes]:
    """``total`` zero bytes through zlib at level 9 (1 MiB at a time, never held), framed three
    ways: gzip, zlib (HTTP's deflate) and raw deflate. zlib is run once, for gzip; the deflate
    data inside is the same whatever the framing, so the other two are that data with their own
    header and trailer, as zlib writes them (test_the_framed_streams_are_what_zlib_writes)."""
    zeros = b"\0" * (1 << 20)
    c = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    gz = b"".join([c.compress(zeros) for _ in range(total >> 20)] + [c.flush()])
    raw = gz[10:-8]  # gzip's 10-byte header (no name, no extra fields), then CRC-32 and size
    adler = 1
    for _ in range(total >> 20):
        adler = zlib.adler32(zeros, adler)
    return {"gzip": gz, "deflate": b"\x78\xda" + raw + struct.pack(">I", adler), "deflate-raw": raw}


def test_the_framed_streams_are_what_zlib_writes() -> None:
    """The one-pass bombs' framing, checked on 64 MiB against zlib's own output for each."""
    zeros = b"\0" * (1 << 20)
    made = _zlib_streams(64 << 20)
    for name, wbits in (("gzip", 31), ("deflate", 15), ("deflate-raw", -15)):
        c = zlib.compressobj(9, zlib.DEFLATED, wbits)
        assert made[name] == b"".join([c.compress(zeros) for _ in range(64)] + [c.flush()]), name


def _zstd_stream(total: int = GiB) -> bytes:
    c = zstandard.ZstdCompressor(level=19).compressobj()
    zeros = b"\0" * (1 << 20)
    return b"".join([c.compress(zeros) for _ in range(total >> 20)] + [c.flush()])


# --- the HTTP content codings, bounded ------------------------------------------------------------

ENCODERS = {
    "gzip": gzip.compress,
    "x-gzip": gzip.compress,
    "deflate": zlib.compress,  # zlib-wrapped, as RFC 9110 says
    "br": brotli.compress,
    "zstd": lambda data: zstandard.ZstdCompressor().compress(data),
}


@pytest.mark.parametrize("coding", list(ENCODERS))
def test_each_http_coding_decodes_and_the_headers_follow(coding: str) -> None:
    raw = ENCODERS[coding](BODY)
    headers = {"Content-Encoding": [coding.upper()], "Content-Length": [str(len(raw))]}
    assert decode(raw, headers) == Decoded(BODY, {"Content-Length": [str(len(BODY))]}, None)
    assert decode_body(raw, headers) == (BODY, {"Content-Length": [str(len(BODY))]})


def test_what_servers_also_send_decodes_too() -> None:
    raw_deflate = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    raw = raw_deflate.compress(BODY) + raw_deflate.flush()
    assert decode_content(raw, "deflate") == BODY
    assert decode_content(gzip.compress(b"ab") + gzip.compress(b"cd"), "gzip") == b"abcd"
    two_frames = zstandard.ZstdCompressor().compress(b"ab") + zstandard.ZstdCompressor().compress(
        b"cd"
    )
    assert decode_content(two_frames, "zstd") == b"abcd"
    assert decode_content(BODY, " identity ") == BODY


@pytest.mark.parametrize("coding", ["gzip", "deflate", "br", "zstd"])
def test_a_body_up_to_the_cap_decodes_and_one_byte_more_does_not(coding: str) -> None:
    limit = 100_000
    exact = bytes(range(256)) * (limit // 256) + b"x" * (limit % 256)
    assert len(exact) == limit
    assert decode_content(ENCODERS[coding](exact), coding, limit) == exact
    with pytest.raises(BodyTooLarge, match=f"{coding} decodes to more than 100,000 bytes"):
        decode_content(ENCODERS[coding](exact + b"!"), coding, limit)
    # The caller is told, and keeps the body exactly as it came, with its coding.
    raw = ENCODERS[coding](exact + b"!")
    kept = decode(raw, {"content-encoding": [coding], "Content-Type": ["text/plain"]}, limit)
    assert kept.body is raw
    assert kept.headers == {"content-encoding": [coding], "Content-Type": ["text/plain"]}
    assert kept.note == (
        f"body kept as received ({len(raw):,} bytes): "
        f"{coding} decodes to more than 100,000 bytes (the decoding cap)"
    )


def test_the_default_cap_is_8_mib() -> None:
    assert DECODED_BODY_LIMIT == 8 * 1024 * 1024
    just = b"\0" * DECODED_BODY_LIMIT
    assert decode(gzip.compress(just), {"Content-Encoding": ["gzip"]}).body == just
    over = decode(gzip.compress(just + b"\0"), {"Content-Encoding": ["gzip"]})
    assert over.note is not None and over.note.endswith("more than 8 MiB (the decoding cap)")


@pytest.mark.parametrize(
    ("coding", "cut"),
    [("gzip", gzip.compress), ("br", brotli.compress), ("zstd", ENCODERS["zstd"])],
)
def test_a_truncated_body_is_kept_as_it_came_not_decoded_to_less(coding, cut) -> None:
    """zstd's stream reader gave b"" for a truncated frame: the body was lost, the header dropped."""
    raw = cut(BODY * 50)[:-6]
    kept = decode(raw, {"Content-Encoding": [coding]})
    assert kept.body == raw and kept.headers == {"Content-Encoding": [coding]}
    assert kept.note is not None and coding in kept.note


def test_a_too_large_error_is_an_undecodable_body() -> None:
    """Callers that already catch UndecodableBody keep working."""
    assert issubclass(BodyTooLarge, UndecodableBody)
    error = BodyTooLarge("br", 8 << 20)
    assert (error.coding, error.limit) == ("br", 8 << 20)


# --- codings that are not HTTP content codings ---------------------------------------------------

NOT_HTTP = {
    # Python codecs mitmproxy would apply (rot13 raised TypeError, base64 and utf-16 rewrote the
    # body and dropped the header), a list of codings, a compressor with no HTTP coding, a made-up
    # name: each is kept as the client sent it, Content-Encoding and all.
    "rot13": codecs.encode(BODY.decode(), "rot13").encode(),
    "base64": base64.b64encode(BODY),
    "utf-16": BODY.decode().encode("utf-16"),
    "gzip, br": brotli.compress(gzip.compress(BODY)),
    "bz2": bz2.compress(BODY),
    "x-chime-unknown": BODY,
}


@pytest.mark.parametrize("coding", list(NOT_HTTP))
def test_other_codings_are_recorded_raw_with_their_header(coding: str) -> None:
    raw = NOT_HTTP[coding]
    fields = [(b"Content-Type", b"application/json"), (b"Content-Encoding", coding.encode())]
    kept = decode_fields(fields, raw)
    assert kept.body == raw
    assert kept.headers == {"Content-Type": ["application/json"], "Content-Encoding": [coding]}
    assert kept.note == (
        f"body kept as received ({len(raw):,} bytes): {coding!r} is not an HTTP content coding"
    )
    with pytest.raises(UndecodableBody):
        decode_content(raw, coding)


def test_a_body_without_content_encoding_has_no_note() -> None:
    assert decode(BODY, {"Content-Type": ["application/json"]}).note is None
    assert decode(b"", {"Content-Encoding": ["br"]}) == Decoded(b"", {"Content-Encoding": ["br"]})


# --- bombs, in a child process with 512 MiB of address space -----------------------------------

_CHILD = textwrap.dedent(
    """
    import json, resource, sys, time
    resource.setrlimit(resource.RLIMIT_AS, ({cap}, {cap}))
    from chime_tap.wire import decode
    raw = open(sys.argv[1], "rb").read()
    started = time.process_time()
    kept = decode(raw, {{"Content-Encoding": [sys.argv[2]]}})
    cpu = time.process_time() - started
    assert kept.body == raw, "not kept as received"
    assert kept.headers == {{"Content-Encoding": [sys.argv[2]]}}, kept.headers
    # VmHWM: this process's own peak (ru_maxrss carries the parent's across fork and exec)
    status = open("/proc/self/status").read().split("VmHWM:")[1]
    peak = int(status.split()[0]) * 1024
    print(json.dumps([kept.note, peak, cpu]))
    """
).format(cap=MEMORY_CAP)


@pytest.fixture(scope="module")
def bombs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each coding's bomb: 1 GiB of zeros. brotli's takes a minute to make: it is committed."""
    made = tmp_path_factory.mktemp("bombs")
    files = {"br": BOMBS / "zeros-1GiB.br", "bz2": BOMBS / "zeros-1GiB.bz2"}
    for name, data in {**_zlib_streams(), "zstd": _zstd_stream()}.items():
        files[name] = made / name
        files[name].write_bytes(data)
    return files


def test_the_committed_bombs_are_what_they_claim() -> None:
    """1 GiB of zeros each (checked in bounded memory, 1 MiB at a time)."""
    d = brotli.Decompressor()
    data = (BOMBS / "zeros-1GiB.br").read_bytes()
    total = 0
    for at in range(len(data)):
        out = d.process(data[at : at + 1])
        assert out.count(0) == len(out)
        total += len(out)
    assert total == GiB and d.is_finished()
    b = bz2.BZ2Decompressor()
    raw = (BOMBS / "zeros-1GiB.bz2").read_bytes()
    total = len(b.decompress(raw, 1 << 20))
    while not b.eof:
        total += len(b.decompress(b"", 1 << 20))
    assert total == GiB


@pytest.mark.parametrize(
    ("bomb", "coding", "note"),
    [
        ("br", "br", "br decodes to more than 8 MiB (the decoding cap)"),
        ("gzip", "gzip", "gzip decodes to more than 8 MiB (the decoding cap)"),
        ("gzip", "x-gzip", "x-gzip decodes to more than 8 MiB (the decoding cap)"),
        ("deflate", "deflate", "deflate decodes to more than 8 MiB (the decoding cap)"),
        ("deflate-raw", "deflate", "deflate decodes to more than 8 MiB (the decoding cap)"),
        ("zstd", "zstd", "zstd decodes to more than 8 MiB (the decoding cap)"),
        ("bz2", "bz2", "'bz2' is not an HTTP content coding"),
    ],
)
def test_a_bomb_stops_at_the_cap_in_bounded_memory(bombs, figures, bomb, coding, note) -> None:
    path = bombs[bomb]
    result = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path), coding],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    said, peak, cpu = json.loads(result.stdout)
    size = path.stat().st_size
    assert said == f"body kept as received ({size:,} bytes): {note}"
    assert peak < MEMORY_CAP
    figures.append(
        f"decompression bomb {bomb} as {coding!r} ({size:,} bytes -> 1 GiB): kept raw, "
        f"peak RSS {peak / 2**20:.0f} MiB, {cpu:.2f} s CPU"
    )
