{#- A source relation, or an empty typed row set when the loader has not created it yet.

    The loader creates `raw.<dataset>__revisions` when a later vintage first replaces a cell, so a
    fresh warehouse may not have it; the revision models must still build from a clean state.
    `columns` maps column name → DuckDB type of the empty stand-in. -#}
{% macro source_or_empty(source_name, table_name, columns) -%}
    {%- set relation = source(source_name, table_name) -%}
    {%- set found = relation -%}
    {%- if execute -%}
        {%- set found = adapter.get_relation(
            database=relation.database,
            schema=relation.schema,
            identifier=relation.identifier,
        ) -%}
    {%- endif -%}
    {%- if found is not none -%}
        (select * from {{ relation }})
    {%- else -%}
        (
            select
                {%- for name, data_type in columns.items() %}
                cast(null as {{ data_type }}) as "{{ name }}"{{ "," if not loop.last }}
                {%- endfor %}
            where false
        )
    {%- endif -%}
{%- endmacro %}
