"""Reporting how an attempt ended: its result completed (batched), its error failed, or, at
shutdown, the still-running attempt failed as interrupted so it is retried at once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from job_orchestrator.sdk import _api
from job_orchestrator.sdk._attempt import (
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
from job_orchestrator.sdk.errors import APIError, OrchestratorError
from job_orchestrator.sdk.models import Job

MAX_MESSAGE = 8192  # error messages beyond this are cut: the log has the full traceback


def error_info(error: BaseException, *, retryable: bool) -> dict[str, Any]:
    message = str(error) or type(error).__name__
    return {
        "type": type(error).__name__,
        "message": message[:MAX_MESSAGE],
        "retryable": retryable,
    }


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
    ) -> None:
        self._transport = transport
        self._completions = completions
        self._aborted = aborted
        self.worker_id = worker_id

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
                await self._fail(attempt, failure)
                return
            await self._complete(attempt, encoded)
            return
        if isinstance(outcome, Snoozed):
            await self._snooze(attempt, outcome)
            return
        await self._fail(attempt, outcome.error)

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
        try:
            answer = await self._completions.submit(item)
        except OrchestratorError as error:
            attempt.log.error("completion not delivered (%s); the lease will expire", error)
            return
        status = answer.get("status")
        refusal = answer.get("error") or {}
        if status == 200:
            attempt.log.debug("completed")
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
            await self._fail(attempt, failure)

    async def _fail(self, attempt: RunningAttempt, failure: dict[str, Any]) -> None:
        try:
            job = await self._deliver_failure(attempt, failure, what="reporting the failure")
        except APIError as error:
            attempt.log.warning("failure not recorded (%s)", error)
            return
        except OrchestratorError as error:
            attempt.log.error("failure not delivered (%s); the lease will expire", error)
            return
        attempt.log.info(
            "failed with %s (retryable: %s); the job is now %s",
            failure.get("type"),
            failure.get("retryable"),
            job.state.value,
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
