-- Q4. How has the cleantech share of employment (and per 1,000 inhabitants) moved?
-- One row per county: both figures in the first and the last year with a share, the change in
-- percentage points and per 1,000, biggest rise in share first.
with

region_years as (

    select * from marts.fct_cleantech_region_year
    where cleantech_share_of_employment_pct is not null

),

window_years as (

    select
        min(year) as first_year,
        max(year) as last_year

    from region_years

),

first_and_last as (

    select
        region_years.region_code,
        region_years.region_name_en as county,
        window_years.first_year,
        window_years.last_year,
        max(region_years.cleantech_share_of_employment_pct)
            filter (where region_years.year = window_years.first_year) as first_share_pct,
        max(region_years.cleantech_share_of_employment_pct)
            filter (where region_years.year = window_years.last_year) as last_share_pct,
        max(region_years.cleantech_employed_per_1000_inhabitants)
            filter (where region_years.year = window_years.first_year) as first_per_1000,
        max(region_years.cleantech_employed_per_1000_inhabitants)
            filter (where region_years.year = window_years.last_year) as last_per_1000

    from region_years
    cross join window_years
    group by all

),

final as (

    select
        region_code,
        county,
        first_year,
        last_year,
        round(first_share_pct, 2) as first_share_pct,
        round(last_share_pct, 2) as last_share_pct,
        round(last_share_pct - first_share_pct, 2) as share_change_pp,
        round(last_per_1000 - first_per_1000, 1) as per_1000_change

    from first_and_last

)

select * from final
order by share_change_pp desc nulls last, region_code
