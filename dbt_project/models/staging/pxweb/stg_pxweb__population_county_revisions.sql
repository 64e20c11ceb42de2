{#- One row per replaced cell of raw.population_county__revisions: region_code (from Region), year,
    source_code, measure, unit, the old value and status, and when/by which load it was replaced.
    Shape: macros/pxweb_staging.sql. -#}
{{ pxweb_staging_revisions(
    dataset='population_county',
    region_col='Region'
) }}
