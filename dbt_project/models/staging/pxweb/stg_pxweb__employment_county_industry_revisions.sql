{%- set raw_columns = {
    "Region": "varchar", "SNI2007": "varchar", "Kon": "varchar", "ContentsCode": "varchar", "Tid": "varchar",
    "value": "double",
    "status": "varchar",
    "_source_updated": "timestamptz",
    "_replaced_at": "timestamptz",
    "_replaced_by_updated": "timestamptz",
    "_load_id": "varchar",
} -%}

with

source as (

    select *
    from {{ source_or_empty("pxweb", "employment_county_industry__revisions", raw_columns) }}

),

measure_codes as (

    select * from {{ ref('measure_codes') }}
    where dataset = 'employment_county_industry'

),

renamed as (

    select
        source."Region"::varchar as region_code,
        source."Tid"::integer as year,
        source."SNI2007"::varchar as industry_code,
        source."Kon"::varchar as sex_code,
        source."ContentsCode"::varchar as source_code,
        measure_codes.measure,
        measure_codes.unit,
        source.value::double as value,
        source.status::varchar as status,
        source._source_updated as vintage_updated,
        source._replaced_by_updated as replaced_by_updated,
        source._replaced_at as replaced_at,
        source._load_id as replaced_by_load_id

    from source
    left join measure_codes
        on source."ContentsCode" = measure_codes.source_code

),

final as (

    select * from renamed

)

select * from final
