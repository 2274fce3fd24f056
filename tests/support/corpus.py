"""The test corpus: every input file the tests and the committed cassettes hold (under 1 MiB),
for tests that compare two ways of reading the same thing on all of them."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
SUFFIXES = (".json", ".yaml", ".yml", ".har", ".flow", ".mitm", ".txt")
CORPUS = sorted(
    p
    for p in [*(ROOT / "tests" / "data").rglob("*"), *(ROOT / "cassettes").rglob("*")]
    if p.is_file() and p.suffix in SUFFIXES and p.stat().st_size < 1 << 20
)


def corpus_id(path: Path) -> str:
    """A corpus file's test id: its path in the repository."""
    return str(path.relative_to(ROOT))
