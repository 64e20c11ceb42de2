with

source as (

    select * from {{ source('pxweb', 'egss_county') }}

),

measure_codes as (

    select * from {{ ref('measure_codes') }}
    where dataset = 'egss_county'

),

renamed as (

    select
        source."Lan"::varchar as region_code,
        source."Tid"::integer as year,
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
    -- a code lookup, not a business join: decodes ContentsCode to the catalog's measure name
    left join measure_codes
        on source."ContentsCode" = measure_codes.source_code

),

final as (

    select * from renamed

)

select * from final
