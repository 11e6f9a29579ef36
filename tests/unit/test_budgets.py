"""Attempt budgets: a redrive starts counting attempts from 1 again."""

from __future__ import annotations

import pytest

from job_orchestrator.domain.budgets import budget_numbers


@pytest.mark.parametrize(
    ("attempts", "budgets"),
    [
        ([], []),
        ([1], [1]),
        ([1, 2, 3], [1, 1, 1]),
        ([1, 2, 1], [1, 1, 2]),
        ([1, 1, 1], [1, 2, 3]),  # max_attempts=1, redriven twice
        ([1, 2, 3, 1, 2, 1], [1, 1, 1, 2, 2, 3]),
    ],
)
def test_a_budget_begins_where_the_attempt_number_does_not_go_up(
    attempts: list[int], budgets: list[int]
) -> None:
    assert budget_numbers(attempts) == budgets
