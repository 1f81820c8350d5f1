"""How long the first answer takes after the app starts, as a person would see it: start
`streamlit run app.py` on a free port, open it in Debian's Chromium, ask a question, and time
until the cited answer is on screen. Needs a built index (`make run` or `assistant index`).

Run: .venv/bin/python bench/first_answer.py [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from assistant.chroma_server import free_port, stop  # noqa: E402
from assistant.memory import peak_rss_mb  # noqa: E402

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
QUESTION = "What does a recovery coach do?"


def one_run() -> dict[str, float]:
    from playwright.sync_api import sync_playwright

    port = free_port()
    env = dict(os.environ, HF_HUB_OFFLINE="1", ANONYMIZED_TELEMETRY="False")
    started = time.perf_counter()
    server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py",
                               "--server.port", str(port), "--server.address", "127.0.0.1"],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        while True:
            try:
                urllib.request.urlopen(f"{url}/_stcore/health", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        healthy = time.perf_counter()
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            page = browser.new_page()
            page.goto(url)
            box = page.get_by_placeholder("Ask a question about peer support")
            box.wait_for(timeout=120_000)
            shown = time.perf_counter()
            box.fill(QUESTION)
            box.press("Enter")
            page.get_by_text("Sources (").first.wait_for(timeout=180_000)
            answered = time.perf_counter()
            box.fill("How do I find a meeting?")
            box.press("Enter")
            page.get_by_text("Sources (").nth(1).wait_for(timeout=60_000)
            second = time.perf_counter()
            box.fill("What is a sponsor?")
            box.press("Enter")
            page.get_by_text("Sources (").nth(2).wait_for(timeout=60_000)
            browser.close()
        rss = peak_rss_mb(server.pid)
    finally:
        stop(server)
    return {"server_ready_s": healthy - started, "chat_shown_s": shown - started,
            "first_answer_after_ask_s": answered - shown,
            "first_answer_after_start_s": answered - started,
            "second_answer_s": second - answered, "app_peak_rss_mb": rss or 0.0}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    runs = [one_run() for _ in range(parser.parse_args().runs)]
    print(f"{len(runs)} runs on {os.cpu_count()} cores; medians:")
    for key in runs[0]:
        print(f"  {key}: {statistics.median(r[key] for r in runs):.2f}")


if __name__ == "__main__":
    main()
