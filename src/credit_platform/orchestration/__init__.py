"""Airflow seen from the platform: the REST client the demo drives runs with, and the defaults
every DAG shares."""
