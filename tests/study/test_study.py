"""The human study tool: a blinded export, the vote store's checks, the judging page in a real
headless Chromium, 30 judges voting at once, and the statistics against scipy and a textbook W."""

from __future__ import annotations

import json
import shutil
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from dppmg.errors import DPPMGError

METHODS = ["nonpersonalized", "lamp", "retrieval"]
CASES = 4


@pytest.fixture(scope="module")
def study(tmp_path_factory, session_cache) -> Path:
    from dppmg.study.export import export_study

    out = tmp_path_factory.mktemp("study") / "movies"
    return export_study("synthetic", "smoke", CASES, METHODS, out, seed=0, cache_dir=session_cache, progress=False)


def fresh_copy(study: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "study"
    shutil.copytree(study, copy, ignore=shutil.ignore_patterns("votes.sqlite*"))
    return copy


def test_the_export_is_blinded_and_records_every_file(study):
    from dppmg.study.export import load_cases, load_study

    meta = load_study(study)
    key = json.loads((study / "key.json").read_text())
    cases = load_cases(study, meta)
    assert len(cases) == CASES and meta["methods"] == METHODS and len(meta["users"]) == CASES
    assert meta["code"]["git_sha"] is not None and "rule" in meta
    orders = {tuple(key[c][label] for label in sorted(key[c])) for c in cases}
    assert len(orders) > 1, "the labels are drawn per case"
    for case_id, case in cases.items():
        text = json.dumps(case)
        assert not any(m in text for m in ("nonpersonalized", "lamp", "retrieval")), "no method name on a case"
        assert [c["label"] for c in case["candidates"]] == ["A", "B", "C"] and len(case["history"]) == 3
    assert set(meta["files"]) >= {"key.json", *(f"cases/{c}/case.json" for c in cases)}


def test_a_missing_or_altered_file_is_named_with_its_hash(study, tmp_path):
    from dppmg.study.export import load_study

    copy = fresh_copy(study, tmp_path)
    image = copy / "cases" / "case001" / "candidate_A.png"
    digest = load_study(copy)["files"]["cases/case001/candidate_A.png"]
    image.write_bytes(image.read_bytes()[:-10])
    with pytest.raises(DPPMGError, match=f"candidate_A.png was altered .*{digest}"):
        load_study(copy)
    image.unlink()
    with pytest.raises(DPPMGError, match=f"candidate_A.png is missing from the study .*{digest}"):
        load_study(copy)


def test_the_store_checks_every_vote_keeps_history_and_refuses_another_studys_db(tmp_path):
    from dppmg.study.store import VoteRefused, VoteStore

    store = VoteStore(tmp_path / "v.sqlite", "hash1", {"case001": ["A", "B", "C"]})
    token = store.judge("Ada")
    assert store.judge(" Ada ") == token
    for bad, message in ((["A", "A", "B"], "exactly once"), (["A", "B", "D"], "exactly once"),
                         (["A", "B"], "exactly once"), ("ABC", "exactly once")):
        with pytest.raises(VoteRefused, match=message):
            store.vote(token, "case001", "taste", bad)
    with pytest.raises(VoteRefused, match="unknown case 'case999'"):
        store.vote(token, "case999", "taste", ["A", "B", "C"])
    with pytest.raises(VoteRefused, match="unknown judge"):
        store.vote("forged", "case001", "taste", ["A", "B", "C"])
    with pytest.raises(VoteRefused, match="unknown question"):
        store.vote(token, "case001", "beauty", ["A", "B", "C"])
    store.vote(token, "case001", "taste", ["A", "B", "C"])
    store.vote(token, "case001", "taste", ["C", "B", "A"])
    assert [v["ranking"] for v in store.current_votes()] == [["C", "B", "A"]]
    import sqlite3

    with sqlite3.connect(tmp_path / "v.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM votes").fetchone()[0] == 2  # the changed vote is kept as history
    with pytest.raises(DPPMGError, match="votes of another study"):
        VoteStore(tmp_path / "v.sqlite", "hash2", {"case001": ["A", "B", "C"]})


def test_the_app_serves_only_case_files_and_refuses_bad_votes(study, tmp_path):
    from fastapi.testclient import TestClient

    from dppmg.study.app import create_app

    client = TestClient(create_app(fresh_copy(study, tmp_path)))
    assert client.post("/login", data={"name": "Bo"}, follow_redirects=False).status_code == 303
    assert client.get("/img/case001/candidate_A.png").headers["content-type"] == "image/png"
    for path in ("/img/case001/..%2F..%2Fkey.json", "/img/case001/key.json", "/img/../key.json", "/key.json",
                 "/img/case001/case.json", "/votes.sqlite", "/img/case001/%2e%2e%2fvotes.sqlite"):
        response = client.get(path)
        assert response.status_code in (404, 400, 405), path
        assert "case001" not in response.text or "not a file" in response.text
    refused = client.post("/api/vote", json={"case_id": "case001", "question": "taste", "ranking": ["A", "A", "B"]})
    assert refused.status_code == 400 and "exactly once" in refused.json()["error"]
    assert client.post("/api/vote", json={"case_id": "nope", "question": "taste",
                                          "ranking": ["A", "B", "C"]}).status_code == 400
    ok = client.post("/api/vote", json={"case_id": "case001", "question": "taste", "ranking": ["B", "A", "C"]})
    assert ok.json()["ok"] is True


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(study, tmp_path):
    """The judging page served by uvicorn on a free loopback port, in a thread."""
    import uvicorn

    from dppmg.study.app import create_app

    folder = fresh_copy(study, tmp_path)
    port = _free_port()
    config = uvicorn.Config(create_app(folder), host="127.0.0.1", port=port, log_level="warning")
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not instance.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", folder
    instance.should_exit = True
    thread.join(timeout=10)


def test_a_port_in_use_is_a_clear_error(server):
    from dppmg.study.app import check_port_free

    port = int(server[0].rsplit(":", 1)[1])
    with pytest.raises(DPPMGError, match=f"cannot serve on 127.0.0.1:{port}"):
        check_port_free("127.0.0.1", port)


def _chromium():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    if not Path("/usr/bin/chromium").is_file() or not Path("/usr/bin/chromedriver").is_file():
        pytest.skip("Debian's chromium and chromium-driver are not installed (.ci/run installs them)")
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1200,1400"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def _wait(driver, condition, what: str, seconds: float = 15):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, seconds).until(condition, message=what)


def _sign_in(driver, url: str, name: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(url + "/")
    driver.find_element(By.ID, "name").send_keys(name)
    driver.find_element(By.ID, "start").click()


def test_a_judge_ranks_with_keyboard_and_mouse_leaves_comes_back_and_finishes(server, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    url, folder = server
    driver = _chromium()
    try:
        _sign_in(driver, url, "Grace")
        _wait(driver, lambda d: "/case/case001" in d.current_url, "the first case")
        body = driver.find_element(By.TAG_NAME, "body")
        body.send_keys("b", "a", "c")  # taste, by keyboard
        _wait(driver, lambda d: "saved" in d.find_elements(By.CSS_SELECTOR, ".question .status")[0].text, "taste saved")
        body.send_keys("c", "b", "a")  # coherence
        _wait(driver, lambda d: d.find_element(By.ID, "next").is_enabled(), "both questions saved")
        driver.save_screenshot(str(tmp_path / "case.png"))
        body.send_keys(Keys.ENTER)
        _wait(driver, lambda d: "/case/case002" in d.current_url, "the second case")
    finally:
        driver.quit()
    driver = _chromium()  # the judge closed the page and comes back
    try:
        _sign_in(driver, url, "Grace")
        _wait(driver, lambda d: "/case/case002" in d.current_url, "back where they were")
        assert "1 of 4 cases done" in driver.find_element(By.ID, "progress-text").text
        for _ in range(CASES - 1):  # the rest with the mouse
            for question, order in (("taste", "ACB"), ("coherence", "BAC")):
                block = driver.find_element(By.CSS_SELECTOR, f".question[data-question='{question}']")
                for label in order:
                    block.find_element(By.CSS_SELECTOR, f".pick[data-label='{label}']").click()
                _wait(driver, lambda d, b=block: "saved" in b.find_element(By.CLASS_NAME, "status").text, question)
            driver.find_element(By.ID, "next").click()
            _wait(driver, lambda d: "/case/" in d.current_url or "/done" in d.current_url, "next page")
        _wait(driver, lambda d: "/done" in d.current_url, "the end")
        assert "4 of 4 cases" in driver.find_element(By.ID, "finished").text
    finally:
        driver.quit()
    from dppmg.study.export import load_cases, load_study
    from dppmg.study.store import VoteStore

    meta = load_study(folder)
    cases = load_cases(folder, meta)
    votes = VoteStore(folder / "votes.sqlite", meta["study_hash"],
                      {c: [x["label"] for x in v["candidates"]] for c, v in cases.items()}).current_votes()
    got = sorted((v["judge"], v["case_id"], v["question"], "".join(v["ranking"])) for v in votes)
    want = sorted([("Grace", "case001", "taste", "BAC"), ("Grace", "case001", "coherence", "CBA")]
                  + [("Grace", f"case00{k}", q, o) for k in range(2, CASES + 1)
                     for q, o in (("taste", "ACB"), ("coherence", "BAC"))])
    assert got == want


def test_thirty_judges_voting_at_once_lose_no_vote_and_store_none_twice(server):
    import httpx

    url, folder = server
    rng = np.random.default_rng(0)
    plans = {f"judge{j:02d}": [(f"case{c:03d}", q, list(rng.permutation(["A", "B", "C"])))
                               for c in range(1, CASES + 1) for q in ("taste", "coherence")] for j in range(30)}

    def judge(name: str) -> int:
        with httpx.Client(base_url=url, timeout=30) as client:
            client.post("/login", data={"name": name})
            return sum(client.post("/api/vote", json={"case_id": c, "question": q, "ranking": r}).status_code == 200
                       for c, q, r in plans[name])

    started = time.monotonic()
    with ThreadPoolExecutor(30) as pool:
        accepted = list(pool.map(judge, plans))
    assert time.monotonic() - started < 120
    assert accepted == [2 * CASES] * 30
    import sqlite3

    with sqlite3.connect(folder / "votes.sqlite") as db:
        rows = db.execute("SELECT judge, case_id, question, ranking FROM votes").fetchall()
    assert len(rows) == 30 * 2 * CASES and len({r[:3] for r in rows}) == len(rows)
    assert {(j, c, q, json.dumps(r)) for j, p in plans.items() for c, q, r in p} == set(rows)


def test_the_statistics_match_scipy_and_a_textbook_kendalls_w():
    from scipy import stats

    from dppmg.study.report import analyse, holm, kendalls_w

    # Siegel & Castellan's layout: 3 judges rank 6 items; S = 25.5 ** 2 ... computed by hand below.
    ranks = np.array([[1, 6, 3, 2, 5, 4], [1, 5, 6, 4, 2, 3], [6, 3, 2, 5, 4, 1]], dtype=float)
    totals = ranks.sum(0)  # 8, 14, 11, 11, 11, 8 -> mean 10.5
    s = sum((t - 10.5) ** 2 for t in totals)  # 6.25 + 12.25 + 0.25 * 3 + 6.25 = 25.5
    assert s == 25.5 and kendalls_w(ranks) == pytest.approx(12 * 25.5 / (9 * (216 - 6)))
    assert kendalls_w(np.array([[1, 2, 3], [1, 2, 3]], dtype=float)) == pytest.approx(1.0)
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    key = {f"case{c}": {"A": "m1", "B": "m2", "C": "m3"} for c in range(5)}
    rng = np.random.default_rng(1)
    votes = [{"judge": f"j{j}", "case_id": f"case{c}", "question": q,
              "ranking": (["A", "B", "C"] if rng.random() < 0.6 else list(rng.permutation(["A", "B", "C"])))}
             for j in range(4) for c in range(5) for q in ("taste", "coherence")]
    out = analyse(votes, key, ["m1", "m2", "m3"])
    for question in ("taste", "coherence"):
        table = np.array([[v["ranking"].index(lab) + 1 for lab in "ABC"] for v in votes if v["question"] == question])
        expected = stats.friedmanchisquare(*table.T)
        assert out[question]["friedman"]["statistic"] == pytest.approx(expected.statistic)
        assert out[question]["friedman"]["p"] == pytest.approx(expected.pvalue)
        assert out[question]["methods"][0]["mean rank"] == pytest.approx(table[:, 0].mean())
        assert sum(r["share of cases ranked first"] for r in out[question]["methods"]) == pytest.approx(1.0)
    with pytest.raises(DPPMGError, match="too few votes"):
        analyse(votes[:2], key, ["m1", "m2", "m3"])
