"""The nightly risk batch on Spark: scoring transformations, the idempotent day load into the
warehouse, and spark-submit."""
