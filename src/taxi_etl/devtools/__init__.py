"""Demo and test tooling: sample months, local mirrors, the course's reference transform.

Kept apart from the runtime, which never imports it (``taxi-etl demo`` does, lazily).
"""
