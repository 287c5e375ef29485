"""The page's "Raporty" tab in real headless Chromium: the day report's totals and a search by
NIP show the invoice issued through the API, with its PDF and duplicate buttons."""
from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest

from test_web_browser import browser, shot  # noqa: F401  (browser: fixture)


@pytest.mark.timeout(120)
def test_books_tab_shows_the_day_report_and_finds_an_invoice_by_nip(tmp_path: Path, browser) -> None:  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    from daemon_fixtures import daemon_process

    body = {"buyer": {"name": "Hurtownia Pod Lipą", "nip": "5260250995"}, "payment": {"method": "card"},
            "lines": [{"name": "Kawa", "quantity": "2", "unit_price_gross": "89.99", "vat_rate": "23"}]}
    with daemon_process(tmp_path / "device") as dp:
        req = urllib.request.Request(dp.base_url + "/v1/invoices", data=json.dumps(body).encode(), method="POST",
                                     headers={**dp.auth, "Content-Type": "application/json", "Idempotency-Key": "b-1"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            inv = json.loads(resp.read())
        browser.get(f"{dp.base_url}/ui/#token={dp.token}")
        wait = WebDriverWait(browser, 20)
        wait.until(EC.visibility_of_element_located((By.ID, "view-kasa")))
        browser.find_element(By.ID, "tab-ksiegi").click()
        wait.until(EC.text_to_be_present_in_element((By.ID, "d-summary"), "179,98 zł"))
        summary = browser.find_element(By.ID, "d-summary").text
        assert "Faktury 1" in summary and inv["number"] in summary and "Czeka na KSeF 1" in summary
        assert "23%" in browser.find_element(By.ID, "d-rates").text
        browser.find_element(By.ID, "f-nip").send_keys("526-025-09-95")
        browser.find_element(By.CSS_SELECTOR, "#f-form button[type=submit]").click()
        wait.until(EC.text_to_be_present_in_element((By.ID, "f-results"), inv["number"]))
        row = browser.find_element(By.ID, "f-results").text
        assert "Hurtownia Pod Lipą" in row and "179,98 zł" in row and "PDF" in row and "Drukuj duplikat" in row
        browser.find_element(By.XPATH, "//table[@id='f-results']//button[normalize-space()='Pokaż']").click()
        wait.until(EC.visibility_of_element_located((By.ID, "f-detail")))
        wait.until(lambda b: b.execute_script("const i = document.getElementById('fd-receipt'); "
                                              "return i.complete && i.naturalWidth > 0;"))
        assert browser.find_element(By.ID, "fd-ksef").text == "jeszcze nie nadany"
        assert browser.find_element(By.ID, "fd-corrections").text == "brak"
        shot(browser, "books-tab", height=900)
        browser.find_element(By.ID, "f-nip").clear()
        browser.find_element(By.ID, "f-nip").send_keys("123")
        browser.find_element(By.CSS_SELECTOR, "#f-form button[type=submit]").click()
        wait.until(EC.text_to_be_present_in_element((By.ID, "f-error"), "Błędny warunek"))
        assert "NIP" in browser.find_element(By.ID, "f-error").text
