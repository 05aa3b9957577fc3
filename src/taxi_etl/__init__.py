"""NYC TLC trip records (yellow, green, fhv) into a typed parquet lake, as Prefect 2 flows."""

__version__ = "0.1.0"
