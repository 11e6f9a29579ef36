"""The dashboard in a real browser, against the real server with real jobs.

Each test works in its own queue, so the tests share one server and still see exact counts.
"""

from __future__ import annotations

import contextlib
import http.server
import re
import threading
from collections.abc import Iterator
from typing import Any

from tests.ui.conftest import Server, screenshot


def _row(page: Any, queue: str) -> Any:
    return page.locator(f"#queues tr[data-queue='{queue}']")


def test_overview_shows_the_counts_and_refreshes_itself(page: Any, ui_server: Server) -> None:
    from playwright.sync_api import expect

    queue = "ui-overview"
    jobs = [ui_server.enqueue("report", queue=queue, max_attempts=1) for _ in range(5)]
    done, dead, _still_leased = ui_server.lease("overview-worker", queue, 3)
    ui_server.complete(done, {"ok": True})
    assert ui_server.fail(dead, "disk full", retryable=False) == "dlq"
    assert ui_server.http.post(f"/v1/jobs/{jobs[4]['id']}/cancel").status_code == 200

    page.goto("/ui/")
    row = _row(page, queue)
    for state, expected in {
        "pending": "1",
        "leased": "1",
        "succeeded": "1",
        "dlq": "1",
        "cancelled": "1",
    }.items():
        expect(row.locator(f"td[data-state='{state}']")).to_have_text(expected)
    cells = row.locator("td")
    expect(cells.nth(6)).to_have_text("1")  # succeeded in the last hour
    expect(cells.nth(7)).to_have_text("1")  # failed in the last hour
    expect(cells.nth(8)).to_have_text("50.0 %")
    expect(row.locator("[data-testid='oldest-pending']")).to_have_text(re.compile(r"^\d+ s$"))
    # The chart was drawn by Chart.js from the page's data.
    page.wait_for_function(
        "() => window.Chart && Chart.getChart(document.getElementById('throughput-chart'))"
    )
    failed_points = page.evaluate(
        "() => Chart.getChart(document.getElementById('throughput-chart'))"
        ".data.datasets[1].data.reduce((a, b) => a + b, 0)"
    )
    assert failed_points >= 1
    screenshot(page, "overview")

    # It refreshes by itself: a new job shows up without a reload.
    ui_server.enqueue("report", queue=queue)
    expect(row.locator("td[data-state='pending']")).to_have_text("2", timeout=12_000)


def test_the_job_list_filters_and_links_to_jobs(page: Any, ui_server: Server) -> None:
    from playwright.sync_api import expect

    queue = "ui-filter"
    alphas = [ui_server.enqueue("alpha", queue=queue) for _ in range(3)]
    betas = [ui_server.enqueue("beta", queue=queue) for _ in range(2)]
    (lease,) = ui_server.lease("filter-worker", queue)  # the oldest alpha is now leased
    assert lease["job_id"] == alphas[0]["id"]

    page.goto("/ui/jobs")
    page.fill("input[name=queue]", queue)
    rows = page.locator("#jobs-table tbody tr")
    expect(rows).to_have_count(5)
    expect(page).to_have_url(re.compile(r"queue=ui-filter"))
    # Newest first.
    expect(rows.first).to_have_attribute("data-job-id", betas[-1]["id"])

    page.fill("input[name=type]", "beta")
    expect(rows).to_have_count(2)
    page.fill("input[name=type]", "alpha")
    expect(rows).to_have_count(3)
    page.select_option("select[name=state]", "leased")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-job-id", alphas[0]["id"])
    screenshot(page, "jobs")

    # Search by exact id, whatever the other filters were.
    page.goto("/ui/jobs")
    page.fill("input[name=id]", betas[0]["id"])
    expect(page.locator(f"#jobs-table tr[data-job-id='{betas[0]['id']}']")).to_have_count(1)
    page.click(f"#jobs-table tr[data-job-id='{betas[0]['id']}'] a")
    expect(page).to_have_url(re.compile(rf"/ui/jobs/{betas[0]['id']}$"))
    expect(page.locator("#job-state")).to_have_text("pending")


