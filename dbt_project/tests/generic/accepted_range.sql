{#- Rows whose value falls outside [min_value, max_value]; NULLs pass (missing is allowed, not 0). -#}
{% test accepted_range(model, column_name, min_value=none, max_value=none, inclusive=true) %}

with

source_rows as (

    select {{ column_name }} as tested_value
    from {{ model }}

),

final as (

    select *
    from source_rows
    where
        tested_value is not null
        and (
            false
            {%- if min_value is not none %}
                or tested_value {{ '<' if inclusive else '<=' }} {{ min_value }}
            {%- endif %}
            {%- if max_value is not none %}
                or tested_value {{ '>' if inclusive else '>=' }} {{ max_value }}
            {%- endif %}
        )

)

select * from final

{% endtest %}
