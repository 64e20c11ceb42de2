-- Total employed persons per region and year: the sum over every SNI 2007 group (including `00`,
-- unknown industry) and both sexes. NULL when any part is missing, so a suppressed cell never
-- turns into a too-small total; `n_missing_cells` says how many parts were missing.
with

employment_values as (

    select * from {{ ref('stg_pxweb__employment_county_industry_values') }}
    where measure = 'employed_persons'

),

aggregated as (

    select
        region_code,
        year,
        case
            when count(value) = count(*) then sum(value)
        end as total_employed_persons,
        case
            when count(value) < count(*) then string_agg(distinct status, ' ' order by status)
        end as total_employed_persons_status,
        count(*) as n_cells,
        count(*) - count(value) as n_missing_cells

    from employment_values
    group by region_code, year

),

final as (

    select * from aggregated

)

select * from final
