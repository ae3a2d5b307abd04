"""HTML reports: every page and chart written from the run, traceable, safe, and renderable."""

import json
import math
import re
import shutil
import subprocess
import sys
from html import unescape
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
def headline():
    from harness.analysis.failure import FailureConfig, failure_grid

    return failure_grid(["float32", "bfloat16"], ["midpoint", "left", "fraction:0.75"], FailureConfig(d=4, seeds=3),
                        n_max={"float32": 256})


@pytest.fixture(scope="module")
def precision():
    from harness.analysis.failure import FailureConfig
    from harness.analysis.precision import stage_bits
    from harness.core.jsonio import json_safe

    return {"stages": [json_safe(stage_bits(n, FailureConfig(d=4, seeds=2, bias=b), p_max=30).to_dict())
                       for b in ("midpoint", "fraction:0.75") for n in (4, 16, 48)]}


@pytest.fixture(scope="module")
def wall(tmp_path_factory):
    """A small wall search through the search-file path the CLI takes (float16 stands in for float64)."""
    from harness.analysis.failure import failure_grid, load_search

    f = tmp_path_factory.mktemp("wall") / "wall.toml"
    f.write_text('fmt = ["float16"]\nbias = ["midpoint", "left"]\nd = 4\nseeds = 4\nn_min = 3\nn_max = 3072\n')
    spec = load_search(f)
    return {"config": spec.config.to_dict(), "search_file": str(f),
            "records": failure_grid(spec.fmts, spec.biases, spec.config),
            "measured": {"date": "2026-12-04", "git_commit": "c7ad26f", "cpu": "a test's CPU", "peak_rss_gb": 0.2,
                         "elapsed_s": 529}}


#: A history of two runs: every tracked figure family, one figure only in the second run.
HISTORY = [{"date": "2026-11-30T03:17:00+00:00", "run": "a", "git_commit": "abc",
            "figures": {"first failing n | d=4 data=uniform labels=binary direction=gaussian bias=midpoint fmt=float32 "
                        "solver=recurrence evaluator=sequential rounding=nearest deploy=none": 64.0,
                        "bits lost median | fmt=float32": 3.5, "bits lost p90 | fmt=float32": 6.0,
                        "bench ratio_vs_argsort | test_construct_1e7_vs_argsort": 2.6,
                        "failure n (search) | fmt=float32 bias=left": 2048}},
           {"date": "2026-12-01T03:17:00+00:00", "run": "b", "git_commit": "def",
            "figures": {"first failing n | d=4 data=uniform labels=binary direction=gaussian bias=midpoint fmt=float32 "
                        "solver=recurrence evaluator=sequential rounding=nearest deploy=none": 64.0,
                        "bits lost median | fmt=float32": 3.4, "bits lost p90 | fmt=float32": 6.5,
                        "bits lost median | fmt=bfloat16": 1.0,
                        "bench ratio_vs_argsort | test_construct_1e7_vs_argsort": 1.1,
                        "failure n (search) | fmt=float32 bias=left": 2048}}]


@pytest.fixture(scope="module")
def report(run, pipelines, headline, precision, wall, tmp_path_factory):
    return build_report(run, tmp_path_factory.mktemp("rep") / "report", pipelines=pipelines, crosschecks=[CROSSCHECK],
                        headline=headline, precision=precision, history=HISTORY, wall=wall)


def _table(path, first_header):
    """The first table of a page whose header has ``first_header``."""
    for t in _parse(path).tables:
        if first_header in t[0]:
            return t
    raise AssertionError(f"{path.name}: no table with a {first_header!r} column")


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs, self.tables, self._row, self._cell, self._in = [], [], None, None, False
        self.imgs = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.imgs.append(a)
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