def test_a_job_page_shows_its_attempts(page: Any, ui_server: Server) -> None:
    from playwright.sync_api import expect

    queue = "ui-attempts"
    job = ui_server.enqueue("resize", queue=queue, payload={"image": "cat.png", "width": 640})
    (first,) = ui_server.lease("worker-a", queue)
    assert ui_server.fail(first, "out of memory") == "pending"
    (second,) = ui_server.lease("worker-b", queue)
    beat = ui_server.http.post(
        f"/v1/jobs/{job['id']}/heartbeat",
        json={"lease_token": second["lease_token"], "details": {"progress": 0.5}},
    )
    assert beat.status_code == 200
    ui_server.complete(second, {"thumbnail": "cat-640.png"})

    page.goto(f"/ui/jobs/{job['id']}")
    expect(page.locator("#job-state")).to_have_text("succeeded")
    expect(page.locator("#payload")).to_contain_text('"image": "cat.png"')
    expect(page.locator("#result")).to_contain_text('"thumbnail": "cat-640.png"')
    expect(page.locator("#heartbeat-details")).to_contain_text('"progress": 0.5')
    attempts = page.locator("#attempts > li")
    expect(attempts).to_have_count(2)
    latest, earliest = attempts.nth(0), attempts.nth(1)
    expect(latest).to_have_attribute("data-attempt", "2")
    expect(latest).to_contain_text("succeeded")
    expect(latest).to_contain_text("worker-b")
    expect(earliest).to_contain_text("failed")
    expect(earliest).to_contain_text("worker-a")
    expect(earliest).to_contain_text("out of memory")
    expect(page.locator("#action-cancel")).to_have_count(0)  # a succeeded job has no actions
    expect(page.locator("#action-retry")).to_have_count(0)
    screenshot(page, "job")


def test_redrive_moves_dead_jobs_back_to_pending(page: Any, ui_server: Server) -> None:
    from playwright.sync_api import expect

    queue = "ui-dlq"
    dead = ui_server.dead_job(queue, "card declined")

    page.goto(f"/ui/dlq?queue={queue}")
    row = page.locator(f"#jobs-table tr[data-job-id='{dead}']")
    expect(row).to_contain_text("card declined")
    screenshot(page, "dlq")
    row.locator("button", has_text="Redrive").click()  # the confirmation is accepted
    expect(page.locator(".notice.ok")).to_contain_text(f"Job {dead} is back in pending")
    assert ui_server.state(dead) == "pending"

    # All matching a filter, after a confirmation; another queue's dead job stays dead.
    bulk = "ui-dlq-bulk"
    more = [ui_server.dead_job(bulk, f"timeout {i}") for i in range(2)]
    elsewhere = ui_server.dead_job("ui-dlq-other", "not mine")
    page.goto(f"/ui/dlq?queue={bulk}")
    expect(page.locator("#jobs-table tbody tr")).to_have_count(2)
    page.click("#redrive-all")
    expect(page.locator(".notice.ok")).to_contain_text("2 dead jobs are back in pending")
    assert [ui_server.state(j) for j in more] == ["pending", "pending"]
    assert ui_server.state(elsewhere) == "dlq"

    # From the job page: a dead job offers Redrive.
    last = ui_server.dead_job("ui-dlq-single", "again")
    page.goto(f"/ui/jobs/{last}")
    page.click("#action-retry")
    expect(page.locator("#job-state")).to_have_text("pending")
    assert ui_server.state(last) == "pending"


def test_cancel_from_the_job_page(page: Any, ui_server: Server) -> None:
    from playwright.sync_api import expect

    job = ui_server.enqueue("noop", queue="ui-cancel")
    page.goto(f"/ui/jobs/{job['id']}")
    page.click("#action-cancel")
    expect(page.locator("#job-state")).to_have_text("cancelled")
    assert ui_server.state(job["id"]) == "cancelled"
    expect(page.locator("#action-retry")).to_have_text("Retry")


def test_workers_page_lists_recent_pollers(page: Any, ui_server: Server) -> None:
    from playwright.sync_api import expect

    queue = "ui-workers"
    for _ in range(2):
        ui_server.enqueue("crunch", queue=queue)
    ui_server.lease("cruncher-1", queue, 2)

    page.goto("/ui/workers")
    row = page.locator("#workers-table tr[data-worker-id='cruncher-1']")
    expect(row).to_contain_text(queue)
    expect(row.locator("[data-testid='leases']")).to_have_text("2")
    expect(row).to_contain_text(re.compile(r"\d+ s ago"))
    screenshot(page, "workers")


