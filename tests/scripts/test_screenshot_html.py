"""scripts/screenshot_html.py: clear errors without a browser or a page; a real PNG when Chromium is installed."""

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO

SCRIPT = REPO / "scripts" / "screenshot_html.py"


def load_script():
    spec = importlib.util.spec_from_file_location("screenshot_html", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_missing_browser_is_named_with_how_to_install_one(monkeypatch: pytest.MonkeyPatch) -> None:
    script = load_script()
    monkeypatch.delenv("CHROMIUM", raising=False)
    monkeypatch.setattr(script.shutil, "which", lambda name: None)
    with pytest.raises(script.ScreenshotError, match="no Chromium on PATH .*apt-get install -y chromium"):
        script.find_browser()
    with pytest.raises(script.ScreenshotError, match="browser not found: '/opt/none'"):
        script.find_browser("/opt/none")


def test_a_missing_page_fails_in_one_line_with_status_1(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), str(tmp_path / "absent.html")], capture_output=True, text=True, check=False
    )
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0 and "absent.html: no such HTML file" in result.stderr


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium package is not installed")
def test_a_page_is_captured_as_a_png_beside_it(tmp_path: Path) -> None:
    page = tmp_path / "board.html"
    page.write_text("<html><body style='background:#336699'><h1>visionbench</h1></body></html>")
    command = [sys.executable, str(SCRIPT), str(page), "--window-size", "320,240"]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    png = tmp_path / "board.png"
    assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n") and png.stat().st_size > 1000
