"""placeholder"""
from __future__ import annotations
from job_orchestrator.verify.api import Api
from job_orchestrator.verify.scenarios import Outcome, Run
from typing import Any
async def chaos(run: Run, api: Api, options: Any) -> Outcome:
    o = Outcome(); o.skip = "todo"; return o
