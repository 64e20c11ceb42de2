"""SQL identifier quoting for DuckDB, shared by every module that builds SQL from names.

Names that come from files (suite YAML, the catalog, dimension ids of a response) are pasted into
SQL only through these helpers; values are bound as parameters instead, except where DuckDB takes
no parameters (a generated column's expression, COPY's path and options): there
`quote_literal` writes the constant.
"""

from __future__ import annotations

from typing import Any

__all__ = ["existing_tables", "qualified", "quote_ident", "quote_literal"]


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
