"""Screenshots of the Airflow UI, taken the way a person sees it: headless Chromium (Debian's
`chromium` + `chromium-driver`) logs in through the login form, opens a DAG run's grid, then the
Data Docs page from the UI's "Data Docs" link. Used by the tests and `credit-platform screenshots`."""

from __future__ import annotations

import time
from pathlib import Path

from credit_platform.config import Settings

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def _driver():  # noqa: ANN202
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1600,1000", "--hide-scrollbars"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def capture(settings: Settings, out_dir: Path, dag_id: str, run_id: str, username: str, password: str,
            timeout: float = 60) -> dict[str, Path]:
    """Log in, then save `<dag_id>_grid.png` (the run's grid) and `data_docs.png`; returns the paths
    and raises if a page does not show what it should."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    out_dir.mkdir(parents=True, exist_ok=True)
    base = settings.airflow_url
    driver = _driver()
    wait = WebDriverWait(driver, timeout)
    shots = {}
    try:
        driver.get(f"{base}/")
        wait.until(ec.presence_of_element_located((By.NAME, "username"))).send_keys(username)
        driver.find_element(By.NAME, "password").send_keys(password)
        driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait.until(lambda d: "/auth/login" not in d.current_url)

        driver.get(f"{base}/dags/{dag_id}/runs/{run_id}")
        wait.until(lambda d: dag_id in d.page_source and "success" in d.page_source.lower())
        time.sleep(3)  # let the grid finish drawing
        shots["grid"] = out_dir / f"{dag_id}_grid.png"
        driver.save_screenshot(str(shots["grid"]))

        driver.get(f"{base}/plugin/data-docs")
        frame = wait.until(ec.presence_of_element_located((By.TAG_NAME, "iframe")))
        driver.switch_to.frame(frame)
        wait.until(lambda d: "credit_scores" in d.page_source)
        driver.switch_to.default_content()
        time.sleep(2)
        shots["data_docs"] = out_dir / "data_docs.png"
        driver.save_screenshot(str(shots["data_docs"]))
    finally:
        driver.quit()
    return shots
