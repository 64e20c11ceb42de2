{#- Groups of the given columns that occur more than once (a composite primary key test). -#}
{% test unique_combination_of_columns(model, combination_of_columns) %}

with

source_rows as (

    select {{ combination_of_columns | join(', ') }}
    from {{ model }}

),

final as (

    select
        {{ combination_of_columns | join(', ') }},
        count(*) as n_rows
    from source_rows
    group by {{ combination_of_columns | join(', ') }}
    having count(*) > 1

)

select * from final

{% endtest %}
