{#- One row per cell of raw.employment_county_industry: region_code (from Region), year,
    industry_code (SNI2007), sex_code (Kon), source_code, measure, unit, value, status and the
    load's audit columns. Shape: macros/pxweb_staging.sql. -#}
{{ pxweb_staging_values(
    dataset='employment_county_industry',
    region_col='Region',
    extra_dims={'SNI2007': 'industry_code', 'Kon': 'sex_code'}
) }}
