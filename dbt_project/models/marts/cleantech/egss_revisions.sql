-- Every vintage of every EGSS cell: the current one (from raw.egss_county) and each one a later
-- vintage replaced (from raw.egss_county__revisions). A vintage is valid from `vintage_updated`
-- (the source's `updated`) until `superseded_by_updated` (NULL while current), so "what did the
-- table say on date X" is one filter. The marts show the current vintage only.
with

current_values as (

    select * from {{ ref('stg_pxweb__egss_county_values') }}

),

replaced_values as (

    select * from {{ ref('stg_pxweb__egss_county_revisions') }}

),

datasets as (

    select * from {{ ref('stg_pxweb__datasets') }}

),

-- like the other marts: the whole warehouse is demo data when any loaded dataset is
demo_flag as (

    select bool_or(is_demo) as is_demo from datasets

),

vintages as (

    select
        region_code,
        year,
        measure,
        unit,
        value,
        status,
        source_updated as vintage_updated,
        cast(null as timestamptz) as superseded_by_updated,
        cast(null as timestamptz) as replaced_at,
        true as is_current

    from current_values

    union all

    select
        region_code,
        year,
        measure,
        unit,
        value,
        status,
        vintage_updated,
        replaced_by_updated as superseded_by_updated,
        replaced_at,
        false as is_current

    from replaced_values

),

-- a cell replaced twice within one vintage (e.g. reloads) keeps its latest replacement
deduplicated as (

    select *
    from vintages
    qualify
        row_number() over (
            partition by region_code, year, measure, vintage_updated
            order by is_current desc, replaced_at desc nulls first
        ) = 1

),

with_current as (

    select
        deduplicated.*,
        current_values.value as current_value,
        current_values.value - deduplicated.value as change_to_current

    from deduplicated
    left join current_values
        on
            deduplicated.region_code = current_values.region_code
            and deduplicated.year = current_values.year
            and deduplicated.measure = current_values.measure

),

final as (

    select
        with_current.region_code,
        with_current.year,
        with_current.measure,
        with_current.unit,
        with_current.vintage_updated,
        with_current.superseded_by_updated,
        with_current.is_current,
        with_current.value,
        with_current.status,
        with_current.current_value,
        with_current.change_to_current,
        with_current.replaced_at,
        coalesce(demo_flag.is_demo, false) as is_demo

    from with_current
    cross join demo_flag

)

select * from final
