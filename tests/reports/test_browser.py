"""The report in a real headless Chromium: the faulted cell is highlighted, drills down to its
pod pair and to its reason; filters and search work; the CSP blocks nothing the page needs;
and a 2,000-pod run opens (its time printed)."""

from __future__ import annotations

import pytest

from orchestrator.reports.diff import diff_folders
from orchestrator.reports.html import render_report, write_report
from orchestrator.reports.reportdata import report_data
from orchestrator.reports.rundir import load_run
from tests.reports.browser import chromium, console_errors, open_report, screenshot
from tests.reports.runs import row, write_run

pytestmark = pytest.mark.browser

HOLE_REASON = "egress: not isolated; ingress: isolated by shop/default-deny and no rule allows it"


def shop_rows(*, hole: bool):
    rows = [
        row(f"web/w-{i}", f"shop/api-{j}", 8080, reason="ingress: allowed by shop/allow-web ingress rule 0")
        for i in range(3)
        for j in range(2)
    ]
    rows += [row(f"web/w-{i}", "shop/db-0", 5432, expected="deny", reason=HOLE_REASON) for i in range(3)]
    if hole:
        rows[-1] = row("web/w-2", "shop/db-0", 5432, expected="deny", observed="allow", reason=HOLE_REASON)
    rows += [row("shop/api-0/app", "shop/api-0/proxy", 15001, scope="intra-pod", expected="deny", state="closed")]
    return rows


@pytest.fixture
def faulted(tmp_path):
    folder = write_run(tmp_path / "faulted", shop_rows(hole=True))
    write_report(str(folder), render_report(report_data(load_run(str(folder)))))
    return folder


def test_the_faulted_cell_is_highlighted_and_drills_down_to_its_reason(faulted, tmp_path):
    from selenium.webdriver.common.by import By

    with chromium() as driver:
        seconds = open_report(driver, faulted / "report.html")
        print(f"opened in {seconds:.2f} s")
        cell = driver.find_element(
            By.CSS_SELECTOR, '.heatmap[data-port="5432/TCP"] td[data-src-ns="web"][data-dst-ns="shop"]'
        )
        assert cell.get_attribute("data-class") == "unexpected-allow" and cell.text == "!"
        assert "c-unexpected-allow" in cell.get_attribute("class")
        # the unexpected table lists the row first, the summary counts it
        first = driver.find_element(By.CSS_SELECTOR, "#unexpected tbody tr")
        assert "web/w-2" in first.text and "shop/db-0" in first.text
        assert driver.find_element(By.ID, "unexpected-h").text == "Unexpected (1)"
        cell.click()
        grid = driver.find_element(By.CSS_SELECTOR, "#drill table.grid")
        pair = grid.find_element(By.CSS_SELECTOR, 'td[data-src="web/w-2"][data-dst="shop/db-0"]')
        assert pair.get_attribute("data-class") == "unexpected-allow"
        assert {td.get_attribute("data-class") for td in grid.find_elements(By.CSS_SELECTOR, "td[data-row]")} == {
            "unexpected-allow",
            "ok-blocked",
        }
        pair.click()
        panel = driver.find_element(By.ID, "probe")
        assert panel.is_displayed()
        field = {dd.get_attribute("data-field"): dd.text for dd in panel.find_elements(By.CSS_SELECTOR, "dd")}
        assert field["reason"] == HOLE_REASON
        assert field["expected"] == "deny" and field["observed"] == "allow" and field["state"] == "open"
        assert field["latency"] == "0.5 ms" and field["confirmed"] == "yes"
        screenshot(driver, tmp_path / "faulted-cell.png")
        assert console_errors(driver) == []


