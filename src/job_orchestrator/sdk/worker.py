"""The worker: leases jobs over HTTP, runs their handlers, heartbeats, reports the outcome.

    worker = Worker(url="http://127.0.0.1:8000", queues=["default"], handlers=[send_email])
    await worker.run()          # until SIGTERM/SIGINT or worker.shutdown()

A job's lifecycle here: leased in a batch (long poll, up to the free slots plus ``prefetch``)
-> it waits for a slot if it was leased ahead -> its handler runs
(``async def`` on the loop, ``def`` in a thread pool) while heartbeats keep the lease -> the
return value is completed (batched) or the exception failed. Stops (cancel, lease lost,
deadline, shutdown) are in ``_attempt.StopReason``.

Who runs now and who waits (prefetch, hand-back) is ``_slots.Slots``; telling the server how
an attempt ended is ``_reporting.Reporter``.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import os
import signal
import socket
import threading
import uuid
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import Any, Self

from job_orchestrator.sdk import _api
from job_orchestrator.sdk._attempt import (
    Failure,
    Outcome,
    Phase,
    RunningAttempt,
    Snoozed,
    Stopped,
    StopReason,
    Success,
)
from job_orchestrator.sdk._completions import CompletionBatcher
from job_orchestrator.sdk._delivery import run_call
from job_orchestrator.sdk._heartbeats import Heartbeats
from job_orchestrator.sdk._http import AsyncTransport
from job_orchestrator.sdk._logging import AttemptLog, show_worker_logs_by_default, worker_log
from job_orchestrator.sdk._reporting import Reporter, error_info
from job_orchestrator.sdk._slots import Slots
from job_orchestrator.sdk.context import (
    JobContext,
    JobInfo,
    Snooze,
    run_async_with_context,
    run_with_context,
)
from job_orchestrator.sdk.errors import (
    NonRetryableError,
    OrchestratorError,
    is_transient,
)
from job_orchestrator.sdk.handlers import Handlers, HandlersLike, as_handlers, is_async
from job_orchestrator.sdk.models import Lease
from job_orchestrator.sdk.retry import Backoff

INTERRUPT_WAIT = 5.0  # after interrupting, how long shutdown waits for handlers to unwind


def serves(queues: str | Sequence[str] | None, handlers: Handlers) -> list[str]:
    """The queues given, or else those of the tasks given ("default" for a task without one
    and for plain handlers), so a task's jobs are served without naming its queue twice."""
    if queues is not None:
        return [queues] if isinstance(queues, str) else list(queues)
    return list(dict.fromkeys(handlers.queue_of(job_type) for job_type in handlers))


