{#- One row per replaced cell of raw.employment_county_industry__revisions: region_code (from
    Region), year, industry_code (SNI2007), sex_code (Kon), source_code, measure, unit, the old
    value and status, and when/by which load it was replaced. Shape: macros/pxweb_staging.sql. -#}
{{ pxweb_staging_revisions(
    dataset='employment_county_industry',
    region_col='Region',
    extra_dims={'SNI2007': 'industry_code', 'Kon': 'sex_code'}
) }}
