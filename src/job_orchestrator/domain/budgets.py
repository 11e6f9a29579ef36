"""Attempt budgets: a redrive (retry from the DLQ or cancelled) gives a job a fresh budget whose
attempts count from 1 again, so an attempt history reads as one budget after another."""

from __future__ import annotations

from collections.abc import Sequence


def budget_numbers(attempt_numbers: Sequence[int]) -> list[int]:
    """The budget (1, 2, ...) of each attempt, in the order they were leased: a new one begins
    wherever the attempt number does not go up."""
    budgets: list[int] = []
    for index, number in enumerate(attempt_numbers):
        begins = index == 0 or number <= attempt_numbers[index - 1]
        budgets.append((budgets[-1] if budgets else 0) + (1 if begins else 0))
    return budgets
