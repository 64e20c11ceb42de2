"""Synthetic, calibrated numbers for the demo tables (deterministic for a given numpy Generator)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

# Region code and Swedish name, Riket first (reference/se_county_codes.csv).
REGIONS: list[tuple[str, str]] = [
    ("00", "Riket"),
    ("01", "Stockholms län"),
    ("03", "Uppsala län"),
    ("04", "Södermanlands län"),
    ("05", "Östergötlands län"),
    ("06", "Jönköpings län"),
    ("07", "Kronobergs län"),
    ("08", "Kalmar län"),
    ("09", "Gotlands län"),
    ("10", "Blekinge län"),
    ("12", "Skåne län"),
    ("13", "Hallands län"),
    ("14", "Västra Götalands län"),
    ("17", "Värmlands län"),
    ("18", "Örebro län"),
    ("19", "Västmanlands län"),
    ("20", "Dalarnas län"),
    ("21", "Gävleborgs län"),
    ("22", "Västernorrlands län"),
    ("23", "Jämtlands län"),
    ("24", "Västerbottens län"),
    ("25", "Norrbottens län"),
]
COUNTIES = [c for c, _ in REGIONS[1:]]

# Rounded county populations (thousands) on 31 Dec 2000 and 2024: the demo's population anchors.
# Approximations of SCB's published levels, not copied from a table (see pxweb_demo/README.md).
POP_2000 = dict(
    zip(
        COUNTIES,
        [1823, 294, 257, 411, 328, 177, 235, 58, 150, 1129, 277]
        + [1495, 274, 274, 257, 279, 279, 245, 129, 255, 256],
        strict=True,
    )
)
POP_2024 = dict(
    zip(
        COUNTIES,
        [2470, 400, 300, 470, 370, 205, 247, 61, 157, 1420, 345]
        + [1760, 283, 306, 280, 288, 287, 243, 132, 275, 248],
        strict=True,
    )
)
STOCKHOLM_POP_2020 = 2392  # thousands; Stockholm grew fastest in the 2010s

# Skåne (12), employed in the environmental sector, total of women and men, 2003-2020:
# reference/skane_egss_employment_2003_2020.csv (SCB via Malmö Miljöbarometern).
SKANE_EMPLOYED = dict(
    zip(
        range(2003, 2021),
        [7710, 8056, 8700, 9687, 10188, 11222, 11618, 12342, 12639, 13191]
        + [13179, 13566, 14324, 15079, 16220, 17105, 17428, 18109],
        strict=True,
    )
)
# Stockholm (01) establishments 2003 and 2017 (Stockholm Miljöbarometern,
# reference/published_figures_egss_and_exports.csv).
STOCKHOLM_ESTABLISHMENTS = {2003: 1395, 2017: 1803}
VG_EMPLOYED_2012 = 14_000  # Business Region Göteborg claim, the highest of all counties
STOCKHOLM_EMPLOYED_2012 = 12_600  # demo choice: below VG's 14,000
VG_EXPORT_GROWTH = 1.64  # BRG claim: export +64 % 2010-2012
VG_EXPORT_2010 = 5_000  # MSEK, demo choice (a multiple of 25, so 1.64 x is whole MSEK)

EGSS_YEARS = list(range(2003, 2021))
RAMS_YEARS = list(range(2008, 2019))
POP_YEARS = list(range(2000, 2025))


def pin(base: np.ndarray, years: list[int], anchors: Mapping[int, float]) -> np.ndarray:
    """Scale a positive series to pass exactly through anchors (log-linear between, flat outside)."""
    at = sorted(anchors)
    log_ratio = [np.log(anchors[y] / base[years.index(y)]) for y in at]
    return base * np.exp(np.interp(years, at, log_ratio))


def wobble(rng: np.random.Generator, n: int, sd: float) -> np.ndarray:
    """Smooth multiplicative noise: exp of a zero-started random walk."""
    steps = rng.normal(0.0, sd, n)
    steps[0] = 0.0
    return np.exp(np.cumsum(steps))


def population_totals(rng: np.random.Generator, years: list[int]) -> dict[str, np.ndarray]:
    """County population (persons) for the given years, through the 2000/2024 anchors."""
    span = list(range(1999, 2025))
    t = (np.array(span) - 2000) / 24
    pick = [span.index(y) for y in years]
    out = {}
    for c in COUNTIES:
        p0, p1 = POP_2000[c] * 1000.0, POP_2024[c] * 1000.0
        base = p0 * (p1 / p0) ** t * wobble(rng, len(span), 0.002)
        anchors = {2000: p0, 2024: p1}
        if c == "01":
            anchors[2020] = STOCKHOLM_POP_2020 * 1000.0
        out[c] = pin(base, span, anchors)[pick]
    return out


def with_national(cube: np.ndarray) -> np.ndarray:
    """Prepend Riket (axis 0) = sum of the counties; NaN where any county is missing."""
    return np.concatenate([cube.sum(axis=0, keepdims=True), cube], axis=0)


@dataclass
class Egss:
    """MI1301T04 cube [region, contents, year] and its status symbols {(r, c, y): symbol}."""

    values: np.ndarray
    status: dict[tuple[int, int, int], str]


def egss(rng: np.random.Generator) -> Egss:
    """Environmental sector by county: establishments, employed, turnover and export."""
    years = EGSS_YEARS
    n = len(years)
    pop = population_totals(rng, years)
    skane = np.array([SKANE_EMPLOYED[y] for y in years], dtype=float)
    trend = skane / SKANE_EMPLOYED[2012]
    i2012 = years.index(2012)
    cube = np.zeros((len(COUNTIES), 4, n))
    for k, c in enumerate(COUNTIES):
        rate = rng.uniform(6.0, 9.0)  # employed per 1,000 inhabitants in 2012
        beta = 0.31 if c == "01" else rng.uniform(0.5, 0.9)
        if c == "12":
            employed = skane.copy()
        else:
            employed = pop[c][i2012] * rate / 1000 * trend**beta * wobble(rng, n, 0.015)
            if c == "14":
                employed = pin(employed, years, {2012: VG_EMPLOYED_2012})
            elif c == "01":
                employed = pin(employed, years, {2012: STOCKHOLM_EMPLOYED_2012})
        size = rng.uniform(3.3, 4.8)  # persons per establishment in 2003
        est = employed[0] / size * (employed / employed[0]) ** 0.55 * wobble(rng, n, 0.01)
        if c == "01":
            est = pin(est, years, STOCKHOLM_ESTABLISHMENTS)
        productivity = rng.uniform(2.2, 3.2) * 1.03 ** np.arange(n) * wobble(rng, n, 0.02)
        turnover = employed * productivity
        share = rng.uniform(0.10, 0.20) * (1 + 0.01 * np.arange(n)) * wobble(rng, n, 0.03)
        cube[k] = np.round([est, employed, turnover, turnover * share])
    _calibrate_exports(cube, years)
    status: dict[tuple[int, int, int], str] = {}
    gotland = COUNTIES.index("09")
    for y, sym in ((2003, ".."), (2004, ".."), (2005, ".."), (2006, ".")):
        cube[gotland, 3, years.index(y)] = np.nan
        status[(gotland + 1, 3, years.index(y))] = sym
    full = with_national(cube)
    for r, ci, yi in zip(*np.nonzero(np.isnan(full[:1])), strict=True):
        status[(int(r), int(ci), int(yi))] = ".."  # Riket is not available where a county is not
    return Egss(full, status)


def _calibrate_exports(cube: np.ndarray, years: list[int]) -> None:
    """VG export 2012 = 1.64 x 2010, and VG's increase = Stockholm's + Skåne's increase."""
    i10 = years.index(2010)
    vg, st, sk = COUNTIES.index("14"), COUNTIES.index("01"), COUNTIES.index("12")
    a = VG_EXPORT_2010
    rise = round(a * (VG_EXPORT_GROWTH - 1))
    a_st, a_sk = cube[st, 3, i10], cube[sk, 3, i10]
    rise_st = round(rise * a_st / (a_st + a_sk))
    for k, v10, r in ((vg, a, rise), (st, a_st, rise_st), (sk, a_sk, rise - rise_st)):
        cube[k, 3] = np.round(pin(cube[k, 3], years, {2010: v10, 2012: v10 + r}))


