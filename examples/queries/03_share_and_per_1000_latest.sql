-- Q3. What share of each county's jobs is cleantech, and how many cleantech jobs are there per
--     1,000 inhabitants?
-- One row per county for the latest year that has both figures (total employment, the share's
-- denominator, ends earlier than the EGSS series), highest share first.
with

region_years as (

    select * from marts.fct_cleantech_region_year

),

latest_year as (

    select max(year) as year
    from region_years
    where
        cleantech_share_of_employment_pct is not null
        and cleantech_employed_per_1000_inhabitants is not null

),

final as (

    select
        region_years.year,
        region_years.region_code,
        region_years.region_name_en as county,
        region_years.employed,
        region_years.total_employed_persons,
        region_years.population,
        round(region_years.cleantech_share_of_employment_pct, 2) as share_of_employment_pct,
        round(region_years.cleantech_employed_per_1000_inhabitants, 1) as employed_per_1000_inhabitants,
        rank() over (
            order by region_years.cleantech_share_of_employment_pct desc
        ) as share_rank

    from region_years
    inner join latest_year
        on region_years.year = latest_year.year

)

select * from final
order by share_rank, region_code
