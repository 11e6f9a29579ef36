"""Tasks as objects: one definition that the worker runs and producers enqueue.

    @task("send_email", queue="emails", max_attempts=3)
    def send_email(payload: Email) -> None: ...

    send_email.enqueue(client, {"to": "ada@example.com"})         # Client: a Job
    await send_email.enqueue(aclient, {"to": "ada@example.com"})  # AsyncClient: a Job
    Worker(handlers=[send_email])                                 # serves "emails"

The type string is written once, so a producer cannot misspell it and leave jobs pending
forever; the payload is typed by the handler's annotation, so mypy checks what producers send.
The defaults (queue, priority, max_attempts, retry, lease and timeout) apply to every enqueue
and each can be overridden per call. Plain type strings (``client.enqueue("send_email", ...)``,
``@handler("send_email")``) keep working beside tasks.

Later options (e.g. a flow-control key computed from the payload) are further keyword
arguments of ``task`` and fields of ``TaskOptions``: the call shape stays.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar, Unpack, cast, overload

from job_orchestrator.sdk.models import EnqueueOptions, Job, JobSpec, RetryPolicy

if TYPE_CHECKING:
    from job_orchestrator.sdk.client import AsyncClient, Client

P = TypeVar("P")  # the payload, as the handler annotates it
R = TypeVar("R")  # what the handler returns (an awaitable for an async def)


@dataclass(frozen=True, slots=True)
class TaskOptions:
    """A task's enqueue defaults; ``None`` leaves the server's default."""

    queue: str | None = None
    priority: int | None = None
    max_attempts: int | None = None
    retry: RetryPolicy | None = None
    lease_seconds: float | None = None
    timeout_seconds: float | None = None

    def as_enqueue_options(self) -> EnqueueOptions:
        given = {
            name: getattr(self, name) for name in self.__slots__ if getattr(self, name) is not None
        }
        return cast(EnqueueOptions, given)


class Task(Generic[P, R]):
    """A handler with its job type and enqueue defaults. Calling it calls the handler."""

    def __init__(self, function: Callable[[P], R], type: str, options: TaskOptions) -> None:
        if not type:
            raise ValueError("a task's job type must not be empty")
        if not callable(function):
            raise TypeError(f"the handler of task {type!r} is not callable")
        self.function = function
        self.type = type
        self.options = options
        self.__name__ = getattr(function, "__name__", type)
        self.__qualname__ = getattr(function, "__qualname__", type)
        self.__doc__ = getattr(function, "__doc__", None)

    def __call__(self, payload: P) -> R:
        return self.function(payload)

    def __repr__(self) -> str:
        return f"Task({self.type!r}, {self.__qualname__})"

    @property
    def queue(self) -> str:
        return self.options.queue or "default"

    def enqueue_options(self, overrides: Mapping[str, Any]) -> EnqueueOptions:
        """The task's defaults with ``overrides`` on top."""
        return cast(EnqueueOptions, {**self.options.as_enqueue_options(), **overrides})

    def spec(self, payload: P, **overrides: Unpack[EnqueueOptions]) -> JobSpec:
        """One job of this task for ``enqueue_many``; ``overrides`` are enqueue's options."""
        return JobSpec(self.type, payload, **self.enqueue_options(overrides))

    @overload
    def enqueue(self, client: Client, payload: P, **overrides: Unpack[EnqueueOptions]) -> Job: ...

    @overload
    def enqueue(
        self, client: AsyncClient, payload: P, **overrides: Unpack[EnqueueOptions]
    ) -> Coroutine[Any, Any, Job]: ...

    def enqueue(
        self, client: Client | AsyncClient, payload: P, **overrides: Unpack[EnqueueOptions]
    ) -> Job | Coroutine[Any, Any, Job]:
        """Enqueue one job of this task: a ``Job`` from a ``Client``, an awaitable one from an
        ``AsyncClient``. ``overrides`` are ``Client.enqueue``'s options (queue, priority,
        run_at or delay_seconds, max_attempts, retry, lease_seconds, timeout_seconds,
        idempotency_key) and replace the task's defaults for this job."""
        return client.enqueue(self.type, payload, **self.enqueue_options(overrides))


def task(
    type: str,
    *,
    queue: str | None = None,
    priority: int | None = None,
    max_attempts: int | None = None,
    retry: RetryPolicy | None = None,
    lease_seconds: float | None = None,
    timeout_seconds: float | None = None,
) -> Callable[[Callable[[P], R]], Task[P, R]]:
    """Make a function the handler of job type ``type``, with these enqueue defaults."""
    options = TaskOptions(
        queue=queue,
        priority=priority,
        max_attempts=max_attempts,
        retry=retry,
        lease_seconds=lease_seconds,
        timeout_seconds=timeout_seconds,
    )

    def define(function: Callable[[P], R]) -> Task[P, R]:
        return Task(function, type, options)

    return define
