"""Screenshot a standalone HTML page (e.g. a leaderboard's ``leaderboard.html``) with headless Chromium.

    python scripts/screenshot_html.py experiments/results/embedded_segmentation/leaderboard.html
        [--window-size 1400,2000] [--budget-ms 5000] [--browser /usr/bin/chromium]

Writes ``<name>.png`` beside ``<name>.html`` (replacing an earlier screenshot of the same page, atomically) and prints
its path. The page is opened from disk (``file://``), so it must work offline. Scripts get ``--budget-ms`` of
virtual time to draw (sorting, plots) before the picture is taken. Needs a Chromium binary: Debian's ``chromium``
package (``apt-get install chromium``), or ``--browser`` / ``$CHROMIUM`` naming another Chromium or Chrome.
Exit status 0 on success; 1 with one line on stderr when the browser is missing, fails or writes no PNG.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class ScreenshotError(RuntimeError):
    """The page could not be captured (missing browser, browser failure, no PNG written)."""


def find_browser(explicit: str | None = None) -> str:
    """Path of the Chromium binary: ``explicit``, else ``$CHROMIUM``, else the first of BROWSERS on ``PATH``."""
    wanted = explicit or os.environ.get("CHROMIUM")
    if wanted:
        found = shutil.which(wanted)
        if found is None:
            raise ScreenshotError(f"browser not found: {wanted!r} (neither an executable path nor on PATH)")
        return found
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    raise ScreenshotError(
        f"no Chromium on PATH (looked for {', '.join(BROWSERS)}); install Debian's package with "
        "`apt-get install -y chromium`, or pass --browser / set $CHROMIUM"
    )


def browser_command(
    browser: str, html: Path, png: Path, window: tuple[int, int], budget_ms: int, profile: Path
) -> list[str]:
    """The headless Chromium command line that renders ``html`` into ``png``."""
    return [
        browser,
        "--headless",
        "--no-sandbox",  # root in a container has no user namespace for the sandbox
        "--disable-gpu",
        "--hide-scrollbars",
        "--no-first-run",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        f"--window-size={window[0]},{window[1]}",
        f"--virtual-time-budget={budget_ms}",
        f"--screenshot={png}",
        html.resolve().as_uri(),
    ]


def screenshot(
    html: Path,
    window: tuple[int, int] = (1400, 2000),
    budget_ms: int = 5000,
    browser: str | None = None,
    timeout_s: float = 120.0,
) -> Path:
    """Render ``html`` in headless Chromium and save ``<stem>.png`` beside it; returns the PNG's path."""
    if not html.is_file():
        raise ScreenshotError(f"{html}: no such HTML file")
    if html.suffix.lower() not in (".html", ".htm"):
        raise ScreenshotError(f"{html}: expected an .html file")
    binary = find_browser(browser)
    target = html.with_suffix(".png")
    with tempfile.TemporaryDirectory(prefix="screenshot-") as scratch:
        shot = Path(scratch) / "page.png"
        command = browser_command(binary, html, shot, window, budget_ms, Path(scratch) / "profile")
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired as error:
            raise ScreenshotError(f"{binary} did not finish within {timeout_s:.0f} s on {html}") from error
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise ScreenshotError(f"{binary} failed on {html} (exit {done.returncode}): {' | '.join(tail)}")
        if not shot.is_file() or shot.read_bytes()[:8] != PNG_MAGIC:
            raise ScreenshotError(f"{binary} exited 0 but wrote no PNG for {html}")
        partial = target.with_name(f".{target.name}.partial")
        shutil.copyfile(shot, partial)
        os.replace(partial, target)
    return target


def window_size(text: str) -> tuple[int, int]:
    """``"1400,2000"`` -> ``(1400, 2000)``, both positive."""
    try:
        width, height = (int(part) for part in text.split(","))
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected WIDTH,HEIGHT in pixels, got {text!r}") from error
    if width <= 0 or height <= 0:
        raise argparse.ArgumentTypeError(f"window size must be positive, got {text!r}")
    return width, height


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("html", type=Path, help="the standalone HTML page")
    parser.add_argument("--window-size", type=window_size, default=(1400, 2000), help="WIDTH,HEIGHT in pixels")
    parser.add_argument("--budget-ms", type=int, default=5000, help="virtual time for the page's scripts")
    parser.add_argument("--browser", help="Chromium binary (default: $CHROMIUM, else chromium on PATH)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds before the browser is given up on")
    args = parser.parse_args(argv)
    try:
        png = screenshot(args.html, args.window_size, args.budget_ms, args.browser, args.timeout)
    except ScreenshotError as error:
        print(f"screenshot_html.py: error: {error}", file=sys.stderr)
        return 1
    print(png)
    return 0


if __name__ == "__main__":
    sys.exit(main())
