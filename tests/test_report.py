"""HTML reports: every page and chart written from the run, traceable, safe, and renderable."""

import json
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.report.compare import compare_runs
from harness.report.pages import build_report
from harness.sweep.runner import run_sweep
from harness.sweep.store import load_run
from harness.sweep.sweepspec import parse_sweep

SWEEP = """
name = "rep"
seed = 5
seeds = 2
metrics = ["fit", "conditioning", "solve"]
[axes]
n = [8, 24, 64, 160]
d = [4]
bias = ["midpoint", "fraction:0.75"]
fmt = ["float64", "float32", "bfloat16"]
[[also]]
n = [64, 256]
fmt = ["float64"]
solver = ["recurrence", "lapack"]
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    return run_sweep(parse_sweep(SWEEP, "rep.toml"), out, workers=2, progress=False)


#: The committed framework reference (harness crosscheck on PyTorch CPU): the framework page's data.
CROSSCHECK = Path(__file__).resolve().parents[1] / "reports" / "reference" / "crosscheck-cpu.json"


@pytest.fixture(scope="module")
def pipelines():
    from harness.analysis.failure import FailureConfig
    from harness.analysis.pipelines import pipeline_failures

    return pipeline_failures(["numpy", "harness"], ["float32", "bfloat16"], FailureConfig(d=4, seeds=2, n_max=512))


@pytest.fixture(scope="module")
def report(run, pipelines, tmp_path_factory):
    return build_report(run, tmp_path_factory.mktemp("rep") / "report", pipelines=pipelines, crosschecks=[CROSSCHECK])


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs, self.tables, self._row, self._cell, self._in = [], [], None, None, False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for k in ("src", "href"):
            if k in a:
                self.refs.append(a[k])
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell, self._in = "", True

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self._row.append(self._cell.strip())
            self._in = False
        elif tag == "tr":
            self.tables[-1].append(self._row)

    def handle_data(self, data):
        if self._in:
            self._cell += data


def _parse(path):
    p = _Tags()
    p.feed(Path(path).read_text())
    return p


def test_every_page_and_chart_is_written_and_local(report):
    folder = report.parent
    for page in ("index.html", "conditioning.html", "errors.html", "failures.html", "performance.html",
                 "seed.html", "provenance.html", "framework.html"):
        assert (folder / page).exists(), page
        for ref in _parse(folder / page).refs:
            assert not re.match(r"^[a-z]+://", ref), f"{page}: {ref} is not local"
            assert (folder / ref).exists(), f"{page}: {ref} missing"
    pngs = sorted(folder.glob("*.png"))
    assert len(pngs) >= 10
    import matplotlib.image as mpimg

    for png in pngs:
        img = mpimg.imread(png)
        assert img.shape[0] >= 300 and img.shape[1] >= 500, png.name
        colours = np.unique((img[..., :3] * 255).astype(np.uint8).reshape(-1, 3), axis=0)
        assert len(colours) >= 20, f"{png.name}: only {len(colours)} colours (a blank chart?)"
        assert (folder / png.with_suffix(".csv").name).exists(), png.name
        assert len(pd.read_csv(png.with_suffix(".csv"))) > 0, png.name
    assert "script" not in (folder / "index.html").read_text().lower()  # no scripts at all


def test_pipeline_cells_and_framework_page_trace_to_their_data(report, pipelines):
    """The Summary's first table is the pipelines' failure n, cell by cell from the search's
    records; the framework page has a chart per (arithmetic, bias) of the reference and its
    agreement count recomputed from the records."""
    table = _parse(report.parent / "index.html").tables[0]
    header, rows = table[0], table[1:]
    by = {(r["pipeline"], r["target"]): r for r in pipelines}
    for row in rows:
        for name, cell in zip(header[1:], row[1:]):
            r = by[(name, row[0])]
            if r["skipped"]:
                assert cell == "not run"
            elif r["censored"] == "none":
                assert cell.startswith(f"{r['n_fail']:,} ["), (cell, r)
    assert (report.parent / "pipelines_failure_n.png").exists()
    cc = json.loads(CROSSCHECK.read_text())
    cells = {(r["arith"], r["bias"]) for r in cc["records"]}
    fw_pngs = list(report.parent.glob("framework_*.png"))
    assert len(fw_pngs) == len(cells)
    fw = {(r["n"], r["bias"], r["arith"]): r for r in cc["records"] if r["engine"] != "emulated"}
    inside = sum(fw[(r["n"], r["bias"], r["arith"])]["accuracy_p10"] <= r["label_accuracy"]
                 <= fw[(r["n"], r["bias"], r["arith"])]["accuracy_p90"] for r in cc["records"] if r["engine"] == "emulated")
    page = _parse(report.parent / "framework.html").tables[0]
    assert page[1][3] == f"{inside} of {len(fw)}"


def test_headline_cells_trace_to_rows_of_the_run(run, report):
    """Recompute each headline row from the run's rows with plain loops."""
    df = load_run(run)
    table = _parse(report.parent / "index.html").tables[1]
    header, rows = table[0], table[1:]
    col = {h: i for i, h in enumerate(header)}
    assert rows
    for r in rows:
        g = df[(df.fmt == r[col["format"]]) & (df.bias == r[col["bias"]]) & (df.direction == r[col["direction"]])
               & (df.solver == "recurrence") & (df.status == "ok")]
        firsts, never = [], 0
        for s in sorted(set(g.seed_index)):
            failing = sorted(int(n) for n, f, si in zip(g.n, g.failure, g.seed_index) if f != "" and si == s)
            if failing:
                firsts.append(failing[0])
            else:
                never += 1
        want = "-" if not firsts else f"{np.median(firsts):,.0f}"
        assert r[col["first failing n per seed: median"]] == want, r
        assert r[col["seeds never failing"]] == f"{never} of {len(set(g.seed_index))}", r
        if firsts:
            assert r[col["range over seeds"]] == f"[{min(firsts):,}, {max(firsts):,}]", r
        # failure n: the smallest n at which at least half of the seeds fail
        rate_fail = [n for n in sorted(set(g.n))
                     if 2 * sum(1 for m, f in zip(g.n, g.failure) if m == n and f != "") >= sum(g.n == n)]
        assert r[col["failure n"]] == ("-" if not rate_fail else f"{rate_fail[0]:,}"), r
        assert r[col["largest n run"]] == f"{int(g.n.max()):,}"


