"""The cashier and status page in a real headless Chromium, against `scripts/demo --serve`'s stack
(real ksef-sim + real ksef-edge subprocesses on 127.0.0.1, uplink on, file printer).

A cashier logs in with the API token, rings up items, checks a buyer NIP as typed, issues an invoice,
sees the receipt and its print state; the status view then lists it, and the uplink gives it a KSeF
number and a UPO; a return of one item from the list ("Korekta") issues a correction with its receipt. Screenshots land in tests/artifacts/ (ignored by git).
"""
from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"

pytestmark = pytest.mark.skipif(
    not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()),
    reason="needs Debian chromium + chromium-driver (scripts/setup-env installs them as root)",
)


class Demo:
    def __init__(self, out: Path) -> None:
        env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC")}
        self.proc = subprocess.Popen([sys.executable, "-u", "-m", "ksef_demo", "--out", str(out), "--serve"],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO, env=env)
        self.lines: list[str] = []
        self._q: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._q.put(line.rstrip("\n"))
        self._q.put(None)

    def wait_for(self, pattern: str, timeout: float = 60.0) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._q.get(timeout=0.5)
            except queue.Empty:
                continue
            if line is None:
                break
            self.lines.append(line)
            m = re.search(pattern, line)
            if m:
                return m
        raise AssertionError(f"demo never printed {pattern!r}:\n" + "\n".join(self.lines))

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.wait()


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    d = Demo(tmp_path / "demo-out")
    try:
        yield d
    finally:
        d.stop()


