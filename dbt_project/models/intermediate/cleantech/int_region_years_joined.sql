-- One row per region (country and counties, from the seed) and EGSS year, with every source's
-- figures beside each other. The spine is regions × EGSS years, so a county the source left out of
-- a year still gets a row (with NULLs), and the other sources' years outside EGSS are dropped.
with

regions as (

    select * from {{ ref('regions') }}

),

egss as (

    select * from {{ ref('int_egss_measures_pivoted') }}

),

employment as (

    select * from {{ ref('int_employment_totals_aggregated') }}

),

population as (

    select * from {{ ref('stg_pxweb__population_county_values') }}
    where measure = 'population'

),

datasets as (

    select * from {{ ref('stg_pxweb__datasets') }}

),

egss_years as (

    select distinct year from egss

),

demo_flag as (

    select bool_or(is_demo) as is_demo from datasets

),

spine as (

    select
        regions.region_code,
        regions.region_name_sv,
        regions.region_name_en,
        regions.region_level = 'county' as is_county,
        egss_years.year

    from regions
    cross join egss_years

),

joined as (

    select
        spine.region_code,
        spine.year,
        spine.region_name_sv,
        spine.region_name_en,
        spine.is_county,
        egss.establishments,
        egss.establishments_status,
        egss.employed,
        egss.employed_status,
        egss.net_turnover_msek,
        egss.net_turnover_msek_status,
        egss.export_msek,
        egss.export_msek_status,
        employment.total_employed_persons,
        employment.total_employed_persons_status,
        population.value as population,
        population.status as population_status,
        egss.source_updated as egss_source_updated,
        coalesce(demo_flag.is_demo, false) as is_demo

    from spine
    left join egss
        on spine.region_code = egss.region_code and spine.year = egss.year
    left join employment
        on spine.region_code = employment.region_code and spine.year = employment.year
    left join population
        on spine.region_code = population.region_code and spine.year = population.year
    cross join demo_flag

),

final as (

    select * from joined

)

select * from final
