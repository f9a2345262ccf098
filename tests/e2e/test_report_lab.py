"""Reports of real lab sweeps: a sweep with one injected fault opens in a headless Chromium
with the faulted cell highlighted and its reason one click away, and `kubereach diff`
between a clean sweep and faulted ones names exactly the faulted cells as reality changes."""

from __future__ import annotations

import csv
import json

import pytest

from tests.e2e.conftest import read_rows
from tests.reports.browser import chromium, console_errors, open_report, screenshot

pytestmark = pytest.mark.lab

# web-1 -> orders-worker:9090 is denied by the demo's policies, web-1 -> api-2:8080 allowed
HOLE = ("shop-frontend/web-1", "shop-backend/orders-worker", "9090/TCP")
OUTAGE = ("shop-frontend/web-1", "shop-backend/api-2", "8080/TCP")


def sweep(lab, out, *args):
    return lab.sweep(out, "-A", "--from", "shop-frontend:", *args, timeout=180)


@pytest.fixture(scope="module")
def clean_run(enforce_lab, tmp_path_factory):
    out = tmp_path_factory.mktemp("kr16") / "clean"
    p = sweep(enforce_lab, out)
    assert p.returncode == 0, p.stdout + p.stderr
    return out


def drift_of(lab, old, new):
    p = lab.kr("diff", str(old), str(new), "-o", "json")
    return p.returncode, json.loads(p.stdout)


@pytest.mark.browser
def test_a_faulted_sweep_report_highlights_the_cell_and_drills_down_to_its_reason(enforce_lab, clean_run, tmp_path):
    from selenium.webdriver.common.by import By

    enforce_lab.lab("fault", "allow", *HOLE)
    try:
        out = tmp_path / "faulted"
        p = sweep(enforce_lab, out, "--baseline", str(clean_run))
        assert p.returncode == 1, p.stdout + p.stderr
    finally:
        enforce_lab.lab("fault", "clear")
    assert "Drift since" in p.stdout and "1 opened" in p.stdout
    (hole,) = [r for r in read_rows(out) if r["verdict"] != "ok"]
    assert (hole["source"], hole["destination"], f"{hole['port']}/{hole['protocol']}") == HOLE
    with chromium() as driver:
        print(f"lab report opened in {open_report(driver, out / 'report.html'):.2f} s")
        cell = driver.find_element(
            By.CSS_SELECTOR,
            '.heatmap[data-port="9090/TCP"] td[data-src-ns="shop-frontend"][data-dst-ns="shop-backend"]',
        )
        assert cell.get_attribute("data-class") == "unexpected-allow"
        assert "changed" in cell.get_attribute("class")  # outlined: it changed since the clean baseline
        cell.click()
        pair = driver.find_element(
            By.CSS_SELECTOR, '#drill td[data-src="shop-frontend/web-1"][data-dst="shop-backend/orders-worker"]'
        )
        assert pair.get_attribute("data-class") == "unexpected-allow"
        pair.click()
        fields = {dd.get_attribute("data-field"): dd.text for dd in driver.find_elements(By.CSS_SELECTOR, "#probe dd")}
        assert fields["reason"] == hole["reason"] and fields["state"] == hole["state"] == "open"
        assert fields["since the baseline"] == "opened"
        screenshot(driver, tmp_path / "lab-fault.png")
        assert console_errors(driver) == []


@pytest.mark.parametrize(
    ("action", "cell", "change", "old", "new"),
    [("allow", HOLE, "opened", "deny", "allow"), ("deny", OUTAGE, "closed", "allow", "deny")],
)
def test_diff_against_a_clean_sweep_names_exactly_the_faulted_cell(
    enforce_lab, clean_run, tmp_path, action, cell, change, old, new
):
    enforce_lab.lab("fault", action, *cell)
    try:
        out = tmp_path / action
        p = sweep(enforce_lab, out)
        assert p.returncode == 1, p.stdout + p.stderr
    finally:
        enforce_lab.lab("fault", "clear")
    code, body = drift_of(enforce_lab, clean_run, out)
    port, protocol = cell[2].split("/")
    assert code == 1
    assert body["drift"] == [
        {
            "source": cell[0],
            "destination": cell[1],
            "port": int(port),
            "protocol": protocol,
            "scope": "pod",
            "change": change,
            "old": old,
            "new": new,
        }
    ]
    assert body["unmeasured"] == 0
    # and the other way round: the fault's cell goes back
    code, body = drift_of(enforce_lab, out, clean_run)
    assert code == 1 and [(d["change"], d["old"], d["new"]) for d in body["drift"]] == [
        (["opened", "closed"][change == "opened"], new, old)
    ]
    with open(out / "probes.csv", newline="") as fh:
        assert sum(r["verdict"] != "ok" for r in csv.DictReader(fh)) == 1


def test_two_clean_sweeps_have_no_drift(enforce_lab, clean_run, tmp_path):
    out = tmp_path / "again"
    assert sweep(enforce_lab, out).returncode == 0
    code, body = drift_of(enforce_lab, clean_run, out)
    assert (code, body["drift"], body["unmeasured"]) == (0, [], 0)
