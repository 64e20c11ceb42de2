-- Q2. Which county employs the most people in cleantech?
-- One row per year: the county ranked first by cleantech employment, how many it employs, its share
-- of the national total and how far ahead of the runner-up it is. The last row is the latest year.
with

region_years as (

    select * from marts.fct_cleantech_region_year

),

runners_up as (

    select
        year,
        region_name_en as runner_up,
        employed as runner_up_employed

    from region_years
    where employed_rank = 2

),

final as (

    select
        region_years.year,
        region_years.region_code,
        region_years.region_name_en as county,
        region_years.employed,
        round(region_years.employed_share_of_national_pct, 1) as share_of_national_pct,
        runners_up.runner_up,
        region_years.employed - runners_up.runner_up_employed as lead_over_runner_up

    from region_years
    left join runners_up
        on region_years.year = runners_up.year
    where region_years.employed_rank = 1

)

select * from final
order by year
