"""Render an HTML report once in headless Chromium and save a screenshot, to see the charts display.

    .venv/bin/python scripts/render_report_in_chromium.py [REPORT.html] [--screenshot OUT.png]

Without REPORT.html, a report of generated traffic (errors, throttling, latency) is written
first. Chromium runs with networking features off and a throw-away profile; the page is
self-contained (data: URIs), so nothing is fetched. A one-off check, not part of the tests.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    sys.exit("render_report_in_chromium: no chromium on PATH (apt-get install -y chromium)")


def sample_report(directory: Path) -> Path:
    sys.path.insert(0, str(ROOT / "bench"))
    from bench_report import write_cassettes

    from chime_tap.analysis import load_frame, render

    paths = write_cassettes(directory, 4000, "json", per_file=4000)
    page = directory / "report.html"
    page.write_text(render(load_frame(paths), "html"), encoding="utf-8")
    return page


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", nargs="?", type=Path)
    parser.add_argument("--screenshot", type=Path, default=Path("report-screenshot.png"))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="chime-tap-chromium-") as tmp:
        page = args.report.resolve() if args.report else sample_report(Path(tmp))
        argv = [
            chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
            f"--user-data-dir={Path(tmp) / 'profile'}", "--window-size=1200,3000",
            f"--screenshot={args.screenshot.resolve()}", page.as_uri(),
        ]  # fmt: skip
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0 or not args.screenshot.exists():
        print(done.stderr.strip()[-2000:], file=sys.stderr)
        return 1
    print(f"screenshot of {page.name} written to {args.screenshot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
