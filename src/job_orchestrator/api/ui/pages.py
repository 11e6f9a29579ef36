"""The dashboard's pages: server-rendered Jinja2, htmx for refresh and filters, no build step.

Routes stay thin like the API's: parse the query, call one service function, render. Every
list is keyset-paginated (``before`` is the last id shown); nothing counts the whole table.
Errors become HTML pages (not the API's JSON envelope) through ``HtmlRoute``.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Coroutine
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

import orjson
from fastapi import APIRouter, Request
from fastapi.routing import APIRoute
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from job_orchestrator.api import deps
from job_orchestrator.api.auth import Scope
from job_orchestrator.api.errors import Forbidden, Unauthorized, status_of
from job_orchestrator.api.ui.access import (
    COOKIE,
    COOKIE_PATH,
    CrossSiteRequest,
    LoginRequired,
    UiAdmin,
    UiReader,
    authenticator,
    check_same_origin,
)
from job_orchestrator.domain.budgets import budget_numbers
from job_orchestrator.domain.errors import DomainError, JobNotFound
from job_orchestrator.domain.models import Job
from job_orchestrator.domain.states import Event, JobState, next_state
from job_orchestrator.services.dashboard import STATE_ORDER, JobSearch, ago, since
from job_orchestrator.services.jobs import JobService

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
PAGE_SIZE = 50
MAX_NAME = 255
WORKER_WINDOWS = {"5m": 300.0, "1h": 3600.0, "24h": 86400.0}
STATIC_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
NOTICES = {
    "cancelled": "The job was cancelled.",
    "retried": "The job is back in pending with a fresh attempt budget.",
    "redriven": "The dead job is back in pending with a fresh attempt budget.",
}


def _load_static() -> dict[str, tuple[bytes, str, str]]:
    """name -> (content, media type, short hash) for every shipped asset."""
    assets = {}
    for path in sorted(STATIC_DIR.iterdir()):
        media_type = STATIC_TYPES.get(path.suffix)
        if media_type is None:
            continue
        content = path.read_bytes()
        assets[path.name] = (content, media_type, hashlib.sha256(content).hexdigest()[:12])
    return assets


STATIC = _load_static()


def _json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()


def _time(value: datetime | None) -> str:
    return "\u2013" if value is None else value.strftime("%Y-%m-%d %H:%M:%S UTC")


def _static_url(name: str) -> str:
    return f"/ui/static/{name}?v={STATIC[name][2]}"


templates = Jinja2Templates(directory=str(HERE / "templates"))
templates.env.filters["json"] = _json
templates.env.filters["time"] = _time
templates.env.filters["ago"] = ago
templates.env.globals["static_url"] = _static_url
templates.env.globals["since"] = since
templates.env.globals["STATES"] = [s.value for s in STATE_ORDER]


def render(
    request: Request, name: str, context: dict[str, Any], *, status_code: int = 200
) -> Response:
    principal = getattr(request.state, "principal", None)
    context = {
        "can_act": principal is not None and principal.allows(Scope.ADMIN),
        "auth_on": authenticator(request).enabled is not False,
        "path": request.url.path,
        **context,
    }
    response = templates.TemplateResponse(request, name, context, status_code=status_code)
    response.headers["cache-control"] = "no-store"
    return response


class HtmlRoute(APIRoute):
    """Errors on dashboard routes are HTML pages; a missing key sends the browser to log in."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def html_errors(request: Request) -> Response:
            try:
                return await handler(request)
            except LoginRequired:
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                query = urlencode({"next": target if request.method == "GET" else "/ui/"})
                return RedirectResponse(f"/ui/login?{query}", status_code=303)
            except CrossSiteRequest as error:
                return _error_page(request, 403, "Refused", str(error))
            except Forbidden as error:
                return _error_page(request, 403, "Not allowed", error.message)
            except DomainError as error:
                status = status_of(error)
                if status >= 500:
                    log.warning("dashboard: %s", error.message)
                title = {404: "Not found", 409: "Not possible now", 503: "Database unavailable"}
                return _error_page(request, status, title.get(status, "Error"), error.message)

        return html_errors