def test_filters_and_search_narrow_the_maps_and_tables(faulted):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    with chromium() as driver:
        open_report(driver, faulted / "report.html")

        def heatmap_ports():
            return {t.get_attribute("data-port") for t in driver.find_elements(By.CSS_SELECTOR, ".heatmap")}

        assert heatmap_ports() == {"5432/TCP", "8080/TCP"}
        Select(driver.find_element(By.ID, "f-port")).select_by_visible_text("8080/TCP")
        assert heatmap_ports() == {"8080/TCP"}
        Select(driver.find_element(By.ID, "f-port")).select_by_visible_text("all")
        for name in ("ok-allowed", "ok-blocked"):
            driver.find_element(By.CSS_SELECTOR, f'#f-cls input[value="{name}"]').click()
        classes = {
            td.get_attribute("data-class") for td in driver.find_elements(By.CSS_SELECTOR, ".heatmap td[data-class]")
        }
        assert classes == {"unexpected-allow"}
        # intra-pod rows per pod
        assert driver.find_elements(By.CSS_SELECTOR, '#intrapod table[data-pod="shop/api-0"]') == []  # ok rows filtered
        for name in ("ok-allowed", "ok-blocked"):
            driver.find_element(By.CSS_SELECTOR, f'#f-cls input[value="{name}"]').click()
        assert driver.find_elements(
            By.CSS_SELECTOR, '#intrapod table[data-pod="shop/api-0"] td[data-class="ok-blocked"]'
        )
        search = driver.find_element(By.ID, "f-search")
        search.send_keys("w-1")
        WebDriverWait(driver, 10).until(
            lambda d: [th.text for th in d.find_elements(By.CSS_SELECTOR, ".heatmap tbody th.match")] != []
        )
        driver.find_element(By.ID, "all-details").click()  # its table is drawn on the (asynchronous) toggle event
        rows = WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#all tbody tr"))
        assert all("web/w-1" in r.text for r in rows)
        assert console_errors(driver) == []


def test_cells_changed_since_the_baseline_are_outlined(tmp_path):
    from selenium.webdriver.common.by import By

    before = write_run(tmp_path / "before", shop_rows(hole=False), pods=[])
    after = write_run(tmp_path / "after", shop_rows(hole=True), pods=[])
    drift = diff_folders(str(before), str(after))
    write_report(str(after), render_report(report_data(load_run(str(after)), drift)))
    with chromium() as driver:
        open_report(driver, after / "report.html")
        changed = driver.find_elements(By.CSS_SELECTOR, ".heatmap td.changed")
        assert [(td.get_attribute("data-port"), td.get_attribute("data-src-ns")) for td in changed] == [
            ("5432/TCP", "web")
        ]
        assert driver.find_element(By.CSS_SELECTOR, "#drift-counts").text.split() == [
            "opened", "closed", "expectation-changed", "appeared", "disappeared", "1", "0", "0", "0", "0"
        ]  # fmt: skip
        driver.find_element(By.ID, "f-changed").click()
        assert len(driver.find_elements(By.CSS_SELECTOR, ".heatmap td[data-class]")) == 1
        screenshot(driver, tmp_path / "drift.png")


@pytest.mark.slow
def test_a_2000_pod_report_opens(tmp_path):
    from selenium.webdriver.common.by import By

    from tests.reports.synthetic import write_synthetic_run

    folder = tmp_path / "big"
    faulted = write_synthetic_run(folder, 2000)
    run = load_run(str(folder), snapshot=False)
    write_report(str(folder), render_report(report_data(run)))
    size = (folder / "report.html").stat().st_size
    with chromium() as driver:
        seconds = open_report(driver, folder / "report.html", timeout=300)
        print(
            f"2,000 pods, {len(run.probes):,} rows, report {size / 1e6:.1f} MB: "
            f"rows ready in the browser in {seconds:.2f} s"
        )
        unexpected = [r.text for r in driver.find_elements(By.CSS_SELECTOR, "#unexpected tbody tr")]
        wanted = [f for f in faulted if f["verdict"].startswith("unexpected")]
        assert len(unexpected) == len(wanted)
        cell = driver.find_elements(By.CSS_SELECTOR, ".heatmap td.c-unexpected-allow, .heatmap td.c-unexpected-deny")[0]
        cell.click()
        assert driver.find_elements(By.CSS_SELECTOR, "#drill td[data-row]")
        screenshot(driver, tmp_path / "big.png")