def test_a_busy_overview(page: Any, ui_server: Server) -> None:
    """Last in this file: every queue the other tests made, plus a few busier ones."""
    from playwright.sync_api import expect

    for queue, count, failures in (("emails", 24, 2), ("thumbnails", 16, 5), ("billing", 6, 1)):
        batch = [{"type": f"{queue}.send", "queue": queue, "max_attempts": 1}] * (count + 4)
        assert ui_server.http.post("/v1/jobs/batch", json={"jobs": batch}).status_code == 201
        leases = ui_server.lease(f"{queue}-worker-1", queue, count)
        for i, lease in enumerate(leases[: count - 2]):
            if i < failures:
                ui_server.fail(lease, "upstream timed out", retryable=False)
            else:
                ui_server.complete(lease, {"ok": True})

    page.goto("/ui/")
    expect(page.locator("#queues tr[data-queue='emails'] td[data-state='succeeded']")).to_have_text(
        "20"
    )
    page.wait_for_function(
        "() => window.Chart && Chart.getChart(document.getElementById('throughput-chart'))"
    )
    screenshot(page, "overview-busy")


# ---- another site's page, open in the same browser ------------------------------------------
ATTACKER_PAGE = """<!doctype html><html><body>
<form id="cancel" method="POST" action="{server}/v1/jobs/{pending}/cancel"></form>
<form id="enqueue" method="POST" action="{server}/v1/jobs" enctype="text/plain">
  <input name='{{"type":"evil-form","x":"' value='"}}'>
</form>
</body></html>"""

ATTACKER_FETCHES = """async (server) => {
  const plain = {method: "POST", mode: "no-cors", headers: {"content-type": "text/plain"}};
  const sent = [
    fetch(server + "/v1/jobs", {...plain, body: JSON.stringify({type: "evil-fetch"})}),
    fetch(server + "/v1/dlq/redrive", {...plain, body: "{}"}),
    fetch(server + "/v1/jobs/" + window.pendingId + "/cancel", {method: "POST", mode: "no-cors"}),
    // A Blob without a type: no Content-Type at all, but the browser still sends Origin.
    fetch(server + "/v1/jobs", {
      method: "POST", mode: "no-cors", body: new Blob(['{"type": "evil-blob"}']),
    }),
  ];
  return (await Promise.allSettled(sent)).length;
}"""


@contextlib.contextmanager
def attacker_site(html: str) -> Iterator[str]:
    """A page served from another origin (another port on 127.0.0.1)."""
    body = html.encode()

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("content-type", "text/html")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_a_page_on_another_origin_cannot_change_anything(browser: Any, ui_server: Server) -> None:
    queue = "ui-cross-site"
    dead = ui_server.dead_job(queue, "stays dead")
    pending = ui_server.enqueue("victim", queue=queue)["id"]
    before = ui_server.http.get("/v1/jobs", params={"limit": 500}).json()["jobs"]
    page_html = ATTACKER_PAGE.format(server=ui_server.base_url, pending=pending)
    context = browser.new_context()
    try:
        with attacker_site(page_html) as attacker_url:
            page = context.new_page()
            page.goto(attacker_url)
            page.evaluate(f"window.pendingId = {pending!r}")
            assert page.evaluate(ATTACKER_FETCHES, ui_server.base_url) == 4
            for form in ("cancel", "enqueue"):
                page.goto(attacker_url)
                with page.expect_navigation():
                    page.evaluate(f"document.getElementById({form!r}).submit()")
                assert "forbidden" in page.content()
    finally:
        context.close()
    assert ui_server.state(pending) == "pending"
    assert ui_server.state(dead) == "dlq"
    after = ui_server.http.get("/v1/jobs", params={"limit": 500}).json()["jobs"]
    assert [(j["id"], j["state"]) for j in after] == [(j["id"], j["state"]) for j in before]


def test_the_attempts_of_a_redriven_job_show_where_each_budget_began(
    page: Any, ui_server: Server
) -> None:
    from playwright.sync_api import expect

    queue = "ui-budgets"
    job_id = ui_server.dead_job(queue, "first budget spent")
    assert ui_server.http.post(f"/v1/jobs/{job_id}/retry").status_code == 200
    (lease,) = ui_server.lease(f"worker-{queue}", queue)
    assert ui_server.fail(lease, "second budget spent", retryable=False) == "dlq"

    page.goto(f"/ui/jobs/{job_id}")
    expect(page.locator("#attempts > li.attempt")).to_have_count(2)
    marker = page.locator("#attempts > li.budget-start")
    expect(marker).to_have_count(1)
    expect(marker).to_have_attribute("data-budget", "2")
    expect(marker).to_contain_text("redriven")
    # Newest first: the second budget's attempt, the marker, then the first budget's.
    items = page.locator("#attempts > li")
    expect(items.nth(0)).to_contain_text("second budget spent")
    expect(items.nth(1)).to_have_class(re.compile("budget-start"))
    expect(items.nth(2)).to_contain_text("first budget spent")
