-- Q1. How much did Västra Götaland's cleantech exports grow 2010–2012, and how does that compare
--     with Stockholm and Skåne together?
-- One row: Västra Götaland's export at both ends, its change in MSEK and percent, and the same for
-- Stockholm (01) and Skåne (12) combined. Change the years in `growth` for another window.
with

growth as (

    select
        region_code,
        start_value,
        end_value,
        abs_change,
        pct_change

    from marts.cleantech_growth
    where
        measure = 'export_msek'
        and start_year = 2010
        and end_year = 2012

),

vastra_gotaland as (

    select * from growth
    where region_code = '14'

),

stockholm_and_skane as (

    select
        sum(start_value) as start_value,
        sum(end_value) as end_value,
        sum(abs_change) as abs_change

    from growth
    where region_code in ('01', '12')

),

final as (

    select
        vastra_gotaland.start_value as vg_export_2010_msek,
        vastra_gotaland.end_value as vg_export_2012_msek,
        vastra_gotaland.abs_change as vg_change_msek,
        round(vastra_gotaland.pct_change, 1) as vg_change_pct,
        stockholm_and_skane.abs_change as stockholm_skane_change_msek,
        round(
            100.0 * stockholm_and_skane.abs_change / stockholm_and_skane.start_value, 1
        ) as stockholm_skane_change_pct,
        vastra_gotaland.abs_change - stockholm_and_skane.abs_change as vg_minus_stockholm_skane_msek

    from vastra_gotaland
    cross join stockholm_and_skane

)

select * from final
