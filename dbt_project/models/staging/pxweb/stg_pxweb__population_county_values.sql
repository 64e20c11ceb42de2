{#- One row per cell of raw.population_county: region_code (from Region), year, source_code,
    measure, unit, value, status and the load's audit columns. Shape: macros/pxweb_staging.sql. -#}
{{ pxweb_staging_values(
    dataset='population_county',
    region_col='Region'
) }}