@pytest.fixture
def browser(tmp_path: Path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                f"--user-data-dir={tmp_path / 'chromium-profile'}", "--window-size=800,480", "--lang=pl-PL"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(20)
    try:
        yield driver
    finally:
        driver.quit()


def shot(driver, name: str, height: int | None = None) -> Path:
    """Save a screenshot (viewport of a 7" 800x480 screen, or the full page height) for a person to look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / ".gitignore").write_text("*\n")
    path = ARTIFACTS / f"{name}.png"
    if height:
        driver.set_window_size(800, height)
    driver.save_screenshot(str(path))
    if height:
        driver.set_window_size(800, 480)
    return path


@pytest.mark.timeout(120)
def test_cashier_issues_an_invoice_and_sees_it_in_status(demo: Demo, browser) -> None:
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    m = demo.wait_for(r"Cashier and status page: (http://127\.0\.0\.1:\d+)/ui/#token=(\S+)", timeout=90)
    base, token = m.group(1), m.group(2)
    wait = WebDriverWait(browser, 20)
    by_id = lambda i: browser.find_element(By.ID, i)  # noqa: E731

    # --- log in: a wrong token is refused with a message, the right one opens the till
    browser.get(base + "/")
    wait.until(EC.visibility_of_element_located((By.ID, "login-token")))
    by_id("login-token").send_keys("not-the-token-0000")
    browser.find_element(By.CSS_SELECTOR, "#login-form button[type=submit]").click()
    wait.until(EC.text_to_be_present_in_element((By.ID, "login-error"), "Token nie pasuje"))
    by_id("login-token").send_keys(token)
    browser.find_element(By.CSS_SELECTOR, "#login-form button[type=submit]").click()
    wait.until(EC.visibility_of_element_located((By.ID, "view-kasa")))
    # nothing stops issuing: the pill is green, or amber for a warning (a container's clock is not NTP-synced)
    wait.until(lambda d: {"ok", "warn"} & set(by_id("health").get_attribute("class").split()))

    # --- ring up: two products from the list (one twice) and a typed line
    products = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#products button"))
    names = [p.text for p in products]
    bread = next(p for p in products if p.text.startswith("Chleb"))
    latte = next(p for p in products if p.text.startswith("Kawa latte"))
    bread.click()
    bread.click()
    latte.click()
    by_id("manual").click()
    by_id("m-name").send_keys("Krojenie chleba na życzenie")
    by_id("m-qty").clear()
    by_id("m-qty").send_keys("1")
    by_id("m-price").send_keys("1,50")
    browser.find_element(By.CSS_SELECTOR, "#manual-form button[type=submit]").click()
    assert len(browser.find_elements(By.CSS_SELECTOR, "#cart tbody tr")) == 3, names
    assert by_id("cart-total").text == "43,30 zł"  # 2 x 12,90 + 16,00 + 1,50

    # --- buyer NIP checked as it is typed: a wrong check digit blocks issuing
    by_id("buyer").click()  # the buyer fields are folded away until asked for
    by_id("buyer-nip").send_keys("526-587-76-34")
    wait.until(EC.text_to_be_present_in_element((By.ID, "nip-state"), "Błędny NIP"))
    assert not by_id("issue").is_enabled()
    by_id("buyer-nip").clear()
    by_id("buyer-nip").send_keys("PL 111-111-11-11")
    wait.until(EC.text_to_be_present_in_element((By.ID, "nip-state"), "NIP poprawny"))
    assert not by_id("issue").is_enabled()  # a buyer with NIP needs a name
    by_id("buyer-name").send_keys("Kawiarnia „Pod Lipą” Sp. z o.o.")
    wait.until(lambda d: by_id("issue").is_enabled())
    browser.execute_script("window.scrollTo(0, 0)")
    shot(browser, "web-cashier-cart", height=1000)

    # --- issue: the invoice number, the receipt preview and the print state appear
    by_id("issue").click()
    wait.until(EC.visibility_of_element_located((By.ID, "result")))
    number = by_id("r-number").text
    assert re.fullmatch(r"FV/DEMO1/\d{4}/\d{2}/\d{6}", number), number
    wait.until(EC.text_to_be_present_in_element((By.ID, "r-print"), "wydrukowano"))
    wait.until(lambda d: d.execute_script("const i = document.getElementById('r-receipt'); return i.complete && i.naturalWidth > 0"))
    assert browser.execute_script("return document.getElementById('r-receipt').naturalWidth") > 500
    browser.execute_script("document.getElementById('result').scrollIntoView()")  # as the page does after issuing
    # whatever the page scrolls to stays below the sticky bar: the number is seen, the reprint button gets a tap
    wait.until(lambda d: d.execute_script(
        "const top = (id) => document.getElementById(id).getBoundingClientRect();"
        "const hit = (id) => document.elementFromPoint(top(id).left + top(id).width / 2, top(id).top + top(id).height / 2);"
        "return top('result').top >= document.querySelector('.bar').getBoundingClientRect().bottom"
        " && hit('r-number')?.id === 'r-number' && hit('reprint')?.id === 'reprint'"))
    shot(browser, "web-cashier-receipt")

    # --- reprint goes back to the printer
    by_id("reprint").click()
    wait.until(EC.text_to_be_present_in_element((By.ID, "r-print"), "wydrukowano"))
    assert by_id("r-print-error").text == ""

    # --- status: the new invoice is listed and the uplink gives it a KSeF number; demo invoices have UPOs
    by_id("tab-status").click()
    wait.until(EC.visibility_of_element_located((By.ID, "view-status")))
    row_xpath = f"//table[@id='recent']//tr[td[1][normalize-space()='{number}']]"
    wait.until(EC.presence_of_element_located((By.XPATH, row_xpath)))
    long_wait = WebDriverWait(browser, 40)
    long_wait.until(lambda d: re.match(r"\d{10}-\d{8}-[0-9A-F]{12}-[0-9A-F]{2}$",
                                       d.find_element(By.XPATH, row_xpath + "/td[3]").text))
    long_wait.until(lambda d: d.find_elements(By.XPATH, row_xpath + "//button[@class='upo']"))
    assert len(browser.find_elements(By.CSS_SELECTOR, "#recent button.upo")) >= 5
    assert by_id("s-can-issue").text == "możliwe"
    assert "dostępny" in by_id("s-ksef").text
    assert "Offline" in by_id("s-cert").text
    assert by_id("s-printer").text == "gotowa"
    assert by_id("s-deadline").text == "brak"  # everything is in KSeF: no deadline left
    browser.execute_script("window.scrollTo(0, 0)")
    shot(browser, "web-status", height=1100)
    shot(browser, "web-status-small")

    # --- a return from the recent list: "Korekta", an over-return refused with the field named, then 1 bread
    kor_button = row_xpath + "//button[@class='kor']"
    for _ in range(5):  # the list is redrawn every 5 s: click a fresh element
        try:
            browser.find_element(By.XPATH, kor_button).click()
            break
        except StaleElementReferenceException:
            continue
    wait.until(EC.visibility_of_element_located((By.ID, "view-korekta")))
    wait.until(EC.text_to_be_present_in_element((By.ID, "k-number"), number))
    rows = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#k-lines tbody tr"))
    assert [r.find_elements(By.TAG_NAME, "td")[3].text for r in rows] == ["2", "1", "1"]  # nothing returned yet
    assert rows[0].text.startswith("1 Chleb")
    by_id("k-qty-1").send_keys("5")
    by_id("k-submit").click()
    wait.until(EC.text_to_be_present_in_element((By.ID, "k-error"), "Nie wystawiono korekty"))
    error = by_id("k-error").text
    assert "pozycja 1" in error and "najwyżej 2 szt" in error, error  # Polish, the line and what is allowed
    assert "invalid" in by_id("k-qty-1").get_attribute("class").split()
    shot(browser, "web-correction-refused", height=900)
    by_id("k-qty-1").clear()
    by_id("k-qty-1").send_keys("1")
    browser.find_element(By.CSS_SELECTOR, "input[name=k-refund][value=card]").click()
    by_id("k-submit").click()
    wait.until(EC.visibility_of_element_located((By.ID, "k-result")))
    kor_number = by_id("k-r-number").text
    assert re.fullmatch(r"KOR/DEMO1/\d{4}/\d{2}/\d{6}", kor_number), kor_number
    assert by_id("k-r-original").text == number and by_id("k-r-refund").text == "12,90 zł"
    wait.until(lambda d: d.execute_script("const i = document.getElementById('k-receipt'); return i.complete && i.naturalWidth > 500"))
    wait.until(EC.text_to_be_present_in_element((By.ID, "k-r-print"), "wydrukowano"))
    browser.execute_script("window.scrollTo(0, 0)")
    shot(browser, "web-correction-receipt", height=1400)
    by_id("k-done").click()
    wait.until(EC.visibility_of_element_located((By.ID, "view-status")))
    wait.until(EC.presence_of_element_located((By.XPATH, f"//table[@id='recent']//tr[td[1][normalize-space()='{kor_number}']]")))

    # --- the link the demo prints logs straight in; logging out forgets the token
    by_id("logout").click()
    wait.until(EC.visibility_of_element_located((By.ID, "login-token")))
    assert browser.execute_script("return localStorage.getItem('ksef-edge-token')") is None
    browser.get(f"{base}/ui/#token={token}")
    wait.until(EC.visibility_of_element_located((By.ID, "view-kasa")))
    assert "token=" not in browser.current_url

    assert demo.stop() == 0
    assert not any("Traceback" in line for line in demo.lines)


@pytest.mark.timeout(90)
def test_status_warns_about_a_near_deadline_when_nothing_is_uploaded(tmp_path: Path, browser) -> None:
    """A device whose uplink is off: the queue waits, tomorrow's deadline is shown in the warning colour;
    the backup tile turns amber too, because the unsent invoice is in no backup yet."""
    import json
    import urllib.request

    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    from daemon_fixtures import VALID_BODY, daemon_process

    secret = tmp_path / "backup-passphrase"
    secret.write_text("correct horse battery staple 2026\n")
    secret.chmod(0o600)
    backup = (f'[backup]\ndir = "{tmp_path / "usb"}"\ninterval_s = 0\nalarm_grace_s = 0\n'
              f'passphrase_file = "{secret}"\n')
    with daemon_process(tmp_path / "device", extra_toml=backup) as dp:
        req = urllib.request.Request(dp.base_url + "/v1/invoices", data=json.dumps(VALID_BODY).encode(), method="POST",
                                     headers={**dp.auth, "Content-Type": "application/json", "Idempotency-Key": "w-1"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            inv = json.loads(resp.read())
        browser.get(f"{dp.base_url}/ui/#token={dp.token}")
        wait = WebDriverWait(browser, 20)
        wait.until(EC.visibility_of_element_located((By.ID, "view-kasa")))
        browser.find_element(By.ID, "tab-status").click()
        wait.until(EC.presence_of_element_located((By.XPATH, f"//table[@id='recent']//td[normalize-space()='{inv['number']}']")))
        tile = browser.find_element(By.ID, "t-deadline")
        import datetime as dt
        from zoneinfo import ZoneInfo

        deadline = dt.date.fromisoformat(inv["deadline"])
        assert browser.find_element(By.ID, "s-deadline").text == deadline.strftime("%d.%m.%Y")  # 08.12.2026
        recent_deadline = browser.find_element(By.XPATH, f"//table[@id='recent']//tr[td[normalize-space()='{inv['number']}']]/td[4]")
        assert recent_deadline.text == deadline.strftime("%d.%m.%Y")
        # offline24: the next working day after today's Polish civil date (not the machine's own date)
        days = (deadline - dt.datetime.now(ZoneInfo("Europe/Warsaw")).date()).days
        note = browser.find_element(By.ID, "s-deadline-note").text
        if days <= 1:  # today or tomorrow: at risk, amber
            assert "warn" in tile.get_attribute("class").split() and "Termin" in note, note
        else:  # e.g. on a Friday the deadline is Monday
            assert "ok" in tile.get_attribute("class").split() and f"za {days} dni" in note, note
        assert "wyłączona" in browser.find_element(By.ID, "s-ksef-detail").text
        assert browser.find_element(By.ID, "s-printer").text == "nie skonfigurowano"
        queue = browser.find_element(By.ID, "s-queue").text
        assert re.search(r"wystawiona \(czeka na KSeF\)\s+1", queue), queue
        wait.until(lambda b: "warn" in b.find_element(By.ID, "t-backup").get_attribute("class").split())
        assert browser.find_element(By.ID, "s-backup").text == "brak kopii"
        assert "faktur bez kopii (jeszcze nie w KSeF): 1" in browser.find_element(By.ID, "s-backup-detail").text
        shot(browser, "web-status-deadline-warning", height=900)


# (browser time zone, instant, civil date and deadline the page must show): one- and two-digit days and months,
# and instants whose Warsaw date differs from the UTC date or from the browser's own zone's date.
PAGE_DATES = [
    ("UTC", "2026-01-08T12:00:00Z", "2026-01-09", "08.01.2026", "09.01.2026", 1),
    ("UTC", "2026-12-09T12:00:00Z", "2026-12-10", "09.12.2026", "10.12.2026", 1),
    ("UTC", "2026-09-30T12:00:00Z", "2026-10-01", "30.09.2026", "01.10.2026", 1),
    ("UTC", "2026-10-31T23:30:00Z", "2026-11-02", "01.11.2026", "02.11.2026", 1),  # 00:30 Warsaw, CET
    ("UTC", "2026-12-31T23:00:00Z", "2027-01-04", "01.01.2027", "04.01.2027", 3),  # midnight Warsaw, 23:00 UTC
    ("America/New_York", "2027-03-27T23:30:00Z", "2027-03-30", "28.03.2027", "30.03.2027", 2),  # DST, Easter
    ("Pacific/Kiritimati", "2026-05-31T21:59:59Z", "2026-06-01", "31.05.2026", "01.06.2026", 1),
]


@pytest.mark.timeout(90)
def test_page_writes_every_date_as_dd_mm_yyyy_in_warsaw_time(tmp_path: Path, browser) -> None:
    """The page's one date format, DD.MM.YYYY with leading zeros, for one- and two-digit days and months, and
    "today" taken in Warsaw whatever zone the browser is in (real Chromium, its own Intl data)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    from daemon_fixtures import daemon_process

    with daemon_process(tmp_path / "device") as dp:
        browser.get(f"{dp.base_url}/ui/#token={dp.token}")
        WebDriverWait(browser, 20).until(EC.visibility_of_element_located((By.ID, "view-kasa")))
        for zone, instant, deadline, shown_day, shown_deadline, days in PAGE_DATES:
            browser.execute_cdp_cmd("Emulation.setTimezoneOverride", {"timezoneId": zone})
            got = browser.execute_script(
                "const now = new Date(arguments[0]);"
                "return [fmtInstantDate(arguments[0]), fmtDate(arguments[1]), daysBetween(arguments[1], now),"
                " fmtTime(arguments[0]), fmtDate(warsawDate(now))];", instant, deadline)
            assert got[0] == shown_day and got[4] == shown_day, (zone, instant, got)
            assert got[1] == shown_deadline, (zone, deadline, got)
            assert got[2] == days, (zone, instant, deadline, got)
            assert re.fullmatch(re.escape(shown_day) + r" \d\d:\d\d:\d\d", got[3]), got
        assert browser.execute_script("return fmtDate(null)") == "—"