def test_every_chart_draws_data_and_nothing_is_clipped(report):
    """Every chart on every page, measured from its PNG: each axes box the page names holds drawn data
    (a share of non-background pixels inside the frame), and nothing touches the image's edge (a title,
    label or legend cut off at the canvas would: the PNG is matplotlib's tight bounding box plus a
    white margin), and every legend, title and axis label the figure holds lies inside the image. The
    page draws each PNG at its own size (no distortion)."""
    from _pixels import drawn, edge_ink, ink

    seen = 0
    for page in sorted(report.parent.glob("*.html")):
        for img in _parse(page).imgs:
            png = report.parent / img["src"]
            h, w = ink(png).shape
            assert (int(img["width"]), int(img["height"])) == (w, h), f"{page.name}: {png.name} drawn distorted"
            assert edge_ink(png) == 0, f"{page.name}: {png.name} is drawn up to its edge (clipped?)"
            boxes = [tuple(map(int, b.split(","))) for b in img["data-axes"].split(";") if b]
            assert boxes, f"{page.name}: {png.name} names no axes"
            legends = [tuple(map(int, b.split(","))) for b in img.get("data-legends", "").split(";") if b]
            for left, top, right, bottom in boxes + legends:  # every plot, legend, title and label inside
                assert 0 <= left < right <= w and 0 <= top < bottom <= h, (png.name, (left, top, right, bottom))
            for left, top, right, bottom in boxes:
                count, share = drawn(png, (left, top, right, bottom), legends)
                assert count >= 20 and share >= 1e-4, f"{page.name}: {png.name}: an empty plot area ({share:.2e})"
            seen += 1
    assert seen >= 15


def test_headline_is_the_search_cell_by_cell(report, headline):
    """The Summary's first chart and table are the failure-point records: one cell per format and bias,
    'n [lo, hi]', '> n_max' for a search that never failed, '<= n_min' for one that failed at once."""
    assert _parse(report.parent / "index.html").imgs[0]["src"] == "headline_failure_n.png"
    table = _table(report.parent / "index.html", "fraction:0.75")
    header, rows = table[0], table[1:]
    by = {(r["target"], r["bias"]): r for r in headline}
    assert len(rows) * (len(header) - 1) == len(headline)
    for row in rows:
        for bias, cell in zip(header[1:], row[1:]):
            r = by[(row[0], bias)]
            if r["censored"] == "above":
                assert cell == f"> {r['n_max']:,}"
            elif r["censored"] == "below":
                assert cell == f"<= {r['n_min']:,}"
            else:
                lo, hi = r["interval"]
                assert cell == f"{r['n_fail']:,} [{'?' if lo is None else format(lo, ',')}, " \
                               f"{'?' if hi is None else format(hi, ',')}]"
    csv = pd.read_csv(report.parent / "headline_failure_n.csv")
    assert len(csv) == len(headline)
    for _, c in csv.iterrows():
        r = by[(c["target"], c["bias"])]
        assert c["censored"] == r["censored"] and (pd.isna(c["n_fail"]) if r["n_fail"] is None else c["n_fail"] == r["n_fail"])


def test_the_wall_table_is_the_search_record_by_record(report, wall):
    """The Summary's float64-wall table: one row per searched bias, its cell the record's failure n and
    interval (or '> n_max'), its cause and largest n tried the record's own."""
    table = _table(report.parent / "index.html", "failure n [95% interval]")
    assert len(table) - 1 == len(wall["records"])
    for row, r in zip(table[1:], wall["records"]):
        assert row[:2] == [r["target"], r["bias"]]
        if r["censored"] == "above":
            assert row[2] == f"> {r['n_max']:,}"
        else:
            lo, hi = r["interval"]
            assert row[2] == f"{r['n_fail']:,} [{lo:,}, {hi:,}]" and row[3] == r["cause"]
        assert row[4] == f"{max(c[0] for c in r['curve']):,}"
    html = (report.parent / "index.html").read_text()
    assert "The float16 wall" in html and "failure-point --config" in html
    # how it was measured, from the file: the reference's date, commit, machine, memory and time
    assert "measured 2026-12-04 at c7ad26f on a test's CPU, peak memory 0.2 GiB" in unescape(html)
    assert "(a long search: 9 min when measured)" in html
    assert "n ~ 2^5.5 ~ 45" in html  # the heuristic from float16's p = 11: n^2 2^-11 ~ 1


