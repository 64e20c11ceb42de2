{#- One row per replaced cell of raw.egss_county__revisions: region_code (from Lan), year,
    source_code, measure, unit, the old value and status, and when/by which load it was replaced.
    Shape: macros/pxweb_staging.sql. -#}
{{ pxweb_staging_revisions(
    dataset='egss_county',
    region_col='Lan'
) }}
