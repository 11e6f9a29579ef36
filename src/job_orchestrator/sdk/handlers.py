"""Registering handlers by job type.

Either decorate functions with ``@handler("type")`` (or define them as tasks, ``@task("type",
...)``, see ``tasks``) and give them to the worker as a list, or collect them in a ``Handlers``
registry (``@handlers.register("type")``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, TypeVar, cast

from job_orchestrator.sdk.tasks import Task

HandlerFunc = Callable[[Any], Any]  # def f(payload) -> result, or async def f(payload)
F = TypeVar("F", bound=HandlerFunc)

_TYPE_ATTRIBUTE = "__job_type__"


def handler(job_type: str) -> Callable[[F], F]:
    """Mark a function as the handler of ``job_type`` (give it to ``Worker(handlers=[...])``)."""

    def mark(function: F) -> F:
        setattr(function, _TYPE_ATTRIBUTE, job_type)
        return function

    return mark


def is_async(function: HandlerFunc) -> bool:
    return inspect.iscoroutinefunction(function) or inspect.iscoroutinefunction(
        getattr(function, "__call__", None)  # noqa: B004 - a callable object's async __call__
    )


class Handlers(Mapping[str, HandlerFunc]):
    """Job type -> handler."""

    def __init__(self, handlers: Mapping[str, HandlerFunc] | None = None) -> None:
        self._by_type: dict[str, HandlerFunc] = {}
        self._task_queues: dict[str, str] = {}  # job type -> queue, for tasks (see Worker)
        for job_type, function in (handlers or {}).items():
            self.add(job_type, function)

    def add(self, job_type: str, function: HandlerFunc) -> None:
        task_queue = None
        if isinstance(function, Task):
            task_queue = function.queue
            function = function.function  # the plain function: is_async must see an async def
        if not job_type:
            raise ValueError("a job type must not be empty")
        if not callable(function):
            raise TypeError(f"the handler of {job_type!r} is not callable")
        if job_type in self._by_type:
            raise ValueError(f"job type {job_type!r} already has a handler")
        self._by_type[job_type] = function
        if task_queue is not None:
            self._task_queues[job_type] = task_queue

    def queue_of(self, job_type: str) -> str:
        """The queue a task's jobs go to by default ("default" for a plain handler)."""
        return self._task_queues.get(job_type, "default")

    def register(self, job_type: str) -> Callable[[F], F]:
        """Decorator: ``@handlers.register("send_email")``."""

        def decorate(function: F) -> F:
            self.add(job_type, function)
            return function

        return decorate

    def __getitem__(self, job_type: str) -> HandlerFunc:
        return self._by_type[job_type]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_type)

    def __len__(self) -> int:
        return len(self._by_type)

    def __repr__(self) -> str:
        return f"Handlers({sorted(self._by_type)})"


HandlersLike = Handlers | Mapping[str, HandlerFunc] | Iterable[HandlerFunc] | HandlerFunc


def as_handlers(handlers: HandlersLike) -> Handlers:
    """A registry from a registry, a mapping, decorated functions, or one decorated function."""
    if isinstance(handlers, Handlers):
        return handlers
    if isinstance(handlers, Mapping):
        return Handlers(cast(Mapping[str, HandlerFunc], handlers))
    functions = [handlers] if callable(handlers) else list(handlers)
    registry = Handlers()
    for function in functions:
        if isinstance(function, Task):
            registry.add(function.type, function)
            continue
        job_type = getattr(function, _TYPE_ATTRIBUTE, None)
        if not isinstance(job_type, str):
            name = getattr(function, "__qualname__", repr(function))
            raise TypeError(
                f"{name} has no job type: decorate it with @handler('type') or @task('type')"
            )
        registry.add(job_type, function)
    return registry
