"""What the unit tests share: a local Spark session for the rules' Spark twins."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def spark(request):
    """One local single-core Spark session per test module, on the loopback, in UTC."""
    import os

    from pyspark.sql import SparkSession

    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # the driver stays on the loopback
    session = (SparkSession.builder.master("local[1]").appName(request.module.__name__.rsplit(".", 1)[-1])
               .config("spark.sql.session.timeZone", "UTC").config("spark.ui.enabled", "false")
               .config("spark.sql.shuffle.partitions", "1").config("spark.driver.bindAddress", "127.0.0.1")
               .getOrCreate())
    yield session
    session.stop()