SNI_CODES = ["A", "B+C", "D+E", "F", "G", "H", "I", "J", "K", "L", "M+N", "O", "P", "Q"]
SNI_CODES += ["R+S+T+U", "00"]
SNI_SHARE = [2.0, 12.0, 1.2, 7.0, 12.0, 5.0, 3.5, 4.0, 2.0, 1.5, 12.0, 6.0, 11.0, 15.0, 4.5, 1.3]
SNI_WOMEN = [0.25, 0.25, 0.25, 0.10, 0.45, 0.25, 0.55, 0.30, 0.50, 0.40, 0.42, 0.55, 0.72, 0.80]
SNI_WOMEN += [0.55, 0.45]
# Workplace employment per inhabitant (day population): higher where people commute in.
DAY_RATIO = {"01": 0.565, "14": 0.50, "12": 0.47, "09": 0.49}
# Industry mix: Stockholm leans to J, K, M+N; Gotland to agriculture.
SNI_TILT = {"01": {"J": 2.0, "K": 2.0, "M+N": 1.4, "A": 0.2, "B+C": 0.5}, "09": {"A": 3.0}}


def rams(rng: np.random.Generator) -> np.ndarray:
    """TAB900 cube [region, sni, sex, contents, year]: employed 16+ by workplace county."""
    years = RAMS_YEARS
    n = len(years)
    pop = population_totals(rng, years)
    cube = np.zeros((len(COUNTIES), len(SNI_CODES), 2, 1, n))
    for k, c in enumerate(COUNTIES):
        ratio = DAY_RATIO.get(c, rng.uniform(0.45, 0.49))
        total = pop[c] * ratio * (1 + 0.002 * np.arange(n)) * wobble(rng, n, 0.004)
        tilt = np.array([SNI_TILT.get(c, {}).get(s, 1.0) for s in SNI_CODES])
        share = np.array(SNI_SHARE) * tilt * rng.lognormal(0.0, 0.15, len(SNI_CODES))
        drift = np.stack([wobble(rng, n, 0.01) for _ in SNI_CODES])
        share = share[:, None] * drift
        share /= share.sum(axis=0, keepdims=True)
        women = np.clip(np.array(SNI_WOMEN) + rng.normal(0, 0.02, len(SNI_CODES)), 0.03, 0.95)
        by_sex = np.stack([1 - women, women], axis=1)  # [sni, sex]
        cube[k, :, :, 0, :] = np.round(
            total[None, None, :] * share[:, None, :] * by_sex[:, :, None]
        )
    return with_national(cube)


