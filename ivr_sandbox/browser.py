"""Headless Chromium driven by selenium (Debian's ``chromium`` + ``chromium-driver``): the
browser tests and ``scripts/screenshots`` use the same one.

Selenium is blocking; async callers run each call in a thread (``asyncio.to_thread``) so the
bridge's loop keeps serving the page. The browser runs in a zone of its own choosing
(``timezone``, UTC by default) so a page that formats times in the browser's zone instead of
the centre's shows it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


def missing_programs() -> list[str]:
    """What a headless browser needs and this machine lacks (empty: ready)."""
    return [p for p in (CHROMIUM, CHROMEDRIVER) if not shutil.which(p)]


class Browser:
    def __init__(self, width: int = 1400, height: int = 1000, timezone: str = "UTC") -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        self.profile = tempfile.mkdtemp(prefix="ivr-chromium-")
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for arg in (
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
            f"--window-size={width},{height}",
            f"--user-data-dir={self.profile}",
        ):
            options.add_argument(arg)
        service = Service(CHROMEDRIVER, env={**os.environ, "TZ": timezone})
        self.driver = webdriver.Chrome(service=service, options=options)

    def open(self, url: str) -> None:
        self.driver.get(url)

    def text(self, element_id: str) -> str:
        return str(self.driver.find_element("id", element_id).text)

    def js(self, script: str) -> Any:
        return self.driver.execute_script(script)

    def platform_fonts(self, selector: str) -> list[dict[str, Any]]:
        """The fonts Chromium really drew the element's text with (DevTools'
        ``CSS.getPlatformFontsForNode``): family name and glyph count per font. A page whose
        CJK text has no font gets none that covers it, and draws empty boxes."""
        self.driver.execute_cdp_cmd("DOM.enable", {})
        self.driver.execute_cdp_cmd("CSS.enable", {})
        root = self.driver.execute_cdp_cmd("DOM.getDocument", {"depth": -1})["root"]["nodeId"]
        found = self.driver.execute_cdp_cmd(
            "DOM.querySelector", {"nodeId": root, "selector": selector}
        )
        fonts = self.driver.execute_cdp_cmd(
            "CSS.getPlatformFontsForNode", {"nodeId": found["nodeId"]}
        )
        return list(fonts["fonts"])

    def screenshot(self, path: Path, width: int | None = None, height: int | None = None) -> None:
        """A PNG of the page; ``height`` None: as tall as the page's content."""
        if width is not None or height is None:
            full = int(self.js("return document.documentElement.scrollHeight"))
            size = self.driver.get_window_size()
            self.driver.set_window_size(width or size["width"], height or full)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.driver.save_screenshot(str(path))

    def close(self) -> None:
        self.driver.quit()
        shutil.rmtree(self.profile, ignore_errors=True)
