"""Render an HTML report in headless Chromium and check that its charts display.

    .venv/bin/python scripts/render_report_in_chromium.py [REPORT.html] [--screenshot OUT.png]

Without REPORT.html, a report of generated traffic (errors, throttling, latency) is written
first. A copy of the page gets a small script that, once the page has loaded, records for every
image whether Chromium decoded it and at what size; ``--dump-dom`` hands that verdict back. The
check passes when there are charts and every one decoded with a non-zero size. A screenshot of
the page is saved for a person to look at. Chromium runs with networking features off and a
throw-away profile; the page is self-contained (data: URIs), so nothing is fetched.

Exit 0: the charts display. Exit 1: they do not (what was found is printed). Exit 2: no Chromium.
Not part of the test suite: CI has no browser. Install one with ``apt-get install -y chromium``.
"""

from __future__ import annotations

import argparse
import html
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXPECTED_CHARTS = 3  # status codes over time, latency per operation, errors (analysis/charts.py)

# Runs after load: one entry per <img>, whether it decoded and its natural size.
PROBE = """
<script>
window.addEventListener("load", () => {
  const found = [...document.images].map((img) => ({
    alt: img.alt, complete: img.complete, width: img.naturalWidth, height: img.naturalHeight,
  }));
  const out = document.createElement("pre");
  out.id = "chart-probe";
  out.textContent = JSON.stringify(found);
  document.body.appendChild(out);
});
</script>
"""


def chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def sample_report(directory: Path) -> Path:
    sys.path.insert(0, str(ROOT / "bench"))
    from bench_report import write_cassettes

    from chime_tap.analysis import load_frame, render

    paths = write_cassettes(directory, 4000, "json", per_file=4000)
    page = directory / "report.html"
    page.write_text(render(load_frame(paths), "html"), encoding="utf-8")
    return page


def run_chromium(browser: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    argv = [
        browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run", "--hide-scrollbars", f"--user-data-dir={profile}", *args,
    ]  # fmt: skip
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)


def probe_result(dom: str) -> list[dict] | None:
    m = re.search(r'<pre id="chart-probe">(.*?)</pre>', dom, re.DOTALL)
    return json.loads(html.unescape(m.group(1))) if m else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", nargs="?", type=Path)
    parser.add_argument("--screenshot", type=Path, default=Path("report-screenshot.png"))
    args = parser.parse_args(argv)
    browser = chromium()
    if browser is None:
        print("render_report_in_chromium: no chromium on PATH (apt-get install -y chromium)")
        return 2
    with tempfile.TemporaryDirectory(prefix="chime-tap-chromium-") as tmp:
        tmpdir = Path(tmp)
        page = args.report.resolve() if args.report else sample_report(tmpdir)
        probed = tmpdir / "probed.html"
        probed.write_text(
            page.read_text("utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8"
        )
        dom = run_chromium(
            browser, tmpdir / "p1", "--virtual-time-budget=10000", "--dump-dom", probed.as_uri()
        )
        shot = run_chromium(
            browser,
            tmpdir / "p2",
            "--window-size=1200,3000",
            f"--screenshot={args.screenshot.resolve()}",
            page.as_uri(),
        )
    images = probe_result(dom.stdout)
    if images is None:
        print(f"render_report_in_chromium: no verdict from Chromium\n{dom.stderr.strip()[-2000:]}")
        return 1
    for img in images:
        print(
            f"  {img['alt'] or '(no alt)'}: {img['width']}x{img['height']}, decoded={img['complete']}"
        )
    ok = len(images) >= EXPECTED_CHARTS and all(
        i["complete"] and i["width"] > 0 and i["height"] > 0 for i in images
    )
    print(
        f"{'OK' if ok else 'FAILED'}: {len(images)} chart(s) in {page.name}, "
        f"expected at least {EXPECTED_CHARTS}, every one decoded with a size"
    )
    if shot.returncode == 0 and args.screenshot.exists():
        print(f"screenshot written to {args.screenshot}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
