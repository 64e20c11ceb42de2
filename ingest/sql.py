"""The one module of DuckDB helpers: identifier quoting, table/column introspection, and a
rollback that never hides the error being raised.

Every module that asks a DuckDB connection which tables or columns it has does it through these
helpers (the current database only, so an ATTACHed file never answers for the main one).

Names that come from files (suite YAML, the catalog, dimension ids of a response) are pasted into
SQL only through these helpers; values are bound as parameters instead, except where DuckDB takes
no parameters (a generated column's expression, COPY's path and options): there
`quote_literal` writes the constant.
"""

from __future__ import annotations

import contextlib
from typing import Any

import duckdb

__all__ = [
    "column_names",
    "column_types",
    "existing_tables",
    "has_table",
    "qualified",
    "quote_ident",
    "quote_literal",
    "relation_names",
    "rollback_quietly",
    "split_qualified",
]


def quote_ident(name: str) -> str:
    """Quote one identifier for DuckDB: wrap it in double quotes, doubling any embedded `"`."""
    if not isinstance(name, str):
        raise TypeError(f"an identifier must be a string, not {type(name).__name__}")
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    """Quote a string constant for DuckDB: wrap it in single quotes, doubling any embedded `'`.

    DuckDB's standard strings treat backslashes literally, so `'` is the only character to escape;
    NUL cannot be stored in a VARCHAR and is refused.
    """
    if not isinstance(value, str):
        raise TypeError(f"a string literal must be a string, not {type(value).__name__}")
    if "\x00" in value:
        raise ValueError("a string literal cannot contain NUL")
    return "'" + value.replace("'", "''") + "'"


def qualified(schema: str, table: str) -> str:
    """A quoted `"schema"."table"` reference."""
    return f"{quote_ident(schema)}.{quote_ident(table)}"


def existing_tables(con: Any) -> set[str]:
    """The `schema.table` names (tables and views) a DuckDB connection sees."""
    rows = con.execute("select table_schema, table_name from information_schema.tables").fetchall()
    return {f"{schema}.{table}" for schema, table in rows}


def split_qualified(name: str) -> tuple[str, str]:
    """Split a `schema.table` name (as written in a suite or a required-table list) in two."""
    schema, sep, table = name.partition(".")
    if not sep or not schema or not table:
        raise ValueError(f"{name!r} is not a schema-qualified table name (schema.table)")
    return schema, table


def has_table(con: Any, schema: str, table: str) -> bool:
    """Whether the connected database has the base table `schema.table` (views do not count)."""
    row = con.execute(
        "select 1 from duckdb_tables() where database_name = current_database() "
        "and schema_name = ? and table_name = ?",
        [schema, table],
    ).fetchone()
    return row is not None


def relation_names(con: Any, schema: str, *, base_tables_only: bool = False) -> list[str]:
    """The tables (and views, unless `base_tables_only`) of one schema, sorted by name."""
    kinds = "('BASE TABLE')" if base_tables_only else "('BASE TABLE', 'VIEW')"
    rows = con.execute(
        "select table_name from information_schema.tables "  # noqa: S608 (constant kinds)
        f"where table_catalog = current_database() and table_schema = ? and table_type in {kinds} "
        "order by table_name",
        [schema],
    ).fetchall()
    return [r[0] for r in rows]


def column_types(con: Any, schema: str, table: str) -> dict[str, str]:
    """A table's or view's columns and their types, in column order (empty if it does not exist)."""
    rows = con.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_catalog = current_database() and table_schema = ? and table_name = ? "
        "order by ordinal_position",
        [schema, table],
    ).fetchall()
    return {name: kind for name, kind in rows}


def column_names(con: Any, schema: str, table: str) -> list[str]:
    """A table's or view's column names in column order (empty if it does not exist)."""
    return list(column_types(con, schema, table))


def rollback_quietly(con: duckdb.DuckDBPyConnection) -> None:
    """Roll back the open transaction while an error is being raised: after an I/O error (a full
    disk) DuckDB may refuse even the ROLLBACK, and that refusal must never replace the error."""
    with contextlib.suppress(duckdb.Error):
        con.execute("ROLLBACK")
