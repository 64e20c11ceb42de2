-- One row per county and EGSS year: the environmental sector's figures, the county's total
-- employment and population, and the ratios, growth, national shares and ranks derived from them.
-- Every derived figure is NULL when an input is missing (or a denominator is 0): never 0.

with

region_years as (

    select * from {{ ref('int_region_years_joined') }}

),

counties as (

    select * from region_years
    where is_county

),

national_reported as (

    select
        year,
        export_msek,
        employed

    from region_years
    where region_code = '00'

),

-- the sum over the counties, only when every county has a value that year
county_sums as (

    select
        year,
        case when count(export_msek) = count(*) then sum(export_msek) end as export_msek,
        case when count(employed) = count(*) then sum(employed) end as employed

    from counties
    group by year

),

-- the source's national row where it has one, else the complete sum over the counties
national as (

    select
        county_sums.year,
        coalesce(national_reported.export_msek, county_sums.export_msek) as national_export_msek,
        coalesce(national_reported.employed, county_sums.employed) as national_employed

    from county_sums
    left join national_reported
        on county_sums.year = national_reported.year

),

with_previous_year as (

    select
        counties.*,
        previous_year.export_msek as previous_export_msek,
        previous_year.employed as previous_employed

    from counties
    left join counties as previous_year
        on
            counties.region_code = previous_year.region_code
            and counties.year = previous_year.year + 1

),

derived as (

    select
        with_previous_year.*,
        national.national_export_msek,
        national.national_employed,

        case
            when with_previous_year.total_employed_persons > 0
                then 100.0 * with_previous_year.employed / with_previous_year.total_employed_persons
        end as cleantech_share_of_employment_pct,

        case
            when with_previous_year.population > 0
                then 1000.0 * with_previous_year.employed / with_previous_year.population
        end as cleantech_employed_per_1000_inhabitants,

        with_previous_year.export_msek
        - with_previous_year.previous_export_msek as export_msek_yoy_change,

        case
            when with_previous_year.previous_export_msek <> 0
                then
                    100.0
                    * (with_previous_year.export_msek - with_previous_year.previous_export_msek)
                    / with_previous_year.previous_export_msek
        end as export_msek_yoy_pct,

        with_previous_year.employed - with_previous_year.previous_employed as employed_yoy_change,

        case
            when with_previous_year.previous_employed <> 0
                then
                    100.0
                    * (with_previous_year.employed - with_previous_year.previous_employed)
                    / with_previous_year.previous_employed
        end as employed_yoy_pct,

        case
            when national.national_export_msek > 0
                then 100.0 * with_previous_year.export_msek / national.national_export_msek
        end as export_share_of_national_pct,

        case
            when national.national_employed > 0
                then 100.0 * with_previous_year.employed / national.national_employed
        end as employed_share_of_national_pct

    from with_previous_year
    left join national
        on with_previous_year.year = national.year

),

-- rank 1 = the largest; ties share a rank and the next rank is skipped (1, 2, 2, 4);
-- a county without a value is not ranked
ranked as (

    select
        *,
        case
            when export_msek is not null
                then rank() over (partition by year order by export_msek desc nulls last)
        end as export_rank,
        case
            when employed is not null
                then rank() over (partition by year order by employed desc nulls last)
        end as employed_rank

    from derived

),

final as (

    select
        region_code,
        year,
        region_name_sv,
        region_name_en,
        establishments,
        establishments_status,
        employed,
        employed_status,
        net_turnover_msek,
        net_turnover_msek_status,
        export_msek,
        export_msek_status,
        total_employed_persons,
        total_employed_persons_status,
        population,
        population_status,
        cleantech_share_of_employment_pct,
        cleantech_employed_per_1000_inhabitants,
        export_msek_yoy_change,
        export_msek_yoy_pct,
        employed_yoy_change,
        employed_yoy_pct,
        national_export_msek,
        national_employed,
        export_share_of_national_pct,
        employed_share_of_national_pct,
        export_rank,
        employed_rank,
        egss_source_updated,
        is_demo,
        -- the statistical year as a DATE (1 January) for BI tools' time axes and filters
        make_date(year, 1, 1) as period_date

    from ranked

)

select * from final
