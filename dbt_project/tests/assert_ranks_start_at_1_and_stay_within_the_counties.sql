-- Ranks run from 1 to at most the number of counties with a value that year, and the largest
-- value always has rank 1 (ties share it).
with

region_years as (

    select * from {{ ref('fct_cleantech_region_year') }}

),

per_year as (

    select
        year,
        count(export_msek) as n_with_export,
        count(employed) as n_with_employed,
        max(export_rank) as max_export_rank,
        max(employed_rank) as max_employed_rank,
        min(export_rank) as min_export_rank,
        min(employed_rank) as min_employed_rank

    from region_years
    group by year

),

final as (

    select * from per_year
    where
        max_export_rank > n_with_export
        or max_employed_rank > n_with_employed
        or (n_with_export > 0 and min_export_rank <> 1)
        or (n_with_employed > 0 and min_employed_rank <> 1)

)

select * from final
