-- The 21 counties add up to the source's national row (`00`), for every EGSS measure and for
-- total employment and population, in every year where the source has a national row and every
-- county has a value. Tolerance: 1 % of the national figure or 1 unit, whichever is larger —
-- SCB rounds each published cell (MSEK to whole millions) and counts establishments, people and
-- money where the unit sits, so a county sum may differ from the national total by rounding.
{{ config(severity='error') }}

{%- set measures = [
    'establishments', 'employed', 'net_turnover_msek', 'export_msek',
    'total_employed_persons', 'population',
] %}

with

region_years as (

    select * from {{ ref('int_region_years_joined') }}

),

long_values as (

    {%- for measure in measures %}
    select
        region_code,
        is_county,
        year,
        '{{ measure }}' as measure,
        {{ measure }} as measure_value

    from region_years
    {{ "union all" if not loop.last }}
    {%- endfor %}

),

county_sums as (

    select
        year,
        measure,
        sum(measure_value) as county_sum

    from long_values
    where is_county
    group by year, measure
    having count(measure_value) = count(*)

),

national as (

    select
        year,
        measure,
        measure_value as national_value

    from long_values
    where region_code = '00' and measure_value is not null

),

final as (

    select
        national.year,
        national.measure,
        national.national_value,
        county_sums.county_sum,
        county_sums.county_sum - national.national_value as difference

    from national
    inner join county_sums
        on national.year = county_sums.year and national.measure = county_sums.measure
    where
        abs(county_sums.county_sum - national.national_value)
        > greatest(1.0, 0.01 * abs(national.national_value))

)

select * from final
