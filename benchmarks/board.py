"""Benchmark and end-to-end script for the planning board, over a real socket.

    python benchmarks/board.py                       # a generated 750-journey weekday
    python benchmarks/board.py --bookings B --fleet F [--sites S] [--time-limit 60]

Starts `pts serve`'s app with uvicorn on a free port of 127.0.0.1 over a fresh data folder,
signs in, uploads the day, plans it in the background, then times: the board page
(GET /days/ID, the server's work for one load), GET /api/days/ID/plan, and insertion
checks (POST /api/days/ID/assign of unassigned journeys onto runs: placed or refused with
the rule). It then re-plans around a locked run and publishes, and runs the independent
checker on the published folder. Prints one JSON line of figures; exit 1 if a step fails.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx2
import uvicorn

from pts_optimiser.check.checker import check_plan
from pts_optimiser.domain.config import load_config
from pts_optimiser.io.parse import Inputs, read_problem
from pts_optimiser.services.web.app import create_app
from pts_optimiser.services.web.store import Accounts

PASSWORD = "benchmark-password"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait(web: httpx2.Client, day: str, timeout_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        answer: dict[str, Any] = web.get(f"/api/days/{day}/plan").json()
        if answer.get("status") != "planning" or time.monotonic() > deadline:  # 404: none
            return answer
        time.sleep(1)


def _ms(samples: list[float]) -> dict[str, float]:
    if not samples:
        return {"n": 0}
    return {"median_ms": round(1000 * statistics.median(samples), 1),
            "max_ms": round(1000 * max(samples), 1), "n": len(samples)}


def run(bookings: Path, fleet: Path, sites: Path | None, time_limit_s: float,
        work: Path) -> dict[str, Any]:
    data = work / "data"
    Accounts(data).add("bench", PASSWORD, "coordinator")
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(data), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    figures: dict[str, Any] = {}
    try:
        with httpx2.Client(base_url=f"http://127.0.0.1:{port}", timeout=600,
                          follow_redirects=True) as web:
            assert web.post("/login", data={"username": "bench", "password": PASSWORD}
                            ).status_code == 200  # followed the 303 to the days page
            headers = {"X-CSRF-Token": web.get("/api/session").json()["csrf_token"]}
            files = {"bookings": ("bookings.csv", bookings.read_bytes()),
                     "fleet": ("fleet.csv", fleet.read_bytes())}
            if sites is not None:
                files["sites"] = ("sites.csv", sites.read_bytes())
            started = time.monotonic()
            uploaded = web.post("/api/days", files=files, headers=headers)
            assert uploaded.status_code == 201, uploaded.text
            figures["upload_s"] = round(time.monotonic() - started, 2)
            day = uploaded.json()["day"]
            figures["journeys"] = uploaded.json()["journeys"]
            started = time.monotonic()
            assert web.post(f"/api/days/{day}/plan", json={"time_limit_s": time_limit_s},
                            headers=headers).status_code == 202
            plan = _wait(web, day, time_limit_s + 300)
            assert plan["status"] == "planned", plan
            figures["plan_wall_s"] = round(time.monotonic() - started, 1)
            figures["served"] = plan["summary"]["served"]
            loads = []
            for _ in range(5):
                started = time.monotonic()
                page = web.get(f"/days/{day}")
                loads.append(time.monotonic() - started)
                assert page.status_code == 200
            figures["board_page"] = _ms(loads)
            figures["board_page_kb"] = round(len(page.content) / 1024)
            reads = []
            for _ in range(5):
                started = time.monotonic()
                assert web.get(f"/api/days/{day}/plan").status_code == 200
                reads.append(time.monotonic() - started)
            figures["plan_json"] = _ms(reads)
            state = json.loads((data / "days" / day / "state.json").read_text())
            vehicles = sorted(state["runs"], key=lambda v: -len(state["runs"][v]))[:6]
            journeys = list(state["unassigned"])[:8]
            if not journeys:  # nothing left out: take some off first
                for vid in vehicles[:3]:
                    jid = next(k for kind, k in state["runs"][vid] if kind == "pickup")
                    web.post(f"/api/days/{day}/unassign", headers=headers,
                             json={"journey_id": jid, "version": plan["version"]})
                    plan = web.get(f"/api/days/{day}/plan").json()
                    journeys.append(jid)
            figures["tried"] = {"journeys": len(journeys), "vehicles": len(vehicles)}
            checks: list[float] = []
            rules: dict[str, int] = {}
            version = plan["version"]
            for jid in journeys:
                for vid in vehicles:
                    started = time.monotonic()
                    answer = web.post(f"/api/days/{day}/assign", headers=headers,
                                      json={"journey_id": jid, "vehicle_id": vid,
                                            "version": version})
                    checks.append(time.monotonic() - started)
                    body = answer.json()
                    rule = "placed" if answer.status_code == 200 else body.get("rule", "?")
                    rules[rule] = rules.get(rule, 0) + 1
                    if answer.status_code == 200:
                        version = body["version"]
                        break
            figures["insertion_check"] = _ms(checks)
            figures["insertion_answers"] = rules
            locked = next(iter(vehicles))
            kept = json.loads((data / "days" / day / "state.json").read_text())["runs"][locked]
            version = web.post(f"/api/days/{day}/lock", headers=headers,
                               json={"vehicle_id": locked, "locked": True,
                                     "version": version}).json()["version"]
            assert web.post(f"/api/days/{day}/replan", headers=headers,
                            json={"time_limit_s": time_limit_s / 2, "version": version}
                            ).status_code == 202
            replanned = _wait(web, day, time_limit_s + 300)
            assert replanned["status"] == "planned", replanned
            after = json.loads((data / "days" / day / "state.json").read_text())
            figures["locked_run_kept"] = after["runs"][locked] == kept
            started = time.monotonic()
            published = web.post(f"/api/days/{day}/publish", headers=headers,
                                 json={"version": replanned["version"]})
            assert published.status_code == 200, published.text
            figures["publish_s"] = round(time.monotonic() - started, 1)
            folder = Path(published.json()["plan"])
            inputs = Inputs(folder / "inputs" / "bookings.csv", folder / "inputs" / "fleet.csv",
                            folder / "inputs" / "sites.csv")
            problem, _ = read_problem(inputs, load_config())
            figures["checker_ok"] = check_plan(problem, folder).ok
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bookings", type=Path)
    parser.add_argument("--fleet", type=Path)
    parser.add_argument("--sites", type=Path)
    parser.add_argument("--journeys", type=int, default=750)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--time-limit", type=float, default=60.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        bookings, fleet, sites = args.bookings, args.fleet, args.sites
        if bookings is None or fleet is None:
            subprocess.run([sys.executable, "-m", "pts_optimiser", "generate", "--seed",
                            str(args.seed), "--journeys", str(args.journeys), "--out",
                            str(work / "day")], check=True, capture_output=True)
            bookings, fleet = work / "day" / "bookings.csv", work / "day" / "fleet.csv"
            sites = work / "day" / "sites.csv"
        figures = run(bookings, fleet, sites, args.time_limit, work)
    print(json.dumps(figures))
    ok = figures.get("checker_ok") and figures.get("locked_run_kept")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
