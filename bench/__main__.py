"""Run the benchmarks: ``python -m bench [TOPIC ...] [-- OPTIONS]``.

With no topic every ``bench/bench_*.py`` module runs; options after ``--`` go to each module's
``main``. Each module prints its own table and returns its figures; a failed module is reported
in one line and the others still run (exit status 1 at the end).
"""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def topics() -> list[str]:
    """Every benchmark topic, from the bench_<topic>.py files beside this one."""
    return sorted(p.stem.removeprefix("bench_") for p in HERE.glob("bench_*.py"))


def run(names: list[str], options: list[str]) -> dict[str, dict]:
    """Run the named topics in order; {topic: figures}. A topic that fails maps to {"error": ...}."""
    results: dict[str, dict] = {}
    for name in names:
        print(f"== bench {name} ==", flush=True)
        module = importlib.import_module(f"{__package__ or 'bench'}.bench_{name}")
        start = time.perf_counter()
        try:
            results[name] = module.main(list(options))
        except SystemExit as e:  # argparse: --help (exit 0), or an option rejected
            if e.code in (0, None):
                print(f"== {name}: help ==\n", flush=True)
                results[name] = {"help": True}
                continue
            results[name] = {"error": f"exited with {e.code}"}
        except Exception as e:  # one broken benchmark must not hide the others' figures
            results[name] = {"error": f"{type(e).__name__}: {e}"}
        if "error" in results[name]:
            print(f"bench {name}: FAILED ({results[name]['error']})", file=sys.stderr)
        print(f"== {name}: {time.perf_counter() - start:.1f} s ==\n", flush=True)
    return results


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    names, options = (
        (argv[: argv.index("--")], argv[argv.index("--") + 1 :]) if "--" in argv else (argv, [])
    )
    available = topics()
    if any(n in ("-h", "--help") for n in names):
        print(__doc__.strip())
        print(f"\ntopics: {', '.join(available)}")
        return 0
    unknown = [n for n in names if n not in available]
    if unknown:
        print(
            f"bench: unknown topic(s) {', '.join(unknown)} (available: {', '.join(available)})",
            file=sys.stderr,
        )
        return 2
    results = run(names or available, options)
    return 1 if any("error" in r for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