def test_hostile_strings_render_as_text(run, tmp_path):
    evil_run = tmp_path / "evil"
    shutil.copytree(run, evil_run)
    info = json.loads((evil_run / "run.json").read_text())
    info["name"] = "<script>alert(1)</script>"
    info["sweep"]["text"] = 'name = "<img src=x onerror=alert(2)>"'
    (evil_run / "run.json").write_text(json.dumps(info))
    index = build_report(evil_run, tmp_path / "rep", title="<b>bold</b> & <script>alert(3)</script>")
    html = "".join(p.read_text() for p in index.parent.glob("*.html"))
    for raw in ("<script>alert(1)</script>", "<img src=x", "<script>alert(3)", "<b>bold</b>"):
        assert raw not in html, raw
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "&lt;img src=x onerror=alert(2)&gt;" in html


def test_comparison_flags_regressions_red_and_improvements_green(run, tmp_path):
    cur = load_run(run)
    worse = cur.copy()
    # one series fails earlier for every seed: fmt float32, bias midpoint at its smallest n
    m = (worse.fmt == "float32") & (worse.bias == "midpoint") & (worse.solver == "recurrence")
    worse.loc[m & (worse.n == worse[m].n.min()), "failure"] = "misfit"
    changes = compare_runs(worse, cur)
    reg = [c for c in changes if c.verdict == "regression"]
    assert any(c.kind == "failure point" and "fmt=float32" in c.what and "bias=midpoint" in c.what for c in reg)
    back = compare_runs(cur, worse)
    assert any(c.verdict == "improvement" and c.kind == "failure point" for c in back)
    assert all(c.verdict == "same" for c in compare_runs(cur, cur))
    # the comparison page colours them
    worse_dir = tmp_path / "worse"
    shutil.copytree(run, worse_dir)
    (worse_dir / "results.parquet").unlink()
    shutil.rmtree(worse_dir / "parts")
    (worse_dir / "parts").mkdir()
    worse.drop(columns=["run"], errors="ignore").to_parquet(worse_dir / "parts" / "all.parquet")
    index = build_report(worse_dir, tmp_path / "cmp", baseline=run)
    page = (index.parent / "comparison.html").read_text()
    assert 'class="regression"' in page and "within the baseline" in page


def test_report_command(run, tmp_path):
    r = subprocess.run([sys.executable, "-m", "harness", "report", str(run), "-o", str(tmp_path / "r"), "--quiet"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert Path(r.stdout.strip()).name == "index.html"
    r = subprocess.run([sys.executable, "-m", "harness", "report", str(tmp_path / "nothing"), "-o", str(tmp_path / "x")],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "no such run" in r.stderr and "Traceback" not in r.stderr


def _chromium():
    for b, d in (("/usr/bin/chromium", "/usr/bin/chromedriver"),):
        if Path(b).exists() and Path(d).exists():
            return b, d
    return None


def test_report_renders_in_headless_chromium(report, tmp_path):
    """No broken image and no console error on any page; a screenshot of the summary."""
    found = _chromium()
    if found is None:
        pytest.skip("Chromium not installed (Debian packages chromium, chromium-driver; .ci/run installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = found[0]
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
              "--disable-background-networking", "--disable-component-update", "--disable-sync",
              f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,1600"):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(found[1]), options=opts)
    try:
        for page in sorted(report.parent.glob("*.html")):
            driver.get(page.as_uri())
            broken = driver.execute_script(
                "return Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src)")
            assert broken == [], f"{page.name}: broken images {broken}"
            errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
            assert errors == [], f"{page.name}: console errors {errors}"
        driver.get((report.parent / "index.html").as_uri())
        shot = tmp_path / "summary.png"
        driver.save_screenshot(str(shot))
        assert shot.stat().st_size > 10_000
    finally:
        driver.quit()
