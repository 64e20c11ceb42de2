-- One row per source dataset: where the figures come from, which vintage (the source's
-- `updated`) the marts show, whether it is demo data, and the latest load attempt.
with

datasets as (

    select * from {{ ref('stg_pxweb__datasets') }}

),

loads as (

    select * from {{ ref('stg_pxweb__loads') }}

),

latest_load as (

    select
        dataset,
        max(fetched_at) filter (where outcome in ('loaded', 'unchanged')) as last_checked_at,
        max(fetched_at) filter (where outcome = 'loaded') as last_loaded_at,
        arg_max(outcome, fetched_at) as last_outcome,
        arg_max(message, fetched_at) as last_message

    from loads
    group by dataset

),

final as (

    select
        datasets.dataset,
        datasets.source_table,
        datasets.dataset_label,
        datasets.source_name,
        datasets.source_updated,
        datasets.is_demo,
        datasets.notes,
        latest_load.last_checked_at,
        latest_load.last_loaded_at,
        latest_load.last_outcome,
        latest_load.last_message

    from datasets
    left join latest_load
        on datasets.dataset = latest_load.dataset

)

select * from final