def default_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class Worker:
    """Runs handlers for the jobs of ``queues``; see the module docstring.

    ``non_retryable``: exception types that fail a job with ``retryable: false`` (besides
    ``NonRetryableError``). A handler raising ``RetryAfter`` (or any exception with a
    ``retry_after_seconds``) is retried after that delay instead of its backoff.

    Logging: a start line, and one line per finished job (INFO for a success, WARNING for a
    failure or a timeout, its traceback only with ``log_tracebacks``), on the
    ``job_orchestrator.worker`` logger. If the program configured no logging at all, the
    worker shows them on stderr itself, so a worker is never silent by default.

    ``grace_seconds``: how long a graceful stop lets running handlers finish before failing
    them as interrupted (retried at once). ``poll_seconds``: the long poll's wait when nothing
    is ready.

    ``prefetch``: how many jobs may be leased ahead of free slots, so the next batch is on hand
    when a slot frees (fewer, larger lease calls: for many short jobs it multiplies throughput).
    A prefetched job's lease and its ``timeout_seconds`` run while it waits for a slot, and
    heartbeats keep it; at shutdown the jobs that never started are released (pending again at
    once, the attempt given back). Leave it 0 for long jobs: a job waiting behind a long one is
    a job another worker could be running.
    """

    def __init__(
        self,
        *,
        handlers: HandlersLike,
        url: str | None = None,
        queues: str | Sequence[str] | None = None,
        concurrency: int = 10,
        prefetch: int = 0,
        worker_id: str | None = None,
        api_key: str | None = None,
        poll_seconds: float = 10.0,
        heartbeat_fraction: float = 1 / 3,
        grace_seconds: float = 30.0,
        non_retryable: Iterable[type[BaseException]] = (),
        completion_batch_size: int = 100,
        completion_flush_seconds: float = 0.002,
        handle_signals: bool = True,
        thread_pool_size: int | None = None,
        log_tracebacks: bool = False,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if prefetch < 0:
            raise ValueError("prefetch must be 0 or more")
        if not 0 < heartbeat_fraction < 1:
            raise ValueError("heartbeat_fraction must be between 0 and 1")
        self.handlers = as_handlers(handlers)
        if not self.handlers:
            raise ValueError("a worker needs at least one handler")
        self.queues = serves(queues, self.handlers)
        self.concurrency = concurrency
        self.prefetch = prefetch
        self.worker_id = worker_id or default_worker_id()
        self.poll_seconds = min(max(poll_seconds, 0.0), _api.MAX_WAIT_SECONDS)
        self.heartbeat_fraction = heartbeat_fraction
        self.grace_seconds = grace_seconds
        self.non_retryable: tuple[type[BaseException], ...] = (NonRetryableError, *non_retryable)
        self.handle_signals = handle_signals
        self._transport = AsyncTransport(url, api_key=api_key, connections=concurrency + 10)
        self.url = self._transport.url
        self._pool = ThreadPoolExecutor(
            max_workers=thread_pool_size or concurrency, thread_name_prefix="job-handler"
        )
        self._aborted = False  # a forced stop: give up retries, do not wait for handlers
        self._completions = CompletionBatcher(
            self._transport,
            log=worker_log,
            aborted=lambda: self._aborted,
            max_batch=completion_batch_size,
            window=completion_flush_seconds,
        )
        self._reporter = Reporter(
            self._transport,
            self._completions,
            worker_id=self.worker_id,
            aborted=lambda: self._aborted,
            log_tracebacks=log_tracebacks,
        )
        self._heartbeats = Heartbeats(self._transport, log=worker_log)
        self._stopping = asyncio.Event()
        self._slots = Slots(
            concurrency=concurrency,
            prefetch=prefetch,
            heartbeats=self._heartbeats,
            transport=self._transport,
            stopping=self._stopping,
            aborted=lambda: self._aborted,
            run=self._run_attempt,
        )
        self._interrupt_now = asyncio.Event()
        self._stopped = asyncio.Event()
        self._started = False
        self._fatal: BaseException | None = None
        self._lease_task: asyncio.Task[None] | None = None
        self._heartbeat_task: asyncio.Task[None] | None = None
        self._shutdown_task: asyncio.Task[None] | None = None
        self._run_task: asyncio.Task[None] | None = None
        self._signals: list[signal.Signals] = []

    # ---- lifecycle ----------------------------------------------------------------------------
    async def run(self) -> None:
        """Work until ``shutdown()`` (or SIGTERM/SIGINT when ``handle_signals``) completes.

        Raises the error that stopped the worker, if one did (e.g. a rejected API key).
        """
        if self._started:
            raise RuntimeError("this worker is already running (a Worker runs once)")
        self._started = True
        show_worker_logs_by_default()
        self._install_signal_handlers()
        worker_log.info(
            "worker %s started: %s, queues %s, types %s, concurrency %d",
            self.worker_id,
            self.url,
            ",".join(self.queues),
            ",".join(self.handlers),
            self.concurrency,
        )
        try:
            self._heartbeat_task = asyncio.create_task(self._heartbeats.run())
            self._lease_task = asyncio.create_task(self._lease_loop())
            await self._stopped.wait()
        finally:
            self._remove_signal_handlers()
            if not self._stopped.is_set():  # run() itself was cancelled: still stop cleanly
                await self.shutdown()
        if self._fatal is not None:
            raise self._fatal

    async def shutdown(self, *, grace_seconds: float | None = None) -> None:
        """Stop leasing, let running handlers finish (up to the grace period), fail the rest as
        interrupted so they are retried at once. Safe to call any number of times."""
        if self._shutdown_task is None:
            grace = self.grace_seconds if grace_seconds is None else grace_seconds
            self._shutdown_task = asyncio.ensure_future(self._shutdown(grace))
        elif grace_seconds == 0:
            self._interrupt_now.set()
        await asyncio.shield(self._shutdown_task)

    def abort(self) -> None:
        """Stop now: interrupt running handlers, and give up retrying lost calls."""
        self._aborted = True
        self._interrupt_now.set()
        if self._shutdown_task is None:
            self._shutdown_task = asyncio.ensure_future(self._shutdown(0.0))

    async def __aenter__(self) -> Self:
        self._run_task = asyncio.create_task(self.run())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.shutdown()
        if self._run_task is not None:
            await self._run_task

    @property
    def running_jobs(self) -> int:
        return len(self._slots.active)

    # ---- signals ------------------------------------------------------------------------------
    def _install_signal_handlers(self) -> None:
        if not self.handle_signals or threading.current_thread() is not threading.main_thread():
            return
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(sig, self._on_signal, sig)
            except (NotImplementedError, RuntimeError):  # not supported on this platform/loop
                continue
            self._signals.append(sig)

    def _remove_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in self._signals:
            loop.remove_signal_handler(sig)
        self._signals.clear()

    def _on_signal(self, sig: signal.Signals) -> None:
        if self._shutdown_task is None:
            worker_log.info(
                "%s: stopping (running jobs get %.0f s; send it again to stop now)",
                sig.name,
                self.grace_seconds,
            )
            self._shutdown_task = asyncio.ensure_future(self._shutdown(self.grace_seconds))
        else:
            worker_log.warning("%s again: interrupting running jobs now", sig.name)
            self.abort()

    # ---- leasing ------------------------------------------------------------------------------
    async def _lease_loop(self) -> None:
        delays = Backoff(initial=0.2, maximum=5.0).delays()
        failures = 0
        loop = asyncio.get_running_loop()
        while not self._stopping.is_set():
            wanted = self._slots.wanted()
            if wanted <= 0:
                await self._slots.wait_until_freed()
                continue
            call = _api.lease(
                worker_id=self.worker_id,
                queues=self.queues,
                types=list(self.handlers),
                max_jobs=min(wanted, 100),
                wait_seconds=self.poll_seconds,
            )
            try:
                leases = await run_call(self._transport, call)
            except OrchestratorError as error:
                if not is_transient(error):
                    self._fail_fatally(error)
                    return
                failures += 1
                if failures == 1 or failures % 10 == 0:
                    worker_log.warning("leasing failed (%s); retrying", error)
                await self._sleep_unless_stopping(next(delays))
                continue
            if failures:
                worker_log.info("leasing works again after %d failed tries", failures)
                failures = 0
                delays = Backoff(initial=0.2, maximum=5.0).delays()
            received_at = loop.time()
            # No await between receiving the leases and starting them: a stop cannot strand one.
            for lease in leases:
                self._start(lease, received_at)

    def _fail_fatally(self, error: BaseException) -> None:
        worker_log.error("worker %s cannot continue: %s", self.worker_id, error)
        self._fatal = error
        if self._shutdown_task is None:
            self._shutdown_task = asyncio.ensure_future(self._shutdown(self.grace_seconds))

    async def _sleep_unless_stopping(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    # ---- running one attempt ------------------------------------------------------------------
    def _start(self, lease: Lease, received_at: float) -> None:
        info = JobInfo(
            job_id=lease.job_id,
            attempt=lease.attempt,
            queue=lease.queue,
            type=lease.type,
            deadline=lease.deadline,
            timeout_seconds=lease.timeout_seconds,
            lease_seconds=lease.lease_seconds,
            heartbeat_details=lease.heartbeat_details,
            worker_id=self.worker_id,
        )
        attempt = RunningAttempt(
            lease,
            JobContext(info),
            AttemptLog(worker_log, lease.job_id, lease.attempt),
            received_at=received_at,
            heartbeat_fraction=self.heartbeat_fraction,
        )
        self._slots.add(attempt, received_at)

    async def _run_attempt(self, attempt: RunningAttempt) -> None:
        leftover: asyncio.Future[Any] | None = None
        try:
            outcome, leftover = await self._execute(attempt)
            if leftover is None:
                self._slots.release_slot(attempt)
            if attempt.finalized:  # shutdown failed it as interrupted while it ran
                return
            attempt.phase = Phase.REPORTING
            await self._reporter.report(attempt, outcome)
            if leftover is not None:
                # A handler stopped at its deadline still holds its slot until it returns.
                await asyncio.wait({leftover})
        except Exception:
            attempt.log.exception("unexpected error in the worker; the lease will expire")
        finally:
            self._slots.forget(attempt)
            self._slots.release_slot(attempt)

    async def _execute(self, attempt: RunningAttempt) -> tuple[Outcome, asyncio.Future[Any] | None]:
        """Run the handler to an outcome, and a future still running if it overran."""
        lease = attempt.lease
        function = self.handlers.get(lease.type)
        if function is None:  # leasing asks only for our types; a server ignoring that lands here
            missing = LookupError(f"no handler for job type {lease.type!r} on this worker")
            return Failure(error_info(missing, retryable=True)), None
        attempt.log.debug("running %s", lease.type)
        loop = asyncio.get_running_loop()
        attempt.started_at = loop.time()
        work: asyncio.Future[Any]
        if is_async(function):
            work = asyncio.create_task(
                run_async_with_context(attempt.context, function, lease.payload)
            )
            attempt.task = work
        else:
            # A copied context carries the caller's context variables into the thread.
            work = loop.run_in_executor(
                self._pool,
                contextvars.copy_context().run,
                run_with_context,
                attempt.context,
                function,
                lease.payload,
            )
        # Whatever the handler ends with is read here or below; a handler stopped at its
        # deadline or by a cancel ends later (HandlerCancelled), and asyncio would log that
        # exception as "never retrieved".
        work.add_done_callback(_retrieve)
        done, _ = await asyncio.wait({work}, timeout=attempt.remaining(loop.time()))
        if not done:
            attempt.stop(StopReason.DEADLINE)
            timeout = lease.timeout_seconds
            overrun = TimeoutError(f"the handler ran past the job's {timeout} s timeout")
            failure = {**error_info(overrun, retryable=True), "type": "DeadlineExceeded"}
            return Failure(failure, timed_out=True), work
        if attempt.stop_reason is not None:
            return Stopped(attempt.stop_reason), None
        if work.cancelled():
            cancelled = asyncio.CancelledError("the handler was cancelled")
            return Failure(error_info(cancelled, retryable=True)), None
        exception = work.exception()
        if isinstance(exception, Snooze):
            return Snoozed(exception.seconds, exception.details), None
        if exception is not None:
            retryable = not isinstance(exception, self.non_retryable)
            return Failure(error_info(exception, retryable=retryable), exception), None
        return Success(work.result()), None

    # ---- stopping -----------------------------------------------------------------------------
    async def _shutdown(self, grace: float) -> None:
        self._stopping.set()
        if self._lease_task is not None:
            # The server checks for a gone client before handing out jobs, so cancelling a
            # waiting long poll does not strand leases.
            self._lease_task.cancel()
            await asyncio.gather(self._lease_task, return_exceptions=True)
        await self._slots.release_waiting()
        await self._slots.finish_hand_backs()
        await self._let_running_finish(grace)
        running = [a for a in self._slots.active.values() if a.phase is Phase.RUNNING]
        await asyncio.gather(*(self._reporter.interrupt(a) for a in running))
        await self._wait_for_runners()
        await self._completions.drain()
        if self._heartbeat_task is not None:
            self._heartbeat_task.cancel()
            await asyncio.gather(self._heartbeat_task, return_exceptions=True)
        await self._transport.close()
        # Threads cannot be killed: a sync handler that ignores HandlerCancelled keeps its
        # thread, but nothing waits for it any more.
        self._pool.shutdown(wait=False, cancel_futures=True)
        worker_log.info("worker %s stopped", self.worker_id)
        self._stopped.set()

    async def _let_running_finish(self, grace: float) -> None:
        runners = {a.runner for a in self._slots.active.values() if a.runner is not None}
        if not runners or grace <= 0:
            return
        worker_log.info("waiting up to %.1f s for %d running jobs", grace, len(runners))
        # Whichever comes first: every runner done, an interrupt (second signal), the grace.
        all_done = asyncio.ensure_future(asyncio.wait(runners))
        interrupt = asyncio.ensure_future(self._interrupt_now.wait())
        try:
            await asyncio.wait(
                {all_done, interrupt}, timeout=grace, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            all_done.cancel()  # cancels the waiting only, not the runners
            interrupt.cancel()

    async def _wait_for_runners(self) -> None:
        runners = [(a.phase, a.runner) for a in self._slots.active.values() if a.runner is not None]
        reporting = {runner for phase, runner in runners if phase is Phase.REPORTING}
        interrupted = {runner for phase, runner in runners if phase is Phase.RUNNING}
        # Results on their way are waited for (they retry until the server answers, or abort).
        if reporting:
            await asyncio.wait(reporting)
        if interrupted:
            _, still = await asyncio.wait(interrupted, timeout=INTERRUPT_WAIT)
            for runner in still:
                runner.cancel()


def _retrieve(work: asyncio.Future[Any]) -> None:
    if not work.cancelled():
        work.exception()
