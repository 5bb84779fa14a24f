"""Great Expectations Data Docs and the credit model reports, served by the Airflow api-server
itself, behind Airflow's login.

- `fastapi_apps` mounts a small app at `/data-docs/` on the api-server; it serves the folder in
  `CP_DATA_DOCS_DIR` (the platform sets it to `.platform/gx/data_docs/local_site`) and checks the
  caller's Airflow JWT (the UI's `_token` cookie, or `Authorization: Bearer`). A browser without a
  session is sent to the login page and back.
- The pages load jQuery, Bootstrap and friends from public CDNs; the app rewrites those URLs to
  copies taken from npm by `make setup` (`CP_DATA_DOCS_VENDOR_DIR`), so the Data Docs render on
  machines without internet access too.
- `external_views` adds "Data Docs" to the UI's Browse menu; the UI shows it in a frame at
  `/plugin/data-docs`.
- The credit model reports (`CP_MODEL_REPORTS_DIR`, written by the train_credit_model DAG) are
  served the same way at `/model-reports/`, Browse > Credit Model Reports.
- The alerts firing now (Alertmanager's API, as `credit-platform alerts` lists them) at
  `/platform-alerts/`, Browse > Platform Alerts.

Workers and the dag-processor import plugins too, so Airflow's API-server modules are imported
only inside the request handler.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

from airflow.plugins_manager import AirflowPlugin
from fastapi import Depends, FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException
from starlette.staticfiles import StaticFiles

URL_PREFIX = "/data-docs"
DATA_DOCS_DIR = Path(os.environ.get("CP_DATA_DOCS_DIR", ".platform/gx/data_docs/local_site")).resolve()
REPORTS_PREFIX = "/model-reports"
REPORTS_DIR = Path(os.environ.get("CP_MODEL_REPORTS_DIR", ".platform/model_reports")).resolve()
VENDOR_DIR = Path(os.environ.get("CP_DATA_DOCS_VENDOR_DIR", "/nonexistent")).resolve()
VENDOR = "_vendor"  # the pages' CDN scripts and styles, served from npm copies (works offline)

_files = StaticFiles(directory=DATA_DOCS_DIR, html=True, check_dir=False)  # built later by the DQ runs
_vendor = StaticFiles(directory=VENDOR_DIR, check_dir=False)
_bearer = HTTPBearer(auto_error=False)


async def require_login(request: Request,
                        bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> None:
    from airflow.api_fastapi.auth.managers.models.resource_details import AccessView
    from airflow.api_fastapi.core_api.security import get_user, requires_access_view

    user = await get_user(request, None, bearer)
    requires_access_view(AccessView.WEBSITE)(request, user)


app = FastAPI(title="Great Expectations Data Docs", docs_url=None, redoc_url=None, openapi_url=None)


@app.exception_handler(HTTPException)
async def _to_login(request: Request, exc: HTTPException) -> Response:
    if exc.status_code == 401 and "text/html" in request.headers.get("accept", ""):
        from airflow.api_fastapi.app import get_auth_manager

        return RedirectResponse(get_auth_manager().get_url_login(next_url=str(request.url)), status_code=303)
    if exc.status_code == 404 and not (DATA_DOCS_DIR / "index.html").exists():
        return JSONResponse({"detail": f"no Data Docs yet in {DATA_DOCS_DIR}: run the data_quality DAG "
                                       "(or `credit-platform dq --date YYYY-MM-DD`)"}, status_code=404)
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)


@app.api_route("/{path:path}", methods=["GET", "HEAD"], dependencies=[Depends(require_login)])
async def serve(request: Request, path: str) -> Response:
    # StaticFiles refuses `..`, serves index.html for folders and answers ETag/304.
    if path.startswith(f"{VENDOR}/") and VENDOR_DIR.is_dir():
        scope = {**request.scope, "path": "/" + path.removeprefix(f"{VENDOR}/")}
        return await _vendor.get_response(_vendor.get_path(scope), scope)
    response = await _files.get_response(_files.get_path(request.scope), request.scope)
    if VENDOR_DIR.is_dir() and isinstance(response, FileResponse) and response.media_type == "text/html":
        from credit_platform.platform.datadocs_assets import rewrite

        page = Path(response.path).read_text(encoding="utf-8")  # a FileResponse
        prefix = f"{request.scope.get('root_path', '').rstrip('/')}/{VENDOR}"
        return HTMLResponse(rewrite(page, prefix))
    return response


reports = FastAPI(title="Credit model reports", docs_url=None, redoc_url=None, openapi_url=None)
_reports = StaticFiles(directory=REPORTS_DIR, html=True, check_dir=False)


@reports.exception_handler(HTTPException)
async def _reports_to_login(request: Request, exc: HTTPException) -> Response:
    if exc.status_code == 404 and not (REPORTS_DIR / "index.html").exists():
        return JSONResponse({"detail": f"no credit model reports yet in {REPORTS_DIR}: run the train_credit_model "
                                       "DAG (or `credit-platform train --as-of YYYY-MM-DD`)"}, status_code=404)
    return await _to_login(request, exc)


@reports.api_route("/{path:path}", methods=["GET", "HEAD"], dependencies=[Depends(require_login)])
async def serve_report(request: Request, path: str) -> Response:
    return await _reports.get_response(_reports.get_path(request.scope), request.scope)


ALERTS_PREFIX = "/platform-alerts"
alerts_app = FastAPI(title="Platform alerts", docs_url=None, redoc_url=None, openapi_url=None)
alerts_app.add_exception_handler(HTTPException, _to_login)


@alerts_app.get("/", dependencies=[Depends(require_login)])
async def firing_alerts() -> Response:
    """What Prometheus fired and Alertmanager holds now (credit_platform.alerting), and where it goes."""
    from html import escape

    from credit_platform import alerting, config
    from credit_platform.errors import PlatformError

    settings = config.load()
    try:
        found = alerting.alerts(settings, suppressed=True)
    except PlatformError as exc:
        return HTMLResponse(f"<p>{escape(str(exc))}</p>", status_code=503)
    receivers = alerting.local_receiver_summary(settings) or "the receivers of this deployment's configuration"
    rows = "".join(
        f"<tr><td>{escape(a['startsAt'][:19].replace('T', ' '))}</td><td>{escape(a['labels'].get('severity', '-'))}"
        f"</td><td>{escape(a['labels'].get('alertname', '?'))}</td><td>{escape(a['status']['state'])}</td><td>"
        f"{escape(' '.join(f'{k}={v}' for k, v in sorted(a['labels'].items()) if k not in ('alertname', 'severity')))}"
        f"</td><td>{escape(a.get('annotations', {}).get('summary', ''))}</td></tr>" for a in found)
    return HTMLResponse(
        "<!doctype html><meta charset=utf-8><title>Platform alerts</title>"
        "<style>body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}</style>"
        f"<h2>Platform alerts</h2><p>{len(found)} alert(s) at Alertmanager; notifications go to "
        f"{escape(receivers)}.</p>"
        + (f"<table><tr><th>since (UTC)</th><th>severity</th><th>alert</th><th>state</th><th>labels</th>"
           f"<th>summary</th></tr>{rows}</table>" if found else "<p>No alert is firing.</p>"))


class DataDocsPlugin(AirflowPlugin):
    name = "data_docs"
    fastapi_apps = [{"app": app, "url_prefix": URL_PREFIX, "name": "Great Expectations Data Docs"},
                    {"app": reports, "url_prefix": REPORTS_PREFIX, "name": "Credit model reports"},
                    {"app": alerts_app, "url_prefix": ALERTS_PREFIX, "name": "Platform alerts"}]
    external_views = [{
        "name": "Data Docs",
        "href": "data-docs/",  # relative: follows the UI's <base href>, also under a sub-path
        "destination": "nav",
        "category": "browse",
        "url_route": "data-docs",
    }, {
        "name": "Credit Model Reports",
        "href": "model-reports/",
        "destination": "nav",
        "category": "browse",
        "url_route": "model-reports",
    }, {
        "name": "Platform Alerts",
        "href": "platform-alerts/",
        "destination": "nav",
        "category": "browse",
        "url_route": "platform-alerts",
    }]
