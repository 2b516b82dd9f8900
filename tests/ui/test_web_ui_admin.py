"""The web UI's admin pages in a real browser (Debian's chromium driven by Playwright
against a real cluster, ``tests/ui/conftest.py``): workers and the controller watched
live, an override, and a drain that asks first.

Screenshots of every page at 375 px and 1440 px go to ``var/ui-screens/`` (git-ignored).
"""

from __future__ import annotations

import re
import signal

import pytest
from playwright.async_api import Browser, Dialog, expect

from tests.support.ui_browser import (
    ADMIN,
    PASSWORD,
    accept_dialog,
    csp_violations,
    new_context,
    register,
    screenshots,
)
from tools.cluster import LocalCluster

pytestmark = pytest.mark.timeout(300)


async def test_an_admin_watches_a_stopped_worker_and_the_controller_decide_live(
    cluster: LocalCluster, browser: Browser
) -> None:
    context = await new_context(browser, cluster)
    workers = await context.new_page()
    workers.on("dialog", accept_dialog)
    await register(workers, ADMIN)
    await workers.goto("/ui/admin/workers")
    for worker_id in cluster.workers:
        await expect(workers.locator(f'tr[data-worker="{worker_id}"] .state')).to_have_attribute(
            "data-state", "healthy")
    await screenshots(workers, "admin-workers")
    controller = await context.new_page()
    confirmations: list[str] = []

    async def accept(dialog: Dialog) -> None:
        confirmations.append(dialog.message)
        await dialog.accept()

    controller.on("dialog", accept)
    await controller.goto("/ui/admin/consistency")
    await expect(controller.locator("#cluster-mode")).to_have_text("C")
    # The durability model's estimate per mode: C writes 2 copies synchronously, A 1.
    risk = controller.locator("table.durability")
    await expect(risk.locator('tr[data-mode="C"] td').first).to_have_text("2")
    await expect(risk.locator('tr[data-mode="A"] td').first).to_have_text("1")
    await screenshots(controller, "admin-consistency")
    # Marks that a reload would wipe: the pages must change without one.
    for page in (workers, controller):
        await page.evaluate("window.notReloaded = true")
    # Two of three workers stopped: C cannot place its quorum of 2, so the controller
    # switches the cluster to A at once (an emergency), with its reason on the timeline.
    stopped = [cluster.workers[w].process for w in ("worker-2", "worker-3")]
    for process in stopped:
        process.signal(signal.SIGSTOP)
    try:
        for worker_id in ("worker-2", "worker-3"):
            state = workers.locator(f'tr[data-worker="{worker_id}"] .state')
            await expect(state).to_have_attribute("data-state", re.compile("suspect|down"))
            await expect(state).to_have_attribute("data-state", "down")
        await screenshots(workers, "admin-workers-down")
        for worker_id in ("worker-2", "worker-3"):
            await expect(controller.locator(f'tr[data-worker="{worker_id}"] [data-failing]')
                         ).to_have_attribute("data-failing", "yes")
        decision = controller.locator('li.decision.changed[data-object="*"][data-mode="A"]')
        await expect(decision.first).to_contain_text("C → A")
        await expect(decision.first.locator(".reason")).to_contain_text("emergency")
        await expect(controller.locator("#cluster-mode")).to_have_text("A")
        await screenshots(controller, "admin-consistency-live")
        for page in (workers, controller):
            assert await page.evaluate("window.notReloaded === true")
    finally:
        for process in stopped:
            process.signal(signal.SIGCONT)
    for worker_id in ("worker-2", "worker-3"):
        await expect(workers.locator(f'tr[data-worker="{worker_id}"] .state')
                     ).to_have_attribute("data-state", "healthy")

    # An override needs its confirmation box and the dialog; then the live view shows it.
    await controller.get_by_label("Mode", exact=True).select_option("A")
    await controller.get_by_label("I understand").check()
    await controller.get_by_role("button", name="Apply").click()
    await expect(controller.locator("#override")).to_have_text("A")
    assert confirmations and "override" in confirmations[0]
    await controller.get_by_label("Mode", exact=True).select_option("")
    await controller.get_by_label("I understand").check()
    await controller.get_by_role("button", name="Apply").click()
    await expect(controller.locator("#override")).to_have_text("none")
    assert csp_violations() == []
    await context.close()


async def test_a_drain_asks_first_and_says_why_it_cannot_start(
    cluster: LocalCluster, browser: Browser
) -> None:
    """The Drain button asks first: declined, nothing happens. Confirmed here, with three
    workers and three copies per chunk, the drain is refused with the reason (it could
    never finish) and the worker stays as it was. A drain that can start is
    tests/unit/master/test_cluster_service.py's."""
    context = await new_context(browser, cluster)
    page = await context.new_page()
    # The admin test above may have registered the admin already (409 then).
    registered = await context.request.post(
        "/api/v1/auth/register", data={"username": ADMIN, "password": PASSWORD})
    assert registered.status in (201, 409), registered.status
    await page.goto("/ui/login")
    await page.locator("#username").fill(ADMIN)
    await page.locator("#password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await expect(page).to_have_url(f"{cluster.master_url}/ui/buckets")
    await page.goto("/ui/admin/workers")
    row = page.locator('tr[data-worker="worker-3"]')
    await expect(row.locator(".state")).to_have_attribute("data-state", "healthy")

    asked: list[str] = []

    async def decline(dialog: Dialog) -> None:
        asked.append(dialog.message)
        await dialog.dismiss()

    page.once("dialog", decline)
    await row.get_by_role("button", name="Drain worker-3").click()
    assert asked and asked[0].startswith("Drain worker-3?"), asked
    await expect(page).to_have_url(f"{cluster.master_url}/ui/admin/workers")

    page.once("dialog", accept_dialog)
    async with page.expect_response(lambda r: r.url.endswith("/ui/admin/workers/worker-3/drain")
                                    and r.request.method == "POST") as posted:
        await row.get_by_role("button", name="Drain worker-3").click()
    assert (await posted.value).status == 409
    await expect(page.locator(".error")).to_have_attribute("data-code", "conflict")
    await expect(page.locator("main")).to_contain_text(
        "draining worker-3 would leave 2 workers for 3 copies of each chunk")
    # A refusal is not a server fault, and the way back is to the page it came from.
    await expect(page.locator("h1")).to_have_text("That could not be done")
    await screenshots(page, "admin-drain-refused")
    status = await context.request.get("/api/v1/admin/workers/worker-3/drain")
    assert status.status == 200 and (await status.json())["data"]["state"] == "healthy"
    await page.get_by_role("link", name="Back", exact=True).click()
    await expect(page).to_have_url(f"{cluster.master_url}/ui/admin/workers")
    await expect(row.locator(".state")).to_have_attribute("data-state", "healthy")
    await expect(row.get_by_role("button", name="Drain worker-3")).to_be_visible()
    assert csp_violations() == []
    await context.close()
