{%- set measures = ['establishments', 'employed', 'net_turnover_msek', 'export_msek'] -%}

with

egss_values as (

    select * from {{ ref('stg_pxweb__egss_county_values') }}

),

pivoted as (

    select
        region_code,
        year,
        {%- for measure in measures %}
        max(value) filter (where measure = '{{ measure }}') as {{ measure }},
        max(status) filter (where measure = '{{ measure }}') as {{ measure }}_status,
        {%- endfor %}
        max(source_updated) as source_updated

    from egss_values
    group by region_code, year

),

final as (

    select * from pivoted

)

select * from final