def test_growth_fits_follow_the_law(report):
    """Conditioning: theta > 1/2 gets a geometric rate per point beside r = theta/(1 - theta), theta <= 1/2
    a power-law exponent of n beside its theory; the charts are in bits (no log of a log)."""
    table = _table(report.parent / "conditioning.html", "theory inside")
    rows = {r[0]: r for r in table[1:]}
    assert rows["fraction:0.75"][2].startswith("rate r = ") and rows["fraction:0.75"][4] == "3"
    assert rows["midpoint"][2].startswith("exponent ") and rows["midpoint"][4] == "3"
    for png in ("cond1_vs_n.png", "cond1_vs_n_geometric.png"):
        assert (report.parent / png).exists()


def test_history_page_reaches_every_tracked_figure(report):
    """Every figure in the history is a series of some History chart (nothing cut at 12), each chart
    holds one family and format, and the CSVs keep both runs."""
    import glob

    names = {k for h in HISTORY for k in h["figures"]}
    series = 0
    for csv in glob.glob(str(report.parent / "history_*.csv")):
        t = pd.read_csv(csv)
        series += t["series"].nunique()
        assert set(t["run"]) == {"2026-11-30 03:17", "2026-12-01 03:17"}
    assert series == len(names)
    page = (report.parent / "history.html").read_text()
    assert page.count('href="#history_') == len(glob.glob(str(report.parent / "history_*.png")))


def test_precision_charts_are_the_stage_records(report, precision):
    """The measured precision curve and 'where the bits go' draw the stage_bits medians, per bias and
    stage; a stage beyond p_max is marked where it stops, not drawn as a value."""
    t = pd.read_csv(report.parent / "bits_by_stage.csv")
    for r in precision["stages"]:
        for stage, m in zip(r["stages"], r["median"]):
            got = t[(t["panel"] == r["config"]["bias"]) & (t["series"] == stage) & (t["x"] == r["n"])
                    & t["y"].notna()]["y"]
            if m in (None, "inf") or (isinstance(m, float) and math.isinf(m)):
                assert got.empty or not np.isfinite(got).any()
            else:
                assert list(got) == [m], (r["config"]["bias"], stage, r["n"])
    assert (report.parent / "bits_needed_vs_n.png").exists()