CIVIL_CODES = ["OG", "G", "ÄNKL", "SK"]
AGE_BANDS = ["0-17", "18-24", "25-44", "45-64", "65-79", "80+"]
AGE_SHARE = np.array([0.215, 0.09, 0.26, 0.25, 0.135, 0.05])
AGE_TREND = np.array([-0.001, 0.0, -0.003, -0.002, 0.012, 0.006])  # yearly drift: ageing
WOMEN_BY_AGE = np.array([0.487, 0.49, 0.49, 0.495, 0.51, 0.60])
# Marital status shares (OG, G, ÄNKL, SK) by age band, [sex][band]; women are more often widowed.
CIVIL_SHARE = np.array(
    [
        [[1, 0, 0, 0], [0.97, 0.03, 0, 0], [0.52, 0.41, 0.002, 0.068], [0.24, 0.55, 0.02, 0.19]]
        + [[0.10, 0.62, 0.10, 0.18], [0.06, 0.58, 0.26, 0.10]],
        [[1, 0, 0, 0], [0.95, 0.05, 0, 0], [0.47, 0.45, 0.005, 0.075], [0.19, 0.56, 0.05, 0.20]]
        + [[0.08, 0.52, 0.22, 0.18], [0.05, 0.25, 0.60, 0.10]],
    ]
)


def population(rng: np.random.Generator) -> np.ndarray:
    """TAB638 cube [region, civil, age (bands + tot), sex, contents (N1, N2), year]."""
    years = [POP_YEARS[0] - 1, *POP_YEARS]  # one year before, for the first increase
    n = len(years)
    totals = population_totals(rng, years)
    t = np.array(years) - 2012
    stock = np.zeros((len(COUNTIES), len(CIVIL_CODES), len(AGE_BANDS), 2, n))
    for k, c in enumerate(COUNTIES):
        young = 1.15 if c == "01" else 1.0  # Stockholm is younger
        tilt = AGE_SHARE * rng.lognormal(0.0, 0.05, len(AGE_BANDS))
        tilt[2] *= young
        ages = tilt[:, None] * np.exp(AGE_TREND[:, None] * t[None, :])
        ages /= ages.sum(axis=0, keepdims=True)  # [band, year]
        sexes = np.stack([1 - WOMEN_BY_AGE, WOMEN_BY_AGE], axis=1)  # [band, sex]
        civil = CIVIL_SHARE.transpose(2, 1, 0)  # [civil, band, sex]
        cells = totals[c][None, None, None, :] * civil[..., None] * ages[None, :, None, :]
        stock[k] = np.round(cells * sexes[None, :, :, None])
    stock = np.concatenate([stock, stock.sum(axis=2, keepdims=True)], axis=2)  # Alder "tot"
    increase = np.diff(stock, axis=-1)
    cube = np.stack([stock[..., 1:], increase], axis=4)  # [r, civ, age, sex, contents, year]
    return with_national(cube)
