"""PostgreSQL hot-path statements run on the asyncpg connection under SQLAlchemy's pool.

The SQL is still the one in ``statements`` (a SQLAlchemy ``TextClause``): it is compiled once per
shape (the lengths of its expanded ``IN`` lists) into asyncpg's ``$n`` form, and asyncpg
prepares and caches it per connection. What this skips is SQLAlchemy's per-execution work —
the greenlet hop, cursor adaptation and result-row processing — which was about a quarter of
the server's time on a lease or a batch completion.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg
from sqlalchemy import TextClause
from sqlalchemy.engine import Dialect

# For each positional parameter: (name, None) for a plain one, (name, i) for item i of a list
# bound with ``expanding=True``.
_Accessor = tuple[str, int | None]
_Form = tuple[str, list[_Accessor]]  # the $n SQL text and how to fill its parameters


class RawStatements:
    def __init__(self, dialect: Dialect) -> None:
        self._dialect = dialect
        # id(statement) -> the statement too, so a reused id can never pick up a stale form.
        self._compiled: dict[
            tuple[int, tuple[int, ...]], tuple[TextClause, str, list[_Accessor]]
        ] = {}

    async def fetch(
        self, connection: Any, statement: TextClause, params: dict[str, Any]
    ) -> Sequence[Sequence[Any]]:
        sql, accessors = self._form(statement, params)
        args = [params[name] if i is None else params[name][i] for name, i in accessors]
        records: list[asyncpg.Record] = await connection.fetch(sql, *args)
        return records

    def _form(self, statement: TextClause, params: dict[str, Any]) -> _Form:
        expanding = tuple(
            len(params[name]) for name, bind in statement._bindparams.items() if bind.expanding
        )
        key = (id(statement), expanding)
        cached = self._compiled.get(key)
        if cached is None or cached[0] is not statement:
            cached = (statement, *self._compile(statement, params))
            self._compiled[key] = cached
        return cached[1], cached[2]

    def _compile(
        self, statement: TextClause, params: dict[str, Any]
    ) -> tuple[str, list[_Accessor]]:
        compiled = statement.compile(dialect=self._dialect)
        state = compiled.construct_expanded_state(params)
        origin = {
            expanded: (name, i)
            for name, names in state.parameter_expansion.items()
            for i, expanded in enumerate(names)
        }
        positions = state.positiontup or []
        accessors: list[_Accessor] = [origin.get(name, (name, None)) for name in positions]
        return state.statement, accessors
