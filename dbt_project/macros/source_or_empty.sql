{#- A source relation, or an empty typed row set when the loader has not created it yet.

    The loader creates `raw.<dataset>__revisions` (empty) on every load of the dataset, in the same
    transaction as `raw.<dataset>`, so a loaded dataset always has it. It is missing only when a
    dataset has never been loaded (a fresh warehouse, or a catalog dataset not ingested yet), and
    the revision models must still build then.
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
