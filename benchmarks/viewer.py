"""Size and render time of a run's report.html (the episode browser) in headless Chromium.

    .venv/bin/python benchmarks/viewer.py RUN_DIR [--rounds 3] [--screenshot docs/viewer.png]

Rewrites the run's report first. Prints the page's size, the episodes it holds, and per round the
time from navigation start to the browser's first full draw (``data-render-ms``, measured by the page
itself) and the wall time of the whole headless Chromium process (start-up included).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from reflectrl.report import write_report

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"]
FLAGS += ["--disable-background-networking", "--disable-component-update", "--disable-sync"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--screenshot", type=Path, help="Also save a 1400x1800 screenshot of the page here.")
    args = ap.parse_args()
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        raise SystemExit("no chromium: apt-get install chromium")
    write_report(args.run_dir)
    page = (args.run_dir / "report.html").resolve()
    print(f"{page}: {page.stat().st_size / 2**20:.2f} MiB")
    for r in range(args.rounds):
        with tempfile.TemporaryDirectory() as profile:
            started = time.perf_counter()
            cmd = [browser, *FLAGS, f"--user-data-dir={profile}", "--dump-dom", page.as_uri()]
            dom = subprocess.run(cmd, capture_output=True, text=True, timeout=120).stdout
            wall = time.perf_counter() - started
        ms = re.search(r'data-render-ms="(\d+)"', dom)
        shown = re.search(r'data-shown="(\d+)"', dom)
        print(
            f"round {r + 1}: drawn {ms.group(1) if ms else '?'} ms after navigation start, "
            f"{shown.group(1) if shown else '?'} episodes shown; chromium process {wall:.2f} s"
        )
    if args.screenshot:
        with tempfile.TemporaryDirectory() as profile:
            shot = [browser, *FLAGS, f"--user-data-dir={profile}", "--window-size=1400,1800"]
            subprocess.run([*shot, f"--screenshot={args.screenshot.resolve()}", page.as_uri()], timeout=120, check=True)
        print(f"screenshot: {args.screenshot}")


if __name__ == "__main__":
    main()
