"""The web UI in a real browser, as its users meet it (Debian's chromium driven by
Playwright against a real cluster, ``tests/ui/conftest.py``): uploads, shares, links,
versions and resumable uploads, and what a hostile page or name cannot do.

Screenshots of every page at 375 px and 1440 px go to ``var/ui-screens/`` (git-ignored).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import uuid
from pathlib import Path

import aiohttp
import pytest
from playwright.async_api import Browser, expect

from tests.support.api import ApiClient
from tests.support.ui_browser import (
    CONSOLE_ERRORS,
    PASSWORD,
    SAME_FILE,
    accept_dialog,
    attacker_site,
    csp_violations,
    drop_files,
    drop_same_file,
    new_context,
    post_form,
    register,
    screenshots,
)
from tools.cluster import LocalCluster

pytestmark = pytest.mark.timeout(300)

MiB = 1024 * 1024


async def test_a_user_uploads_shares_and_links_through_the_browser(
    cluster: LocalCluster, browser: Browser
) -> None:
    suffix = uuid.uuid4().hex[:6]
    alice_name, bob_name, bucket = f"alice-{suffix}", f"bob-{suffix}", f"team-{suffix}"
    alice_ctx = await new_context(browser, cluster)
    await alice_ctx.grant_permissions(["clipboard-read", "clipboard-write"])
    page = await alice_ctx.new_page()
    page.on("dialog", accept_dialog)

    response = await page.goto("/ui/login")
    assert response is not None
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    await screenshots(page, "login")
    await register(page, alice_name, shoot=True)
    cookies = {c["name"]: c for c in await alice_ctx.cookies()}
    session = cookies["echofs_session"]
    assert session["httpOnly"] and session["sameSite"] == "Strict"

    # A bucket to share (shares are per bucket, DESIGN §12) and a folder in it.
    await page.get_by_label("Name").fill(bucket)
    await page.get_by_role("button", name="Create bucket").click()
    await expect(page.locator(".crumbs")).to_contain_text(bucket)
    await page.get_by_label("New folder").fill("reports")
    await page.get_by_role("button", name="Create folder").click()
    await expect(page).to_have_url(f"{cluster.master_url}/ui/b/{bucket}/reports/")

    # Three files by drag and drop, one of 50 MiB: its progress is seen between 0 and 100.
    await page.evaluate("""() => {
        window.seenProgress = [];
        new MutationObserver(() => {
            const li = document.querySelector('li.upload[data-name="big.bin"]');
            if (li && li.dataset.progress) window.seenProgress.push(+li.dataset.progress);
        }).observe(document.getElementById("upload-list"),
                   {subtree: true, attributes: true, childList: true});
    }""")
    await expect(page.locator("#bucket-usage")).to_contain_text("in 0 files")
    await drop_files(page, [("big.bin", 50 * MiB), ("notes.txt", 2000), ("plan.md", 300)])
    await page.wait_for_function("""() => {
        const li = document.querySelector('li.upload[data-name="big.bin"]');
        return li && +li.dataset.progress > 0;
    }""")
    await screenshots(page, "uploading")
    await expect(page.locator('li.upload[data-state="done"]')).to_have_count(3, timeout=120_000)
    seen = await page.evaluate("window.seenProgress")
    assert any(0 < p < 100 for p in seen), f"no intermediate progress shown: {seen}"
    # The listing refreshes in place (no reload) once the uploads are done.
    assert await page.evaluate("window.seenProgress !== undefined")
    listing = page.locator("table.listing tbody")
    for name in ("big.bin", "notes.txt", "plan.md"):
        await expect(listing.get_by_role("link", name=name, exact=True)).to_be_visible()
    await expect(page.locator('tr[data-name="big.bin"]')).to_contain_text("50.0 MiB")
    # ...and so does the bucket's usage line (it said 0 files before the drop).
    await expect(page.locator("#bucket-usage")).to_contain_text("in 3 files")
    await screenshots(page, "browse")

    # Rename one.
    await listing.get_by_role("link", name="notes.txt", exact=True).click()
    await page.get_by_label("New name or bucket/path").fill("minutes.txt")
    await page.get_by_role("button", name="Rename / move").click()
    await expect(page).to_have_url(f"{cluster.master_url}/ui/f/{bucket}/reports/minutes.txt")
    await expect(page.locator("h1")).to_have_text("minutes.txt")
    # ...and copy one: the copy shares the chunks, the page lands on it.
    await page.get_by_label("Copy to (name or bucket/path)").fill("minutes-copy.txt")
    await page.get_by_role("button", name="Copy", exact=True).click()
    await expect(page).to_have_url(
        f"{cluster.master_url}/ui/f/{bucket}/reports/minutes-copy.txt")

    # Bob registers; Alice shares the bucket with him read-only.
    bob_ctx = await new_context(browser, cluster)
    bob = await bob_ctx.new_page()
    await register(bob, bob_name)
    await page.goto(f"/ui/b/{bucket}/reports/")
    await page.get_by_label("Share with").select_option("user")
    await page.locator("#share-name").fill(bob_name)
    await page.get_by_label("Permission").select_option("ro")
    await page.get_by_role("button", name="Share", exact=True).click()
    await expect(page.locator("#shares")).to_contain_text(f"{bob_name}: ro")

    # Bob sees the folder, downloads a file, and his delete is refused.
    await bob.goto(f"/ui/b/{bucket}/reports/")
    await expect(bob.locator('tr[data-name="minutes.txt"]')).to_be_visible()
    assert await bob.get_by_role("button", name="Delete minutes.txt").count() == 0
    async with bob.expect_download() as download_info:
        await bob.locator('tr[data-name="plan.md"]').get_by_role("link", name="Download").click()
    download = await download_info.value
    assert len(await asyncio.to_thread(Path(await download.path()).read_bytes)) == 300
    refused = await post_form(bob, "/ui/ops/delete", {
        "bucket": bucket, "path": "reports/minutes.txt", "kind": "file"})
    assert refused["status"] == 403 and "ro on bucket" in refused["text"], refused
    await bob.goto(f"/ui/b/{bucket}/reports/")
    await expect(bob.locator('tr[data-name="minutes.txt"]')).to_be_visible()
    await bob.set_content(refused["text"])
    await screenshots(bob, "error")

    # A single-use link: it works once in a fresh browser context, then 410.
    await page.goto(f"/ui/f/{bucket}/reports/plan.md")
    await page.get_by_label("Uses").fill("1")
    await page.get_by_role("button", name="Create link").click()
    url = await page.locator("#link-url").input_value()
    await page.get_by_role("button", name="Copy link").click()
    await expect(page.get_by_role("button", name="Link copied")).to_be_visible()
    assert await page.evaluate("navigator.clipboard.readText()") == url
    await screenshots(page, "file")
    fresh = await new_context(browser, cluster)
    first = await fresh.request.get(url)
    assert first.status == 200 and len(await first.body()) == 300
    second = await fresh.request.get(url)
    assert second.status == 410
    await fresh.close()
    await page.get_by_role("link", name="Links", exact=True).click()
    state = page.locator("tr", has_text="reports/plan.md").locator(".link-state")
    await expect(state).to_have_attribute("data-state", "used")
    await screenshots(page, "links")
    # At phone width the links table fits the screen: nothing to scroll sideways.
    await page.set_viewport_size({"width": 375, "height": 900})
    widths = await page.evaluate("""() => {
        const table = document.querySelector("table.links");
        return [table.scrollWidth, table.parentElement.clientWidth,
                document.documentElement.scrollWidth];
    }""")
    await page.set_viewport_size({"width": 1280, "height": 900})
    assert widths[0] <= widths[1] and widths[2] <= 375, widths

    # A recursive delete runs as a task whose progress the page follows.
    await page.goto(f"/ui/b/{bucket}/")
    await page.get_by_role("button", name="Delete reports").click()
    await expect(page.locator(".task-state")).to_have_attribute("data-state", "done")
    await expect(page.locator(".task-state")).to_contain_text("of 4")
    await screenshots(page, "task")
    await page.goto("/ui/buckets")
    await screenshots(page, "buckets")
    assert csp_violations() == []
    await bob_ctx.close()
    await alice_ctx.close()


async def test_a_cross_site_post_is_refused_and_a_markup_name_renders_as_text(
    cluster: LocalCluster, browser: Browser
) -> None:
    markup = "<img src=x onerror=window.pwned=1>.txt"
    versioned = f"kept-{uuid.uuid4().hex[:6]}"
    async with aiohttp.ClientSession() as http:
        api = ApiClient(cluster.master_url, http)
        username = f"carol-{uuid.uuid4().hex[:6]}"
        await api.register_and_login(username, PASSWORD)
        status, _body = await api.fs("PUT", api.home_bucket, markup, data=b"hello")
        assert status == 201
        status, _body = await api.call("POST", "/api/v1/buckets",
                                       json={"name": versioned, "versioning": True})
        assert status == 201
        for content in (b"first draft", b"second draft"):
            status, _body = await api.fs("PUT", versioned, "doc.txt", data=content)
            assert status == 201
    context = await new_context(browser, cluster)
    page = await context.new_page()
    # Logged in with the keyboard only: the username field has the focus, Tab moves on.
    await page.goto("/ui/login")
    await expect(page.locator("#username")).to_be_focused()
    await page.keyboard.type(username)
    await page.keyboard.press("Tab")
    await expect(page.locator("#password")).to_be_focused()
    await page.keyboard.type(PASSWORD)
    await page.keyboard.press("Tab")
    await expect(page.get_by_role("button", name="Log in")).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(page).to_have_url(f"{cluster.master_url}/ui/buckets")

    # The name is text: a link showing it literally, no <img> element, no script ran.
    await page.goto(f"/ui/b/{api.home_bucket}/")
    await expect(page.get_by_role("link", name=markup, exact=True)).to_be_visible()
    assert await page.locator("table.listing img").count() == 0
    assert await page.evaluate("window.pwned === undefined")
    await page.get_by_role("link", name=markup, exact=True).click()
    await expect(page.locator("h1")).to_have_text(markup)
    assert await page.evaluate("window.pwned === undefined")
    # And were markup ever to slip in, the CSP would not run an inline script.
    assert await page.evaluate("""() => {
        const script = document.createElement("script");
        script.textContent = "window.injected = 1";
        document.head.appendChild(script);
        return window.injected === undefined;
    }""")
    await page.evaluate("new Promise(r => requestAnimationFrame(() => setTimeout(r, 0)))")
    assert csp_violations(), CONSOLE_ERRORS
    CONSOLE_ERRORS.clear()

    # Resumable: an upload cut off by a reload, dropped again, sends only what is missing.
    await page.goto(f"/ui/b/{api.home_bucket}/")
    cdp = await context.new_cdp_session(page)
    await cdp.send("Network.enable")
    await cdp.send("Network.emulateNetworkConditions", {
        "offline": False, "latency": 0, "downloadThroughput": -1,
        "uploadThroughput": 4 * MiB})
    await drop_same_file(page, 24 * MiB)
    await expect(page.locator('li.upload[data-name="resume.bin"]')).to_have_attribute(
        "data-parts-done", re.compile(r"^[1-4]$"))
    await page.reload()  # the upload is cut off mid-way
    await cdp.send("Network.emulateNetworkConditions", {
        "offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})
    await drop_same_file(page, 24 * MiB)
    again = page.locator('li.upload[data-name="resume.bin"]')
    await expect(again).to_have_attribute("data-state", "done", timeout=60_000)
    assert int(await again.get_attribute("data-resumed") or 0) >= 1
    assert int(await again.get_attribute("data-parts-done") or 0) <= 5
    expected = await page.evaluate("""async (size) => {
        const file = (""" + SAME_FILE + """)(size).files[0];
        const digest = await crypto.subtle.digest("SHA-256", await file.arrayBuffer());
        return [...new Uint8Array(digest)].map(b => b.toString(16).padStart(2, "0")).join("");
    }""", 24 * MiB)
    stored = await context.request.get(f"/api/v1/fs/{api.home_bucket}/resume.bin")
    assert hashlib.sha256(await stored.body()).hexdigest() == expected

    # Versions: restoring the first makes its content current again, as a new version.
    await page.goto(f"/ui/f/{versioned}/doc.txt")
    rows = page.locator("section[aria-labelledby=versions-h] tbody tr")
    await expect(rows).to_have_count(2)
    await rows.nth(1).get_by_role("button", name="Restore").click()
    await expect(rows).to_have_count(3)
    restored = await context.request.get(f"/api/v1/fs/{versioned}/doc.txt")
    assert await restored.body() == b"first draft"

    # Bad input in a URL is a page saying so, never a server error.
    for bad, status in ((f"/ui/b/{api.home_bucket}/?cursor=_w%3D%3D", 400),
                        (f"/ui/f/{api.home_bucket}/a%00b", 400),
                        ("/ui/b/NO_SUCH_BUCKET/", 404), ("/ui/tasks/not-a-task", 404)):
        answer = await context.request.get(bad)
        assert answer.status == status, (bad, answer.status)
        assert "text/html" in answer.headers["content-type"]

    # A page on another site posts a form to the master with the user's cookies: refused.
    runner, attacker_url = await attacker_site(cluster.master_url)
    try:
        async with page.expect_response(lambda r: r.url.endswith("/ui/buckets")
                                        and r.request.method == "POST") as posted:
            await page.goto(attacker_url)
        assert (await posted.value).status == 403
        await expect(page.locator(".error")).to_have_attribute("data-code", "csrf_failed")
    finally:
        await runner.cleanup()
    await page.goto("/ui/buckets")
    await expect(page.locator("table")).not_to_contain_text("evil-bucket-x")
    # The REST API with the session cookie but without the page's token: refused too.
    rest = await context.request.post("/api/v1/buckets", data={"name": "evil-bucket-y"})
    assert rest.status == 403 and (await rest.json())["code"] == "csrf_failed"
    # A wrong token is no better than none.
    forged = await context.request.post("/ui/buckets", form={
        "name": "evil-bucket-z", "csrf_token": "0" * 64})
    assert forged.status == 403
    await context.close()
