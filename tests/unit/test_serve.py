"""The run command's last step, `flask serve`, serves the site with periodic jobs ticking in-process."""
import json
import os
import socket
import sqlite3
import subprocess
import sys
import urllib.request

from tests.conftest import ROOT, wait_for


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fetch(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status, response.read().decode()
    except OSError:
        return None


def test_flask_serve_migrated_seeded_embedded_site(tmp_path):
    env = {**os.environ, "INSTANCE_PATH": str(tmp_path), "TICK_SECONDS": "1"}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    flask = [sys.executable, "-m", "flask", "--app", "crowdfund"]
    for command in (["db", "upgrade"], ["seed-demo"]):
        subprocess.run(flask + command, cwd=ROOT, env=env, check=True, capture_output=True)
    port = free_port()
    server = subprocess.Popen(flask + ["serve", "--port", str(port)], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        home = wait_for(lambda: fetch(f"http://127.0.0.1:{port}/"), timeout=30)
        assert home[0] == 200 and "科技" in home[1] and "会学习的智能台灯" in home[1]
        health = wait_for(lambda: (h := fetch(f"http://127.0.0.1:{port}/healthz")) and
                          json.loads(h[1])["periodic"] and json.loads(h[1]), timeout=30)
        assert health["status"] == "ok" and "crowdfund.jobs.heartbeat" in health["periodic"]
        assert (tmp_path / "crowdfund.sqlite").exists() and (tmp_path / "secret_key").exists()
        # The sandbox gateway is reached at the port served (SITE_URL follows --port): the first daily
        # reconciliation finds every seeded payment at the provider, none "unreachable".
        name = "crowdfund.payments.reconciliation.daily_reconciliation"
        wait_for(lambda: name in json.loads(fetch(f"http://127.0.0.1:{port}/healthz")[1])["periodic"], timeout=60)
        with sqlite3.connect(tmp_path / "crowdfund.sqlite") as conn:
            runs = conn.execute("SELECT status, checked, mismatches FROM reconciliation_runs").fetchall()
        assert runs and all(status == "finished" and checked > 0 and json.loads(found) == []
                            for status, checked, found in runs), runs
    finally:
        server.terminate()
        server.wait(10)
