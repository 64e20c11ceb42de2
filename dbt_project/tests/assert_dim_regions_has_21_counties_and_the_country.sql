-- dim_regions holds exactly the 21 counties and the whole country.
with

regions as (

    select * from {{ ref('dim_regions') }}

),

counted as (

    select
        count(*) filter (where is_county) as n_counties,
        count(*) filter (where not is_county and region_code = '00') as n_country

    from regions

),

final as (

    select * from counted
    where n_counties <> 21 or n_country <> 1

)

select * from final
