{#- One row per cell of raw.egss_county: region_code (from Lan), year, source_code, measure, unit,
    value, status and the load's audit columns. Shape: macros/pxweb_staging.sql. -#}
{{ pxweb_staging_values(
    dataset='egss_county',
    region_col='Lan'
) }}
