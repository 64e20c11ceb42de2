with

source as (

    select * from {{ source('pxweb', 'employment_county_industry') }}

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
        source._source_table as source_table,
        source._source_updated as source_updated,
        source._loaded_at as loaded_at,
        source._load_id as load_id

    from source
    left join measure_codes
        on source."ContentsCode" = measure_codes.source_code

),

final as (

    select * from renamed

)

select * from final
