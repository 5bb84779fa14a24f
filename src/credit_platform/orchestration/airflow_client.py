"""Airflow 3 REST API client: log in for a token, unpause, trigger and watch DAG runs, read task logs."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable

from credit_platform.config import Settings
from credit_platform.contracts.names import AIRFLOW_ADMIN
from credit_platform.errors import PlatformError

FINISHED = {"success", "failed"}


class AirflowClient:
    def __init__(self, settings: Settings, username: str = AIRFLOW_ADMIN, password: str | None = None) -> None:
        self.base = settings.airflow_url
        if password is None:
            passwords = json.loads(settings.airflow_passwords_file.read_text())
            password = passwords[username]
        token = self._call("POST", "/auth/token", {"username": username, "password": password}, auth=False)
        self.token = token["access_token"]

    def _call(self, method: str, path: str, body: dict | None = None, auth: bool = True) -> dict:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if auth:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(f"{self.base}{path}", method=method, headers=headers,
                                         data=json.dumps(body).encode() if body is not None else None)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (configured URL)
                raw = response.read()
        except urllib.error.HTTPError as exc:
            raise PlatformError(f"Airflow {method} {path}: HTTP {exc.code} {exc.read()[:500]!r}") from exc
        return json.loads(raw) if raw else {}

    def dag(self, dag_id: str) -> dict:
        return self._call("GET", f"/api/v2/dags/{dag_id}")

    def wait_for_dag(self, dag_id: str, timeout: float = 180) -> dict:
        """Wait until the dag-processor has parsed the DAG file."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.dag(dag_id)
            except PlatformError:
                if time.monotonic() > deadline:
                    raise PlatformError(f"DAG {dag_id} not parsed by Airflow after {timeout:.0f}s; "
                                       "check the dag-processor log and the DAG's import errors") from None
                time.sleep(2)

    def unpause(self, dag_id: str) -> None:
        self._call("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})

    def pause_all(self) -> list[str]:
        """Pause every unpaused DAG (their schedules stop; runs under way finish); returns their ids."""
        dags = self._call("GET", "/api/v2/dags?paused=false&limit=1000")["dags"]
        for dag in dags:
            self._call("PATCH", f"/api/v2/dags/{dag['dag_id']}", {"is_paused": True})
        return [d["dag_id"] for d in dags]

    def active_runs(self) -> list[dict]:
        """Queued and running DAG runs of every DAG."""
        return self._call("GET", "/api/v2/dags/~/dagRuns?state=queued&state=running&limit=100")["dag_runs"]

    def trigger(self, dag_id: str, conf: dict | None = None, logical_date: str | None = None) -> str:
        run = self._call("POST", f"/api/v2/dags/{dag_id}/dagRuns",
                         {"logical_date": logical_date, "conf": conf or {}})
        return run["dag_run_id"]

    def run_state(self, dag_id: str, run_id: str) -> str:
        return self._call("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")["state"]

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 600,
                     on_progress: Callable[[str], None] | None = None) -> str:
        deadline = time.monotonic() + timeout
        state = ""
        while time.monotonic() < deadline:
            new_state = self.run_state(dag_id, run_id)
            if new_state != state and on_progress:
                on_progress(new_state)
            state = new_state
            if state in FINISHED:
                return state
            time.sleep(2)
        raise PlatformError(f"DAG run {dag_id}/{run_id} still {state} after {timeout:.0f}s")

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        return self._call("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int = 1, map_index: int = -1) -> str:
        path = (f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}"
                f"?map_index={map_index}&full_content=true")
        content = self._call("GET", path).get("content", "")
        return json.dumps(content) if not isinstance(content, str) else content
