"""Screenshots of the command centre for docs/dashboards.md, from a running hub.

    cityhub demo --port 8050 &        # prints the user and password
    .venv/bin/python scripts/dashboard-screenshots.py http://127.0.0.1:8050 demo PASSWORD \
        docs/screenshots

Logs in through the form (headless Debian chromium and chromedriver), visits each page,
waits for it to draw, and saves ``<page>.png`` into the folder. On a hub serving several
cities (``cityhub demo --city bandung --city bogor``) it also saves ``cities.png``, the
navigation bar's city menu open. Exits 1, naming the page, when a page shows a browser
console error.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.browser import CHROMEDRIVER, chromium_options

PAGES = [("overview", "/", "#overview-map canvas"), ("traffic", "/traffic", None),
         ("flood", "/flood", None), ("lighting", "/lighting", None),
         ("sensor", "/sensor/{gauge}?range=6h", "#sensor-history .main-svg"),
         ("gateways", "/gateways", None), ("alarms", "/alarms", "#alarms-table .ag-row"),
         ("subscriptions", "/subscriptions", None), ("reports", "/reports", None),
         ("overview-id", "/language/id", "#overview-map canvas"),
         ("public", "/public", "#public-flood"), ("wall", "/?wall=1", "body.wall")]


def main(url: str, user: str, password: str, out: Path, gauge: str = "flood-cikapundung-dago"
         ) -> int:
    out.mkdir(parents=True, exist_ok=True)
    driver = webdriver.Chrome(options=chromium_options(),
                              service=Service(CHROMEDRIVER))
    wait = WebDriverWait(driver, 30)
    failed = []
    try:
        driver.get(f"{url}/login")
        driver.find_element(By.ID, "username").send_keys(user)
        driver.find_element(By.ID, "password").send_keys(password)
        driver.find_element(By.ID, "login-submit").click()
        wait.until(lambda d: d.find_elements(By.ID, "shell-user"))
        for name, path, ready in PAGES:
            driver.get(url + path.format(gauge=gauge))
            if ready:
                wait.until(lambda d, css=ready: d.find_elements(By.CSS_SELECTOR, css))
            time.sleep(3)  # the page's charts and first refresh
            driver.save_screenshot(str(out / f"{name}.png"))
            errors = [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
            if errors:
                failed.append(f"{name}: {errors}")
            if name == "overview-id":
                driver.get(f"{url}/language/en")
        driver.get(url + "/")
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#overview-map canvas"))
        menu = driver.find_elements(By.CSS_SELECTOR, "#shell-city .dropdown-toggle")
        if menu:  # several cities: the menu, open
            time.sleep(3)
            menu[0].click()
            wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#shell-city .dropdown-item"))
            driver.save_screenshot(str(out / "cities.png"))
    finally:
        driver.quit()
    for f in failed:
        print(f, file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    if len(sys.argv) not in (5, 6):
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2], sys.argv[3], Path(sys.argv[4]), *sys.argv[5:]))
