"""Who may see the dashboard and act in it: the API's keys and scopes, carried by a cookie.

A browser cannot send ``Authorization: Bearer`` by itself, so the login form checks a key with
the API's ``Authenticator`` and keeps it in an HttpOnly, SameSite=Strict cookie scoped to
``/ui``. Requests that do carry an Authorization header (a proxy, a script) use it instead.
Pages need the ``reader`` scope, actions the ``admin`` scope; with auth off (loopback only)
every caller is admin, as for the API.

Actions are POSTs; besides SameSite=Strict, a POST whose Origin (or Sec-Fetch-Site) says it
came from another site is refused, so another page cannot make a logged-in browser act.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request

from job_orchestrator.api.auth import Authenticator, Principal, Scope
from job_orchestrator.api.csrf import cross_site_reason
from job_orchestrator.api.errors import Forbidden, Unauthorized

COOKIE = "jo_ui_key"
COOKIE_PATH = "/ui"


class LoginRequired(Exception):
    """No valid key: the page sends the browser to the login form."""


class CrossSiteRequest(Exception):
    """A POST that another site's page made the browser send."""


def authenticator(request: Request) -> Authenticator:
    value: Authenticator = request.app.state.authenticator
    return value


def credentials(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header:
        return header
    key = request.cookies.get(COOKIE)
    return f"Bearer {key}" if key else None


async def principal_of(request: Request) -> Principal:
    try:
        return await authenticator(request).authenticate(credentials(request))
    except Unauthorized as error:
        raise LoginRequired(error.message) from error


def check_same_origin(request: Request) -> None:
    """Refuse a POST that a page of another site made (the API's rule, api/csrf.py). No origin
    is allowed here, even one ORCHESTRATOR_CORS_ORIGINS names: only the dashboard's own forms
    act on it."""
    reason = cross_site_reason(
        request.headers.get("origin"),
        request.headers.get("sec-fetch-site"),
        request.headers.get("host", ""),
    )
    if reason is not None:
        raise CrossSiteRequest(f"{reason}: it cannot act on this dashboard")


def ui_require(scope: Scope) -> Callable[[Request], Awaitable[Principal]]:
    """A page dependency: a valid key carrying ``scope`` (admin has every scope)."""

    async def dependency(request: Request) -> Principal:
        if request.method == "POST":
            check_same_origin(request)
        principal = await principal_of(request)
        if not principal.allows(scope):
            raise Forbidden(f"this needs an API key with the {scope.value} scope")
        request.state.principal = principal
        return principal

    return dependency


# Route parameter types, as in api/auth.py: ``_who: UiReader``.
UiReader = Annotated[Principal, Depends(ui_require(Scope.READER))]
UiAdmin = Annotated[Principal, Depends(ui_require(Scope.ADMIN))]
