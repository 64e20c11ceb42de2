with

regions as (

    select * from {{ ref('regions') }}

),

final as (

    select
        region_code,
        region_name_sv,
        region_name_en,
        nuts2_code,
        nuts3_code,
        region_level = 'county' as is_county,
        region_level,
        nuts_code,
        nuts2_name,
        sort_order

    from regions

)

select * from final
