-- One row per county, measure and pair of EGSS years (start_year < end_year): the values at both
-- ends, the change in the measure's unit and in percent, and the same for all other counties
-- combined. NULL where either end is missing (or, for percentages, the start is 0): never 0.
{#- measures, units and additivity: `vars.cleantech_growth_measures` in dbt_project.yml -#}
{%- set measures = var('cleantech_growth_measures') %}

with

region_years as (

    select * from {{ ref('fct_cleantech_region_year') }}

),

measure_values as (

    {%- for measure, spec in measures.items() %}
    select
        region_code,
        year,
        '{{ measure }}' as measure,
        '{{ spec.unit }}' as unit,
        {{ spec.additive }} as is_additive,
        {{ measure }}::double as measure_value,
        is_demo

    from region_years
    {{ "union all" if not loop.last }}
    {%- endfor %}

),

-- per measure and year: the sum over all counties and how many have a value
county_totals as (

    select
        measure,
        year,
        bool_and(is_additive) as is_additive,
        sum(measure_value) as all_counties_value,
        count(*) as n_counties,
        count(measure_value) as n_counties_with_value

    from measure_values
    group by measure, year

),

-- all other counties combined: only for additive measures, and only when every other county
-- has a value (the county's own value may be missing)
with_others as (

    select
        measure_values.*,
        case
            when
                county_totals.is_additive
                and county_totals.n_counties_with_value
                - (measure_values.measure_value is not null)::integer
                = county_totals.n_counties - 1
                then county_totals.all_counties_value - coalesce(measure_values.measure_value, 0)
        end as others_value

    from measure_values
    inner join county_totals
        on
            measure_values.measure = county_totals.measure
            and measure_values.year = county_totals.year

),

year_pairs as (

    select
        start_side.region_code,
        start_side.measure,
        start_side.unit,
        start_side.year as start_year,
        end_side.year as end_year,
        start_side.measure_value as start_value,
        end_side.measure_value as end_value,
        start_side.others_value as others_start_value,
        end_side.others_value as others_end_value,
        start_side.is_demo

    from with_others as start_side
    inner join with_others as end_side
        on
            start_side.region_code = end_side.region_code
            and start_side.measure = end_side.measure
            and start_side.year < end_side.year

),

changes as (

    select
        *,
        end_value - start_value as abs_change,
        case
            when start_value <> 0 then 100.0 * (end_value - start_value) / start_value
        end as pct_change,
        case
            when start_value > 0 and end_value >= 0
                then 100.0 * (pow(end_value / start_value, 1.0 / (end_year - start_year)) - 1)
        end as annual_growth_pct,
        others_end_value - others_start_value as others_abs_change,
        case
            when others_start_value <> 0
                then 100.0 * (others_end_value - others_start_value) / others_start_value
        end as others_pct_change

    from year_pairs

),

final as (

    select
        region_code,
        measure,
        start_year,
        end_year,
        unit,
        start_value,
        end_value,
        abs_change,
        pct_change,
        annual_growth_pct,
        others_start_value,
        others_end_value,
        others_abs_change,
        others_pct_change,
        is_demo,
        -- both ends as DATEs (1 January) for BI tools' time axes and filters
        make_date(start_year, 1, 1) as start_period_date,
        make_date(end_year, 1, 1) as end_period_date

    from changes

)

select * from final
