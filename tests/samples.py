"""Sample months the session mirror serves, shared by the fixtures and the tests: the
demo's months (written once, in taxi_etl.devtools.demo) at test size."""

from taxi_etl.devtools.demo import DEMO_SETS, MonthSet

ROWS = {"yellow": 30_000, "green": 12_000, "fhv": 25_000}
MIRROR_SETS = [MonthSet(s.colour, s.year, s.months, ROWS[s.colour.value]) for s in DEMO_SETS]
#: colour: (year, months, rows)
MIRROR_MONTHS = {s.colour.value: (s.year, list(s.months), ROWS[s.colour.value]) for s in DEMO_SETS}
#: Rows of each TLC month the session's TLC mirror serves.
TLC_ROWS = 2_000
