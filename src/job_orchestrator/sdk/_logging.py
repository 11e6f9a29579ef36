"""Log lines of one attempt carry its job id and attempt number (never the lease token)."""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any

worker_log = logging.getLogger("job_orchestrator.worker")
_package_log = logging.getLogger("job_orchestrator")
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def show_worker_logs_by_default() -> None:
    """Show the SDK's INFO lines on stderr when the program configured no logging at all.

    Python's fallback shows only warnings, so a worker that starts and runs jobs would print
    nothing and look stuck. Any configuration the program made (a root handler, or a level or
    handler on ``job_orchestrator``) is left alone.
    """
    if logging.getLogger().handlers or _package_log.handlers:
        return
    if _package_log.level != logging.NOTSET:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    _package_log.addHandler(handler)
    _package_log.setLevel(logging.INFO)


class AttemptLog(logging.LoggerAdapter[logging.Logger]):
    def __init__(self, logger: logging.Logger, job_id: str, attempt: int) -> None:
        super().__init__(logger, {"job_id": job_id, "attempt": attempt})
        self._prefix = f"job={job_id} attempt={attempt} "

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        # The ids go in the text (plain formatters show them) and in `extra` (structured ones).
        kwargs["extra"] = {**(self.extra or {}), **kwargs.get("extra", {})}
        return f"{self._prefix}{msg}", kwargs
