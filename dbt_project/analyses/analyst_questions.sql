-- The analysts' questions, one short query each (compile with `dbt compile`; run the compiled
-- SQL, or the same text with `marts.` names, in any DuckDB client on the published warehouse).

-- 1. How much did Västra Götaland's cleantech exports grow 2010 → 2012, in MSEK and percent, and
--    how does that compare with all other counties combined?
select
    region_code,
    abs_change,
    pct_change,
    others_abs_change,
    others_pct_change
from {{ ref('cleantech_growth') }}
where
    region_code = '14'
    and measure = 'export_msek'
    and start_year = 2010
    and end_year = 2012
