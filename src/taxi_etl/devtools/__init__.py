"""Demo and test tooling, kept apart from the runtime: ``taxi_etl`` itself never imports it."""
