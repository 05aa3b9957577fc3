"""Sample months the session mirror serves, shared by the fixtures and the tests."""

MIRROR_MONTHS = {
    # colour: (year, months, rows) — realistic shapes at test size
    "yellow": (2021, [1, 2, 3], 30_000),
    "green": (2020, [1, 2], 12_000),
    "fhv": (2019, [1, 2], 25_000),
}
