"""Log lines of one attempt carry its job id and attempt number (never the lease token)."""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any

worker_log = logging.getLogger("job_orchestrator.worker")


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
