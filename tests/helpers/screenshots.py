"""Screenshots of the Airflow UI and the Superset dashboards, taken the way a person sees them:
headless Chromium (Debian's `chromium` + `chromium-driver`) logs in through the login form, opens a
DAG run's grid and the Data Docs page from the UI's "Data Docs" link, or each business dashboard,
waiting for every chart to draw. Used by the tests (and to refresh the README's pictures)."""

from __future__ import annotations

import time
from pathlib import Path

from credit_platform.config import Settings

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def _driver(window: str = "1600,1000"):  # noqa: ANN202
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                f"--window-size={window}", "--hide-scrollbars", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def _settled(condition):  # noqa: ANN001, ANN202 (a selenium wait condition)
    """`condition`, except that a page still navigating counts as "not yet": a client-side redirect
    (Airflow's and Superset's pages send an anonymous visitor on to their login) aborts a find or a
    read of the page with "aborted by navigation", which WebDriverWait would not retry."""
    from selenium.common.exceptions import WebDriverException

    def check(driver):  # noqa: ANN001, ANN202
        try:
            return condition(driver)
        except WebDriverException as exc:
            if "navigat" in (exc.msg or ""):
                return False
            raise

    return check


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
        wait.until(_settled(ec.presence_of_element_located((By.NAME, "username")))).send_keys(username)
        driver.find_element(By.NAME, "password").send_keys(password)
        driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait.until(_settled(lambda d: "/auth/login" not in d.current_url))

        driver.get(f"{base}/dags/{dag_id}/runs/{run_id}")
        wait.until(_settled(lambda d: dag_id in d.page_source and "success" in d.page_source.lower()))
        time.sleep(3)  # let the grid finish drawing
        shots["grid"] = out_dir / f"{dag_id}_grid.png"
        driver.save_screenshot(str(shots["grid"]))

        driver.get(f"{base}/plugin/data-docs")
        frame = wait.until(_settled(ec.presence_of_element_located((By.TAG_NAME, "iframe"))))
        driver.switch_to.frame(frame)
        wait.until(_settled(lambda d: "credit_scores" in d.page_source))
        driver.switch_to.default_content()
        time.sleep(2)
        shots["data_docs"] = out_dir / "data_docs.png"
        driver.save_screenshot(str(shots["data_docs"]))
    finally:
        driver.quit()
    return shots


# What a drawn chart holds (ECharts draws on a canvas or in SVG; tables and big numbers are HTML), what
# a chart still loading shows, and what a failed one shows.
_DRAWN = "canvas, svg, table, .header-line"
_LOADING = '[data-test="loading-indicator"], img[alt="Loading..."]'
_ERROR = '[data-test="error-message"], .alert, [role="alert"]'
_HOLDER = '[data-test="dashboard-component-chart-holder"]'


def capture_dashboards(settings: Settings, out_dir: Path, charts: dict[str, list[str]], username: str,
                       password: str, timeout: float = 240) -> dict[str, Path]:
    """Log in to Superset, open each dashboard (slug -> its chart titles), wait until every chart is
    drawn, and save `superset_<slug>.png`; raises naming each chart that shows an error or never draws."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    out_dir.mkdir(parents=True, exist_ok=True)
    base = settings.superset_url
    driver = _driver("1600,2600")
    wait = WebDriverWait(driver, timeout)
    shots = {}
    try:
        driver.get(f"{base}/login/")
        user = wait.until(_settled(ec.presence_of_element_located(
            (By.CSS_SELECTOR, "form input:not([type=password])"))))
        user.send_keys(username)
        secret = driver.find_element(By.CSS_SELECTOR, "form input[type=password]")
        secret.send_keys(password)
        secret.send_keys(Keys.ENTER)
        wait.until(_settled(lambda d: "/login" not in d.current_url))
        for slug, titles in charts.items():
            driver.get(f"{base}/superset/dashboard/{slug}/")

            def holders(d, titles=titles):  # noqa: ANN001, ANN202
                found = {}
                for holder in d.find_elements(By.CSS_SELECTOR, _HOLDER):
                    text = holder.get_attribute("innerText") or ""
                    for title in titles:
                        if text.startswith(title):
                            found[title] = holder
                return found

            def drawn(d, titles=titles):  # noqa: ANN001, ANN202
                found = holders(d)
                if any(h.find_elements(By.CSS_SELECTOR, _ERROR) for h in found.values()):
                    return True  # failed charts are reported below
                return len(found) == len(titles) and all(
                    h.find_elements(By.CSS_SELECTOR, _DRAWN) and not h.find_elements(By.CSS_SELECTOR, _LOADING)
                    for h in found.values())

            try:
                wait.until(_settled(drawn))
            except TimeoutException:
                pass
            found = holders(driver)
            failed = sorted(t for t, h in found.items() if h.find_elements(By.CSS_SELECTOR, _ERROR))
            missing = sorted(set(titles) - set(found))
            undrawn = sorted(t for t, h in found.items() if t not in failed and (
                not h.find_elements(By.CSS_SELECTOR, _DRAWN) or h.find_elements(By.CSS_SELECTOR, _LOADING)))
            time.sleep(2)  # let the last animations settle
            shots[slug] = out_dir / f"superset_{slug}.png"
            driver.save_screenshot(str(shots[slug]))
            if failed or missing or undrawn:
                raise AssertionError(f"dashboard {slug} ({shots[slug]}): charts with an error {failed}, "
                                     f"not on the page {missing}, not drawn after {timeout:.0f}s {undrawn}")
    finally:
        driver.quit()
    return shots
