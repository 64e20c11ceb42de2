with

source as (

    select * from {{ source('pxweb', '_datasets') }}

),

renamed as (

    select
        dataset::varchar as dataset,
        source_table::varchar as source_table,
        label::varchar as dataset_label,
        source::varchar as source_name,
        -- NULL when the source's `updated` could not be read (the loader keeps the text as given)
        try_cast(updated as timestamptz) as source_updated,
        coalesce(is_demo, false)::boolean as is_demo,
        notes::varchar as notes

    from source

),

final as (

    select * from renamed

)

select * from final
