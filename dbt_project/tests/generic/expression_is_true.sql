{#- Rows for which a boolean SQL expression is not true. -#}
{% test expression_is_true(model, expression) %}

with

source_rows as (

    select *
    from {{ model }}

),

final as (

    select *
    from source_rows
    where not coalesce({{ expression }}, false)

)

select * from final

{% endtest %}
