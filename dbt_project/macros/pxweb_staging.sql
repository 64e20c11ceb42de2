{#- Staging models for PxWeb datasets: one row per cell of `raw.<dataset>` (values) or per replaced
    cell of `raw.<dataset>__revisions` (revisions).

    Both render the same shape: import CTEs for the source and the dataset's rows of the
    `measure_codes` seed, a `renamed` CTE (rename, cast, decode ContentsCode to measure and unit;
    the seed lookup is the only join), and `select * from final`.

    Output columns, in order:
        region_code, year, <extra_dims values...>, source_code, measure, unit, value, status,
        then the audit columns (values: source_table, source_updated, loaded_at, load_id;
        revisions: vintage_updated, replaced_by_updated, replaced_at, replaced_by_load_id).

    Arguments:
        dataset     catalog dataset name, e.g. 'egss_county' (also the raw table name)
        region_col  the raw region dimension column, e.g. 'Lan' or 'Region' → region_code
        extra_dims  mapping raw dimension column → output name, in output order,
                    e.g. {'SNI2007': 'industry_code', 'Kon': 'sex_code'} (cast to varchar) -#}

{% macro pxweb_staging_values(dataset, region_col, extra_dims={}) -%}
    {{- _pxweb_staging(
        source_relation=source('pxweb', dataset),
        dataset=dataset,
        region_col=region_col,
        extra_dims=extra_dims,
        audit_columns={
            '_source_table': 'source_table',
            '_source_updated': 'source_updated',
            '_loaded_at': 'loaded_at',
            '_load_id': 'load_id',
        },
    ) -}}
{%- endmacro %}


{#- Revisions: `raw.<dataset>__revisions` may not exist yet (dataset never loaded), so the source
    goes through `source_or_empty` with the raw columns' types. -#}
{% macro pxweb_staging_revisions(dataset, region_col, extra_dims={}) -%}
    {%- set raw_columns = {region_col: 'varchar'} -%}
    {%- for raw_col in extra_dims -%}
        {%- do raw_columns.update({raw_col: 'varchar'}) -%}
    {%- endfor -%}
    {%- do raw_columns.update({
        'ContentsCode': 'varchar',
        'Tid': 'varchar',
        'value': 'double',
        'status': 'varchar',
        '_source_updated': 'timestamptz',
        '_replaced_at': 'timestamptz',
        '_replaced_by_updated': 'timestamptz',
        '_load_id': 'varchar',
    }) -%}
    {{- _pxweb_staging(
        source_relation=source_or_empty('pxweb', dataset ~ '__revisions', raw_columns),
        dataset=dataset,
        region_col=region_col,
        extra_dims=extra_dims,
        audit_columns={
            '_source_updated': 'vintage_updated',
            '_replaced_by_updated': 'replaced_by_updated',
            '_replaced_at': 'replaced_at',
            '_load_id': 'replaced_by_load_id',
        },
    ) -}}
{%- endmacro %}


{#- The shared body; `audit_columns` maps raw loader column → output name (passed through as is). -#}
{% macro _pxweb_staging(source_relation, dataset, region_col, extra_dims, audit_columns) -%}
with

source as (

    select * from {{ source_relation }}

),

measure_codes as (

    select * from {{ ref('measure_codes') }}
    where dataset = '{{ dataset }}'

),

renamed as (

    select
        source."{{ region_col }}"::varchar as region_code,
        source."Tid"::integer as year,
        {%- for raw_col, name in extra_dims.items() %}
        source."{{ raw_col }}"::varchar as {{ name }},
        {%- endfor %}
        source."ContentsCode"::varchar as source_code,
        measure_codes.measure,
        measure_codes.unit,
        source.value::double as value,
        source.status::varchar as status,
        {%- for raw_col, name in audit_columns.items() %}
        source.{{ raw_col }} as {{ name }}{{ "," if not loop.last }}
        {%- endfor %}

    from source
    -- a code lookup, not a business join: decodes ContentsCode to the catalog's measure name
    left join measure_codes
        on source."ContentsCode" = measure_codes.source_code

),

final as (

    select * from renamed

)

select * from final
{%- endmacro %}
