"""Which requests another site's page made a browser send: one rule for the API and the dashboard.

With auth off (the loopback default) any page the developer has open could otherwise enqueue,
cancel and redrive on their local server. Browsers say where a request comes from: ``Origin``
on every POST (as ``"null"`` under a ``no-referrer`` policy, this server's own), and, to
trustworthy hosts such as 127.0.0.1, ``Sec-Fetch-Site``. A request is refused when either
names another origin (another port on 127.0.0.1 is another origin, though the "same site"),
unless ``ORCHESTRATOR_CORS_ORIGINS`` allows that origin. Clients that are not browsers (the
SDK, curl, other languages) send neither header and are never refused by this rule.

Bodies must also be JSON: a browser can send ``text/plain``, form and multipart bodies to any
site without asking first (no CORS preflight), but never ``application/json``.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

# Sec-Fetch-Site values a browser sends for requests this server's own pages (or the user,
# typing a URL) made; "same-site" includes other ports of the same host, so it is refused.
TRUSTED_FETCH_SITES = frozenset({"same-origin", "none"})


def parse_allowed_origins(value: str | None) -> frozenset[str]:
    """``ORCHESTRATOR_CORS_ORIGINS`` (comma-separated) as a set, "*" meaning any origin."""
    if not value:
        return frozenset()
    return frozenset(o.strip().rstrip("/") for o in value.split(",") if o.strip())


def cross_site_reason(
    origin: str | None,
    fetch_site: str | None,
    host: str,
    allowed_origins: Iterable[str] = (),
) -> str | None:
    """Why the request counts as another site's, or None when it may proceed."""
    allowed = frozenset(allowed_origins)
    if origin and origin != "null":
        if urlsplit(origin).netloc == host or origin in allowed or "*" in allowed:
            return None
        return (
            f"a page on {origin} cannot call this server (allow it with ORCHESTRATOR_CORS_ORIGINS)"
        )
    if fetch_site:
        if fetch_site in TRUSTED_FETCH_SITES:
            return None
        return f"a page on another site (Sec-Fetch-Site: {fetch_site}) cannot call this server"
    if origin == "null":
        return "a page with an opaque origin cannot call this server"
    return None


def is_json_media_type(content_type: str) -> bool:
    """``application/json``, with or without parameters such as ``charset``."""
    return content_type.split(";", 1)[0].strip().lower() == "application/json"