def _error_page(request: Request, status: int, title: str, message: str) -> Response:
    return render(request, "error.html", {"title": title, "message": message}, status_code=status)


router = APIRouter(prefix="/ui", route_class=HtmlRoute, include_in_schema=False)


def _text(request: Request, name: str) -> str | None:
    value = request.query_params.get(name, "").strip()
    return value[:MAX_NAME] if value else None


def _state(raw: str | None) -> JobState | None:
    if raw is None:
        return None
    try:
        return JobState(raw)
    except ValueError:
        return None


async def _form(request: Request) -> dict[str, str]:
    # The API reads every POST body as JSON (api/edge.py), so the form is parsed here.
    body = (await request.body()).decode("utf-8", errors="replace")
    return {k: v[0].strip() for k, v in parse_qs(body).items() if v and v[0].strip()}


def _page_links(request: Request, jobs: list[Any]) -> dict[str, str | None]:
    params = {k: v for k, v in request.query_params.items() if k != "before" and v}
    following = None
    if len(jobs) == PAGE_SIZE:
        following = f"{request.url.path}?{urlencode({**params, 'before': jobs[-1].id})}"
    first = f"{request.url.path}?{urlencode(params)}" if "before" in request.query_params else None
    return {"next": following, "first": first}


# ---- static files and login ---------------------------------------------------------------
@router.get("/static/{name}")
async def static(name: str, request: Request) -> Response:
    asset = STATIC.get(name)
    if asset is None:
        raise JobNotFound(f"no such file: {name[:64]}")
    content, media_type, digest = asset
    etag = f'"{digest}"'
    headers = {"etag": etag, "cache-control": "public, max-age=86400"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(content, media_type=media_type, headers=headers)


@router.get("/login")
async def login_form(request: Request) -> Response:
    if authenticator(request).enabled is False:
        return RedirectResponse("/ui/", status_code=303)
    return render(request, "login.html", {"next": _safe_next(request.query_params.get("next"))})


@router.post("/login")
async def login(request: Request) -> Response:
    check_same_origin(request)
    form = await _form(request)
    target = _safe_next(form.get("next"))
    key = form.get("key", "")
    try:
        principal = await authenticator(request).authenticate(f"Bearer {key}")
    except Unauthorized:
        context = {"next": target, "error": "That key is not valid."}
        return render(request, "login.html", context, status_code=401)
    if not principal.allows(Scope.READER):
        context = {"next": target, "error": "That key has no reader or admin scope."}
        return render(request, "login.html", context, status_code=403)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        COOKIE,
        key,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        max_age=12 * 3600,
    )
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    check_same_origin(request)
    response = RedirectResponse("/ui/login", status_code=303)
    response.delete_cookie(COOKIE, path=COOKIE_PATH)
    return response


def _safe_next(raw: str | None) -> str:
    """Only a path of this dashboard: never an absolute or protocol-relative URL."""
    if not raw or not raw.startswith("/ui") or raw.startswith("//") or "\\" in raw:
        return "/ui/"
    return raw


# ---- pages ----------------------------------------------------------------------------------
@router.get("")
async def root() -> Response:
    return RedirectResponse("/ui/", status_code=307)


@router.get("/")
async def overview(request: Request, _who: UiReader) -> Response:
    data = await deps.dashboard(request).overview()
    context = {
        "overview": data,
        "chart": data.throughput.as_json(),
        "title": "Overview",
    }
    if request.headers.get("hx-request"):
        return render(request, "_overview_body.html", context)
    return render(request, "overview.html", context)


@router.get("/jobs")
async def jobs(request: Request, _who: UiReader) -> Response:
    service = deps.dashboard(request)
    raw_id = _text(request, "id")
    search = JobSearch(
        queue=_text(request, "queue"),
        state=_state(_text(request, "state")),
        type=_text(request, "type"),
        id_prefix=raw_id,
        before_id=deps.parse_cursor(_text(request, "before")),
        limit=PAGE_SIZE,
    )
    problem = None
    if raw_id is not None and not raw_id.isdigit():
        problem = "Job ids are numbers: search by an id or its first digits."
        rows = []
    else:
        rows = await service.jobs_page(search)
    context = {
        "title": "Jobs",
        "jobs": rows,
        "search": search,
        "queues": await service.queue_names(),
        "links": _page_links(request, rows),
        "problem": problem,
        "now": await service.db_now(),
    }
    return render(request, "jobs.html", context)