def test_pipeline_cells_and_framework_page_trace_to_their_data(report, pipelines):
    """The Summary's first table is the pipelines' failure n, cell by cell from the search's
    records; the framework page has a chart per (arithmetic, bias) of the reference and its
    agreement count recomputed from the records."""
    table = _table(report.parent / "index.html", "harness")
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
    table = _table(report.parent / "index.html", "first failing n per seed: median (lower)")
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
        want = "-" if not firsts else f"{sorted(firsts)[(len(firsts) - 1) // 2]:,}"  # the lower median: a run n
        assert r[col["first failing n per seed: median (lower)"]] == want, r
        assert r[col["seeds never failing"]] == f"{never} of {len(set(g.seed_index))}", r
        if firsts:
            assert r[col["range over seeds"]] == f"[{min(firsts):,}, {max(firsts):,}]", r
        # failure n: the smallest n at which at least half of the seeds fail
        rate_fail = [n for n in sorted(set(g.n))
                     if 2 * sum(1 for m, f in zip(g.n, g.failure) if m == n and f != "") >= sum(g.n == n)]
        smallest = min(set(g.n))
        assert r[col["failure n"]] == ("-" if not rate_fail else
                                       (f"<= {rate_fail[0]:,}" if rate_fail[0] == smallest else f"{rate_fail[0]:,}")), r
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
    from harness.sweep.store import read_run_info, write_part

    sha = read_run_info(worse_dir)["sweep"]["sha256"]
    rows = worse.drop(columns=["run", "sweep_sha256"], errors="ignore")
    rows = rows.astype(object).where(rows.notna(), None)  # missing as null, as compute_row wrote them
    for row in rows.to_dict("records"):
        write_part(worse_dir, row["file_id"], row, sha)  # one verified part per point, as a sweep writes
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
    """(browser, driver): $HARNESS_CHROME / $HARNESS_CHROMEDRIVER if set; else Debian's chromium and
    chromium-driver (.ci/run installs them); else a Chrome and chromedriver on PATH or in
    $CHROMEWEBDRIVER (GitHub's Ubuntu runners have both preinstalled; Ubuntu's own chromium package is
    a snap stub that does not run there)."""
    import os
    import shutil

    env = os.environ.get("HARNESS_CHROME"), os.environ.get("HARNESS_CHROMEDRIVER")
    if all(env):
        return env
    browsers = [shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")]
    drivers = [shutil.which("chromedriver")]
    if os.environ.get("CHROMEWEBDRIVER"):
        drivers.append(str(Path(os.environ["CHROMEWEBDRIVER"]) / "chromedriver"))
    b = next((p for p in browsers if p and Path(p).exists()), None)
    d = next((p for p in drivers if p and Path(p).exists()), None)
    return (b, d) if b and d else None


def test_report_renders_in_headless_chromium(report, tmp_path):
    """No broken image and no console error on any page; a screenshot of the summary."""
    found = _chromium()
    if found is None:
        pytest.skip("no Chromium/Chrome with its driver (Debian: chromium, chromium-driver, which .ci/run installs; "
                    "GitHub runners: the preinstalled google-chrome and $CHROMEWEBDRIVER)")
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


def test_nightly_headline_equals_failure_point_run_by_hand(run, tmp_path, monkeypatch):
    """The acceptance check at a small scale: the nightly's headline records (float32 and float64, left
    and midpoint, float64 capped as the nightly caps it) are what `harness failure-point --fmt F --bias
    left,midpoint --json` prints by hand with the same settings, and the Summary draws them."""
    from harness.report import nightly

    monkeypatch.setattr(nightly, "NIGHTLY_HEADLINE", dict(formats=("float32", "float64"), biases=("left", "midpoint"),
                                                          d=4, seeds=3, n_max={"float64": 512}))
    recs = nightly.nightly_headline(tmp_path, lambda m: None)
    saved = json.loads((tmp_path / "headline.json").read_text())
    assert saved["records"] == json.loads(json.dumps(recs))
    by_hand = []
    for fmt, extra in (("float32", []), ("float64", ["--n-max", "512"])):
        r = subprocess.run([sys.executable, "-m", "harness", "failure-point", "--fmt", fmt, "--bias", "left,midpoint",
                            "--d", "4", "--seeds", "3", "--json", "--quiet", *extra], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        by_hand += json.loads(r.stdout)["records"]
    keys = ("target", "bias", "n_fail", "n_pass", "interval", "censored", "cause", "curve", "n_max", "seeds")
    assert [{k: x[k] for k in keys} for x in saved["records"]] == [{k: x[k] for k in keys} for x in by_hand]
    assert any(x["censored"] == "above" for x in by_hand)  # float64 never fails below 512: shown as '> 512'
    index = build_report(run, tmp_path / "rep", headline=tmp_path / "headline.json")
    table = _table(index, "midpoint")
    cells = {(row[0], b): c for row in table[1:] for b, c in zip(table[0][1:], row[1:])}
    for x in by_hand:
        if x["censored"] == "above":
            assert cells[(x["target"], x["bias"])] == f"> {x['n_max']:,}"
        else:
            assert cells[(x["target"], x["bias"])].startswith(f"{x['n_fail']:,} [")
