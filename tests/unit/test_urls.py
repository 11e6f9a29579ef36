"""Database URLs: every form libpq accepts reaches asyncpg intact (several hosts, host/port
lists in the query, target_session_attrs); SQLAlchemy-only options do not become settings."""

from __future__ import annotations

import pytest

from job_orchestrator.store.urls import asyncpg_dsn, dialect_of, normalize_database_url

MULTI_HOST = "postgresql://postgres@db1:5432,db2:5433/jobs"
QUERY_HOSTS = (
    "postgresql://postgres@/jobs?host=db1,db2&port=5432,5433&target_session_attrs=read-write"
)


@pytest.mark.parametrize("url", [MULTI_HOST, QUERY_HOSTS, "postgres://u:p@[::1]:5432,db2/jobs"])
def test_libpq_forms_are_postgresql_and_reach_asyncpg_unchanged(url: str) -> None:
    assert dialect_of(url) == "postgresql"
    assert normalize_database_url(url).startswith("postgresql+asyncpg://")
    assert asyncpg_dsn(url) == "postgresql://" + url.split("://", 1)[1]


def test_sqlalchemy_only_options_are_removed_and_the_rest_kept() -> None:
    url = (
        "postgresql+asyncpg://postgres@db1:5432,db2:5433/jobs"
        "?prepared_statement_cache_size=0&target_session_attrs=read-write"
        "&statement_cache_size=0&application_name=api"
    )
    assert asyncpg_dsn(url) == (
        "postgresql://postgres@db1:5432,db2:5433/jobs"
        "?target_session_attrs=read-write&application_name=api"
    )


def test_host_lists_in_the_query_keep_their_commas() -> None:
    url = QUERY_HOSTS + "&prepared_statement_cache_size=0"
    assert asyncpg_dsn(url) == QUERY_HOSTS
