-- Q5. How have cleantech jobs moved in one county, year by year, against the rest of Sweden?
-- Skåne (12), 2010–2012: employed, the change on the year before, the county's share of national
-- cleantech employment and its rank among the 21 counties. Change the region code or years freely.
with

region_years as (

    select * from marts.fct_cleantech_region_year

),

final as (

    select
        year,
        region_name_en as county,
        employed,
        employed_status,
        employed_yoy_change,
        round(employed_yoy_pct, 1) as employed_yoy_pct,
        round(employed_share_of_national_pct, 1) as share_of_national_pct,
        employed_rank

    from region_years
    where
        region_code = '12'
        and year between 2010 and 2012

)

select * from final
order by year