@router.get("/jobs/{job_id}")
async def job_page(job_id: str, request: Request, _who: UiReader) -> Response:
    service = deps.service(request)
    job = await service.get(deps.parse_job_id(job_id))
    attempts = await service.attempts(job.id)
    context = {
        "title": f"Job {job.id}",
        "job": job,
        "attempts": list(reversed(attempts)),
        # Newest first, like the attempts: where a redrive began a fresh budget.
        "budgets": list(reversed(budget_numbers([a.attempt for a in attempts]))),
        "actions": _actions(job),
        "notice": NOTICES.get(request.query_params.get("done", "")),
        "now": await service.db_now(),
        "unserved": await _unserved(service, job),
    }
    return render(request, "job.html", context)


async def _unserved(service: JobService, job: Job) -> bool:
    """A pending job whose type no worker asked for lately: it waits for nothing that runs."""
    if job.state is not JobState.PENDING:
        return False
    return not await service.workers_serving(job.queue, job.type)


def _actions(job: Job) -> list[dict[str, str]]:
    actions = []
    if next_state(job.state, Event.CANCEL) is not None:
        actions.append(
            {
                "name": "cancel",
                "label": "Cancel",
                "confirm": f"Cancel job {job.id}?",
                "style": "danger",
            }
        )
    if next_state(job.state, Event.RETRY) is not None:
        label = "Redrive" if job.state is JobState.DLQ else "Retry"
        actions.append(
            {
                "name": "retry",
                "label": label,
                "confirm": f"{label} job {job.id}: back to pending with a fresh attempt budget?",
                "style": "primary",
            }
        )
    return actions


@router.post("/jobs/{job_id}/cancel")
async def cancel(job_id: str, request: Request, _who: UiAdmin) -> Response:
    job = await deps.service(request).cancel(deps.parse_job_id(job_id))
    deps.dashboard(request).forget_overview()
    return RedirectResponse(f"/ui/jobs/{job.id}?done=cancelled", status_code=303)


@router.post("/jobs/{job_id}/retry")
async def retry(job_id: str, request: Request, _who: UiAdmin) -> Response:
    service = deps.service(request)
    number = deps.parse_job_id(job_id)
    was_dead = (await service.get(number)).state is JobState.DLQ
    job = await service.retry(number)
    deps.dashboard(request).forget_overview()
    form = await _form(request)
    if form.get("back") == "dlq":
        return RedirectResponse(
            f"/ui/dlq?{urlencode({'done': 'redriven', 'job': job.id})}", status_code=303
        )
    return RedirectResponse(
        f"/ui/jobs/{job.id}?done={'redriven' if was_dead else 'retried'}", status_code=303
    )


@router.get("/dlq")
async def dlq(request: Request, _who: UiReader) -> Response:
    service = deps.dashboard(request)
    search = JobSearch(
        queue=_text(request, "queue"),
        state=JobState.DLQ,
        type=_text(request, "type"),
        before_id=deps.parse_cursor(_text(request, "before")),
        limit=PAGE_SIZE,
    )
    rows = await service.jobs_page(search)
    overview = await service.overview()
    dead = {q.queue: q.dlq for q in overview.queues}
    done = request.query_params.get("done")
    notice = None
    if done == "redriven":
        notice = f"Job {request.query_params.get('job', '')[:20]} is back in pending."
    elif done == "all":
        count = request.query_params.get("count", "0")
        notice = f"{int(count) if count.isdigit() else 0} dead jobs are back in pending."
    context = {
        "title": "Dead-letter queue",
        "jobs": rows,
        "search": search,
        "queues": [q for q, n in dead.items() if n] or list(dead),
        "dead_total": sum(dead.values()),
        "dead_in_queue": dead.get(search.queue, 0) if search.queue else sum(dead.values()),
        "links": _page_links(request, rows),
        "notice": notice,
        "now": await service.db_now(),
    }
    return render(request, "dlq.html", context)


