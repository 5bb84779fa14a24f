"""A link from the Airflow UI to the business dashboards (Apache Superset, `CP_SUPERSET_PUBLIC_URL`):
Browse > Business Dashboards opens Superset's dashboard list, which asks for its own login.

Superset refuses to be framed by another origin (its Content-Security-Policy), so this is a plain
link, not a page in a frame like the Data Docs."""

from __future__ import annotations

import os

from airflow.plugins_manager import AirflowPlugin

# where browsers reach Superset: Settings.superset_public_url, which the platform's Airflow environment
# passes (the port has one source, credit_platform.config); without it there is no link to show
SUPERSET_URL = os.environ.get("CP_SUPERSET_PUBLIC_URL", "").rstrip("/")


class BusinessDashboardsPlugin(AirflowPlugin):
    name = "business_dashboards"
    external_views = [{
        "name": "Business Dashboards",
        "href": f"{SUPERSET_URL}/dashboard/list/",
        "destination": "nav",
        "category": "browse",
    }] if SUPERSET_URL else []
