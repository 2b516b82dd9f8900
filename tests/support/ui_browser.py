"""Browser helpers of the web UI tests (tests/ui): a Playwright context on the cluster,
screenshots at phone and desktop width, registering, dropping files on the upload zone,
posting a form with the page's own CSRF token, and an attacker's site on another origin."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from aiohttp import web
from playwright.async_api import Browser, BrowserContext, Dialog, Page, expect

from tools.cluster import LocalCluster

__all__ = [
    "CHROMIUM",
    "CONSOLE_ERRORS",
    "PASSWORD",
    "SAME_FILE",
    "SCREENS",
    "WAIT_MS",
    "accept_dialog",
    "attacker_site",
    "csp_violations",
    "drop_files",
    "drop_same_file",
    "new_context",
    "post_form",
    "register",
    "screenshots",
]

CHROMIUM = Path("/usr/bin/chromium")
SCREENS = Path(__file__).resolve().parents[2] / "var" / "ui-screens"
PASSWORD = "correct-horse-42"
# The UI tests' cluster names this user in ADMIN_USERS (tests/ui/conftest.py).
ADMIN = "ui-admin"
WAIT_MS = 30_000

# Console errors of every page the tests open: a CSP violation (an inline script or
# style our own pages would need) shows up here.
CONSOLE_ERRORS: list[str] = []


async def new_context(browser: Browser, cluster: LocalCluster) -> BrowserContext:
    context = await browser.new_context(base_url=cluster.master_url,
                                        viewport={"width": 1280, "height": 900},
                                        accept_downloads=True)
    context.set_default_timeout(WAIT_MS)
    context.on("console", lambda message: CONSOLE_ERRORS.append(message.text)
               if message.type == "error" else None)
    return context


def csp_violations() -> list[str]:
    return [text for text in CONSOLE_ERRORS if "Content Security Policy" in text]


async def screenshots(page: Page, name: str) -> None:
    """The page as it is now, at phone and desktop width, then back to 1280 px."""
    SCREENS.mkdir(parents=True, exist_ok=True)
    for width in (375, 1440):
        await page.set_viewport_size({"width": width, "height": 900})
        await page.screenshot(path=SCREENS / f"{name}-{width}.png", full_page=True)
    await page.set_viewport_size({"width": 1280, "height": 900})


async def register(page: Page, username: str, shoot: bool = False) -> None:
    await page.goto("/ui/register")
    await page.locator("#username").fill(username)
    await page.locator("#password").fill(PASSWORD)
    await page.locator("#password2").fill(PASSWORD)
    if shoot:
        await screenshots(page, "register")
    await page.get_by_role("button", name="Create account").click()
    await expect(page).to_have_url(re.compile(r"/ui/buckets$"))


async def drop_files(page: Page, files: list[tuple[str, int]]) -> None:
    """Drop files (name, size in bytes; random content) on the upload zone, as a user
    dragging them from the desktop would."""
    transfer = await page.evaluate_handle("""(files) => {
        const dt = new DataTransfer();
        for (const [name, size] of files) {
            const bytes = new Uint8Array(size);
            for (let i = 0; i < size; i += 65536) {
                crypto.getRandomValues(bytes.subarray(i, Math.min(size, i + 65536)));
            }
            dt.items.add(new File([bytes], name, {type: "application/octet-stream"}));
        }
        return dt;
    }""", [list(f) for f in files])
    await page.dispatch_event("#dropzone", "dragover", {"dataTransfer": transfer})
    await page.dispatch_event("#dropzone", "drop", {"dataTransfer": transfer})


SAME_FILE = """(size) => {
    // The same bytes and modification time on every call: "the same file" again.
    const bytes = new Uint8Array(size);
    let x = 2463534242;
    for (let i = 0; i < size; i += 4) {
        x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
        bytes[i] = x & 255; bytes[i + 1] = (x >>> 8) & 255;
        bytes[i + 2] = (x >>> 16) & 255; bytes[i + 3] = (x >>> 24) & 255;
    }
    const dt = new DataTransfer();
    dt.items.add(new File([bytes], "resume.bin", {lastModified: 1700000000000}));
    return dt;
}"""


async def drop_same_file(page: Page, size: int) -> None:
    transfer = await page.evaluate_handle(SAME_FILE, size)
    await page.dispatch_event("#dropzone", "drop", {"dataTransfer": transfer})


async def accept_dialog(dialog: Dialog) -> None:
    """Say yes to a confirmation (``data-confirm`` forms)."""
    await dialog.accept()


async def post_form(page: Page, action: str, fields: dict[str, str]) -> dict[str, Any]:
    """POST a form from the page with its own CSRF token (what a crafted request from a
    logged-in user's own browser can do): status and text of the answer."""
    result: dict[str, Any] = await page.evaluate("""async ([action, fields]) => {
        const body = new URLSearchParams(fields);
        body.set("csrf_token", document.querySelector('meta[name="csrf-token"]').content);
        const r = await fetch(action, {method: "POST", body, redirect: "manual"});
        return {status: r.status, text: await r.text()};
    }""", [action, fields])
    return result


async def attacker_site(target: str) -> tuple[web.AppRunner, str]:
    """Another origin serving a page that auto-posts a form to the master."""
    page = f"""<!doctype html><form id="f" method="post" action="{target}/ui/buckets">
    <input name="name" value="evil-bucket-x"></form>
    <script>document.getElementById("f").submit()</script>"""

    async def handler(request: web.Request) -> web.Response:
        return web.Response(text=page, content_type="text/html")

    app = web.Application()
    app.router.add_get("/", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    # 127.0.0.1 on another port: another origin but the same site, so SameSite does
    # not keep the cookies off; only the CSRF token check can refuse it.
    return runner, f"http://127.0.0.1:{port}/"
