"""Reporting how an attempt ended: its result completed (batched), its error failed, or, at
shutdown, the still-running attempt failed as interrupted so it is retried at once."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from typing import Any

import orjson

from job_orchestrator.sdk import _api
from job_orchestrator.sdk._attempt import (
    Failure,
    Outcome,
    RunningAttempt,
    Snoozed,
    Stopped,
    StopReason,
    Success,
)
from job_orchestrator.sdk._completions import CompletionBatcher
from job_orchestrator.sdk._delivery import deliver, run_call
from job_orchestrator.sdk._http import AsyncTransport
from job_orchestrator.sdk.errors import APIError, LeaseLost, NotFound, OrchestratorError
from job_orchestrator.sdk.models import Job, JobState

MAX_MESSAGE = 8192  # error messages beyond this are cut: the log has the full traceback
MAX_RETRY_AFTER = 366 * 24 * 3600.0  # the contract's bound for a delay
LOGGED_MESSAGE = 300  # an error message in the one line a failure logs


def error_info(error: BaseException, *, retryable: bool) -> dict[str, Any]:
    message = str(error) or type(error).__name__
    info: dict[str, Any] = {
        "type": type(error).__name__,
        "message": message[:MAX_MESSAGE],
        "retryable": retryable,
    }
    delay = asked_retry_delay(error)
    if delay is not None:
        info["retry_after_seconds"] = delay
    return info


def asked_retry_delay(error: BaseException) -> float | None:
    """The delay an exception asks for (``RetryAfter``, or any ``retry_after_seconds``)."""
    delay = getattr(error, "retry_after_seconds", None)
    if isinstance(delay, bool) or not isinstance(delay, int | float) or not math.isfinite(delay):
        return None
    return min(max(float(delay), 0.0), MAX_RETRY_AFTER)


def _elapsed(attempt: RunningAttempt) -> str:
    if attempt.started_at is None:
        return ""
    return f" in {asyncio.get_running_loop().time() - attempt.started_at:.2f} s"


def _what_next(job: Job, failure: dict[str, Any]) -> str:
    if job.state is JobState.PENDING:
        delay = max((job.run_at - job.updated_at).total_seconds(), 0.0)
        return f"retry {job.attempts + 1} of {job.max_attempts} in {delay:.1f} s"
    if job.state is JobState.DLQ:
        why = "not retryable" if not failure.get("retryable") else f"{job.attempts} attempts"
        return f"moved to the DLQ ({why})"
    return f"the job is now {job.state.value}"


class Reporter:
    """Tells the server what became of an attempt; every call retries until it gets through
    (or the worker aborts)."""

    def __init__(
        self,
        transport: AsyncTransport,
        completions: CompletionBatcher,
        *,
        worker_id: str,
        aborted: Callable[[], bool],
        log_tracebacks: bool = False,
    ) -> None:
        self._transport = transport
        self._completions = completions
        self._aborted = aborted
        self.worker_id = worker_id
        self.log_tracebacks = log_tracebacks

    async def report(self, attempt: RunningAttempt, outcome: Outcome) -> None:
        if isinstance(outcome, Stopped):
            attempt.log.info("stopped (%s); not reporting a result", outcome.reason)
            return
        if isinstance(outcome, Success):
            try:
                # Encoded once here: a result JSON cannot hold fails this job, not the batch.
                encoded = orjson.Fragment(orjson.dumps(outcome.result))
            except TypeError as error:
                failure = error_info(error, retryable=False)
                failure["type"] = "ResultNotSerializable"
                await self._fail(attempt, Failure(failure, error))
                return
            await self._complete(attempt, encoded)
            return
        if isinstance(outcome, Snoozed):
            await self._snooze(attempt, outcome)
            return
        if outcome.timed_out:
            await self._fail_timed_out(attempt, outcome)
            return
        await self._fail(attempt, outcome)

    async def _snooze(self, attempt: RunningAttempt, outcome: Snoozed) -> None:
        body: dict[str, Any] = {
            "lease_token": attempt.lease.lease_token,
            "delay_seconds": outcome.seconds,
        }
        version, reported = attempt.context.details()
        if outcome.details is not None:
            body["details"] = outcome.details
        elif version > attempt.sent_details_version:  # progress not sent yet: keep it
            body["details"] = reported
        call = _api.snooze(attempt.lease.job_id, body)
        try:
            job = await deliver(
                self._transport, call, log=attempt.log, what="snoozing", aborted=self._aborted
            )
        except APIError as error:  # e.g. lease_lost: a repeat after a lost answer lands here
            attempt.log.warning("snooze refused (%s)", error)
            return
        except OrchestratorError as error:
            attempt.log.error("snooze not delivered (%s); the lease will expire", error)
            return
        attempt.log.info("snoozed for %s s; runs again at %s", outcome.seconds, job.run_at)

    async def _complete(self, attempt: RunningAttempt, result: orjson.Fragment) -> None:
        lease = attempt.lease
        item = {
            "job_id": lease.job_id,
            "lease_token": lease.lease_token,
            "result": result,
            # Per attempt, and the same on every retry: a repeat after a lost answer is a no-op.
            "idempotency_key": f"job-{lease.job_id}-attempt-{lease.attempt}",
        }
        # Progress reported since the last beat travels with the completion, stored by the
        # same statement: the finished job shows the handler's last details, not stale ones.
        version, details = attempt.context.details()
        if version > attempt.sent_details_version:
            item["details"] = details
        try:
            answer = await self._completions.submit(item)
        except OrchestratorError as error:
            attempt.log.error("completion not delivered (%s); the lease will expire", error)
            return
        status = answer.get("status")
        refusal = answer.get("error") or {}
        if status == 200:
            attempt.log.info("%s succeeded%s", lease.type, _elapsed(attempt))
        elif refusal.get("code") == "already_completed":
            attempt.log.info("already completed by an earlier delivery")
        elif status in (404, 409):
            attempt.log.warning(
                "completion refused (%s): the lease was lost; result discarded", refusal.get("code")
            )
        else:  # e.g. 413: the result is too large to store; retrying would not change that
            failure = {
                "type": "ResultRejected",
                "message": f"the server refused the result: {refusal.get('message', status)}",
                "retryable": False,
            }
            await self._fail(attempt, Failure(failure))

    async def _fail(self, attempt: RunningAttempt, outcome: Failure) -> None:
        """Report the failure, then log one line: what was raised and what comes next (the
        traceback only with ``log_tracebacks``)."""
        failure = outcome.error
        try:
            job = await self._deliver_failure(attempt, failure, what="reporting the failure")
        except APIError as error:
            next_step = f"failure not recorded ({error})"
        except OrchestratorError as error:
            next_step = f"failure not delivered ({error}); the lease will expire"
        else:
            next_step = _what_next(job, failure)
        message = str(failure.get("message", ""))
        if len(message) > LOGGED_MESSAGE:
            message = message[:LOGGED_MESSAGE] + "..."
        attempt.log.warning(
            "%s failed%s: %s: %s; %s",
            attempt.lease.type,
            _elapsed(attempt),
            failure.get("type"),
            message,
            next_step,
            exc_info=outcome.exception if self.log_tracebacks else None,
        )

    async def _fail_timed_out(self, attempt: RunningAttempt, outcome: Failure) -> None:
        """One line, whoever ends the attempt: the server's deadline usually passes before
        ours (ours starts when the lease arrives), so a refused fail is the expected case."""
        try:
            job = await self._deliver_failure(attempt, outcome.error, what="reporting the timeout")
        except (LeaseLost, NotFound):
            next_step = "the server ends the attempt as timed out"
        except OrchestratorError as error:
            next_step = f"failure not delivered ({error}); the server ends the attempt"
        else:
            next_step = _what_next(job, outcome.error)
        attempt.log.warning(
            "%s timed out after %s s (its timeout_seconds); %s",
            attempt.lease.type,
            attempt.lease.timeout_seconds,
            next_step,
        )

    async def _deliver_failure(
        self, attempt: RunningAttempt, failure: dict[str, Any], *, what: str
    ) -> Job:
        """Save the handler's last details, then POST fail until the server answers; raises
        what ``deliver`` raises (a refusal, or the last transient error once aborted)."""
        await self._send_last_details(attempt)
        call = _api.fail(attempt.lease.job_id, attempt.lease.lease_token, failure)
        return await deliver(
            self._transport, call, log=attempt.log, what=what, aborted=self._aborted
        )

    async def _send_last_details(self, attempt: RunningAttempt) -> None:
        """Progress reported since the last beat is kept for the next attempt to resume from."""
        version, details = attempt.context.details()
        if version <= attempt.sent_details_version:
            return
        body = {"lease_token": attempt.lease.lease_token, "details": details}
        try:
            await run_call(self._transport, _api.heartbeat(attempt.lease.job_id, body))
        except (LeaseLost, NotFound) as error:  # the call that follows says so, once
            attempt.log.debug("could not save the last heartbeat details (%s)", error)
            return
        except OrchestratorError as error:
            attempt.log.warning("could not save the last heartbeat details (%s)", error)
            return
        attempt.sent_details_version = version

    async def interrupt(self, attempt: RunningAttempt) -> None:
        """Fail an attempt still running at the end of the grace period, to be retried at once
        (``retry_after_seconds: 0``) instead of staying leased until its lease expires."""
        attempt.finalized = True
        attempt.stop(StopReason.SHUTDOWN)
        failure = {
            "type": "WorkerShutdown",
            "message": f"interrupted: worker {self.worker_id} stopped before the handler finished",
            "retryable": True,
            "retry_after_seconds": 0,
        }
        try:
            job = await self._deliver_failure(
                attempt, failure, what="releasing the interrupted job"
            )
        except OrchestratorError as error:
            attempt.log.warning("could not release the interrupted job (%s)", error)
            return
        attempt.log.info("interrupted by shutdown; the job is now %s", job.state.value)