@router.post("/dlq/redrive")
async def redrive_all(request: Request, _who: UiAdmin) -> Response:
    form = await _form(request)
    queue = form.get("queue", "")[:MAX_NAME] or None
    type_ = form.get("type", "")[:MAX_NAME] or None
    count = await deps.dashboard(request).redrive_all(queue=queue, type_=type_)
    params = {"done": "all", "count": count, **({"queue": queue} if queue else {})}
    if type_:
        params["type"] = type_
    return RedirectResponse(f"/ui/dlq?{urlencode(params)}", status_code=303)


@router.get("/workers")
async def workers(request: Request, _who: UiReader) -> Response:
    window = request.query_params.get("within", "1h")
    if window not in WORKER_WINDOWS:
        window = "1h"
    service = deps.dashboard(request)
    rows = await service.workers(seen_within_seconds=WORKER_WINDOWS[window])
    context = {
        "title": "Workers",
        "workers": rows,
        "window": window,
        "windows": list(WORKER_WINDOWS),
        "now": await service.db_now(),
    }
    return render(request, "workers.html", context)


# ---- schedules ------------------------------------------------------------------------------
SCHEDULE_NOTICES = {
    "paused": "The schedule is paused: it fires nothing until resumed.",
    "resumed": "The schedule is active again, from its next fire time.",
}


@router.get("/schedules")
async def schedules(request: Request, _who: UiReader) -> Response:
    after = _text(request, "after")
    rows = await deps.schedules(request).list(limit=PAGE_SIZE, after=after)
    following = None
    if len(rows) == PAGE_SIZE:
        following = f"/ui/schedules?{urlencode({'after': rows[-1].name})}"
    done, name = request.query_params.get("done", ""), _text(request, "name") or ""
    notice = SCHEDULE_NOTICES.get(done)
    if done == "triggered":
        notice = f"Schedule {name} enqueued job {_text(request, 'job') or ''} now."
    context = {
        "title": "Schedules",
        "schedules": rows,
        "links": {"next": following, "first": "/ui/schedules" if after else None},
        "notice": f"{name}: {notice}" if notice and done != "triggered" else notice,
        "now": await deps.dashboard(request).db_now(),
    }
    return render(request, "schedules.html", context)


@router.post("/schedules/{name}/pause")
async def pause_schedule(name: str, request: Request, _who: UiAdmin) -> Response:
    await deps.schedules(request).set_paused(name[:MAX_NAME], True)
    return _back_to_schedules("paused", name)


@router.post("/schedules/{name}/resume")
async def resume_schedule(name: str, request: Request, _who: UiAdmin) -> Response:
    await deps.schedules(request).set_paused(name[:MAX_NAME], False)
    return _back_to_schedules("resumed", name)


@router.post("/schedules/{name}/trigger")
async def trigger_schedule(name: str, request: Request, _who: UiAdmin) -> Response:
    job = await deps.schedules(request).trigger(name[:MAX_NAME])
    deps.dashboard(request).forget_overview()
    return _back_to_schedules("triggered", name, job=str(job.id))


def _back_to_schedules(done: str, name: str, **extra: str) -> Response:
    query = urlencode({"done": done, "name": name, **extra})
    return RedirectResponse(f"/ui/schedules?{query}", status_code=303)


@router.post("/queues/{name}/pause")
async def pause_queue(name: str, request: Request, _who: UiAdmin) -> Response:
    await deps.dashboard(request).set_paused(name[:MAX_NAME], True)
    return RedirectResponse("/ui/", status_code=303)


@router.post("/queues/{name}/resume")
async def resume_queue(name: str, request: Request, _who: UiAdmin) -> Response:
    await deps.dashboard(request).set_paused(name[:MAX_NAME], False)
    return RedirectResponse("/ui/", status_code=303)
