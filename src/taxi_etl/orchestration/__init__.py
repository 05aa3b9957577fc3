"""The Prefect side: everything that knows Prefect exists, in one package.

The domain modules below it (``params`` to ``pipeline``) never import Prefect; the
flows here are thin wiring over ``pipeline.run_month``, the one sequencer of a
month's steps. What differs between the Prefect lines is in ``compat`` alone.

* ``month_tasks``, ``month_flow``: a month's steps as Prefect tasks, and the course's
  child flow ``etl_web_to_gcs`` that runs them;
* ``fanout``, ``dask_flow``, ``runners``: a run's months as child flows in this
  process or as tasks on Dask, at most ``concurrency`` at once;
* ``parent_flows``: ``etl_parent_flow``, ``etl_backfill_flow``, ``etl_catchup_flow``;
* ``artifacts``, ``notifications``, ``orphans``: what a run shows in the UI, who is
  told of a failure, and runs a dead parent left Running;
* ``compat``, ``deprecations``, ``embedded``: the two lines' differences, the
  warnings accepted on the Prefect 2 line, and the embedded API's home.

``taxi_etl.flows`` re-exports the deployable flows: deploy.py and the course's
``prefect deployment build src/taxi_etl/flows.py:etl_parent_flow`` keep their paths.
"""
