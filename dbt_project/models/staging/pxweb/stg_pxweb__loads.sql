with

source as (

    select * from {{ source('pxweb', '_load_log') }}

),

renamed as (

    select
        load_id::varchar as load_id,
        dataset::varchar as dataset,
        source_table::varchar as source_table,
        source_url::varchar as source_url,
        source_updated::timestamptz as source_updated,
        fetched_at::timestamptz as fetched_at,
        rows::bigint as n_rows,
        requests::integer as n_requests,
        bytes::bigint as n_bytes,
        seconds::double as seconds,
        outcome::varchar as outcome,
        message::varchar as message

    from source

),

final as (

    select * from renamed

)

select * from final
