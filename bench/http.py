"""Requests per second of the public pages, as ratios to a bare Flask hello-world served the same way.

    .venv/bin/python bench/http.py [--duration 10] [--connections 8,32,128] [--only project,home]

One command: creates a throw-away PostgreSQL database, migrates it, runs `seed-demo`, adds a bench
project with 10 reward tiers and 50 comments, then starts two gunicorns with the same fixed settings
(`-k gthread -w 2 --threads 4`): the site, and bench/hello.py. wrk (Debian package `wrk`) loads each
page at each concurrency in turn, on 127.0.0.1 only; hello-world is measured in the same run, at each
concurrency, right before the pages. Prints req/s, p50/p99 and errors per page and connection count,
each as a ratio to hello-world, and reports any gunicorn worker that crashed or timed out.

Exits non-zero if a page answered an error, wrk saw socket errors, or a worker crashed.
"""
import sys
from pathlib import Path

# This file is named like the standard library's `http` package: keep its folder off the import path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import secrets  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SERVER = os.environ.get("BENCH_PG_SERVER", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
GUNICORN = ["-k", "gthread", "-w", "2", "--threads", "4", "--timeout", "30", "--log-level", "warning"]
# What a browser sends: compression is part of the cost of a page.
HEADERS = {"Accept-Encoding": "br, gzip", "Accept-Language": "zh-CN,zh;q=0.9"}
# A phone's browser: its project-page views are recorded as visits (crowdfund/visits.py); wrk's own
# requests carry no User-Agent and would be left out as robots.
BROWSER = {**HEADERS, "User-Agent": "Mozilla/5.0 (Linux; Android 13) AppleWebKit/537.36 Chrome/120 Mobile Safari/537.36"}
LOGS = ("site.log", "site.out", "hello.log", "hello.out")
CRASHES = re.compile(r"SIGSEGV|Segmentation fault|Fatal Python error|WORKER TIMEOUT|Worker \(pid:\d+\) was sent")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def seed(env):
    """The database as a visitor finds it: the demo projects plus one with 10 tiers and 50 comments."""
    flask = [str(Path(sys.executable).parent / "flask"), "--app", "crowdfund"]
    for command in (["db", "upgrade"], ["seed-demo"]):
        subprocess.run(flask + command, env=env, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    os.environ.update(env)
    from sqlalchemy import select

    from crowdfund import accounts, comments, create_app, demo
    from crowdfund.extensions import db
    from crowdfund.models import Category, Project, ProjectStatus

    app = create_app()
    with app.app_context():
        creator = accounts.find_by_email("creator@demo.crowdfund.test")
        backers = [accounts.find_by_email(email) for email, _, _ in demo.DEMO_BACKERS]
        tiers = [(f"第 {i} 档回报", 49 + 50 * i, 100 if i % 3 == 0 else None, i % 2 == 0) for i in range(1, 11)]
        spec = ("压测项目：十档回报五十条评论", "一个有十档回报、五十条评论的项目，用来量页面速度。", "design",
                ProjectStatus.LIVE, 50_000, 30, False, tiers, 60, False)
        project = demo.add_project(spec, creator, backers, seed=7)
        for i in range(25):
            asked = comments.add_comment(project, backers[i % len(backers)],
                                         f"第 {i + 1} 个问题：第 {i % 10 + 1} 档回报什么时候发货？能开发票吗？",
                                         is_question=i % 2 == 0)
            comments.add_comment(project, creator, f"谢谢关注！第 {i % 10 + 1} 档按计划在众筹结束后三个月内发货，"
                                                   "可以开电子发票。", parent=asked)
        slugs = {
            "project": project.slug,
            "lamp": db.session.scalar(select(Project.slug).where(Project.title == demo.PROJECTS[0][0])),
            "category": db.session.scalar(select(Category.slug).where(Category.parent_id.is_(None))
                                          .order_by(Category.id)),
        }
    return slugs


def start(app, port, env, log):
    command = [str(Path(sys.executable).parent / "gunicorn"), *GUNICORN, "-b", f"127.0.0.1:{port}", "--error-logfile", str(log),
               app]
    with open(log.with_suffix(".out"), "w") as out:  # stderr: where faulthandler writes a crash's traceback
        process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    for _ in range(200):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).read()
            return process
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"{app} did not start; see {log}")


def wrk(url, connections, duration, headers):
    args = ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout", "5s"]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    out = subprocess.run(args + [url], capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    latency = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+\w+)", out, re.M))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = (int(non_2xx.group(1)) if non_2xx else 0) + (sum(map(int, sockets.groups())) if sockets else 0)
    return {"rate": rate, "p50": latency.get("50", "?"), "p99": latency.get("99", "?"), "errors": errors}


def millis(text):
    value = float(re.match(r"[\d.]+", text).group())
    return value * {"us": 0.001, "ms": 1, "s": 1000, "m": 60_000}[re.search(r"[a-z]+$", text).group()]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per measurement (default 10)")
    parser.add_argument("--connections", default="8,32,128", help="comma-separated (default 8,32,128)")
    parser.add_argument("--only", default="", help="comma-separated page names to measure")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed: apt-get install -y wrk")

    import psycopg
    from sqlalchemy.engine import make_url

    server = make_url(SERVER).set(drivername="postgresql")
    admin = server.render_as_string(hide_password=False)
    name = f"crowdfund_http_{secrets.token_hex(4)}"
    work = Path(tempfile.mkdtemp(prefix="crowdfund-http-"))
    site_port, hello_port = free_port(), free_port()
    env = dict(os.environ, PYTHONFAULTHANDLER="1", INSTANCE_PATH=str(work / "instance"), SECRET_KEY=secrets.token_hex(32),
               DATABASE_URL=server.set(drivername="postgresql+psycopg", database=name)
               .render_as_string(hide_password=False),
               REDIS_URL=REDIS, SITE_URL=f"http://127.0.0.1:{site_port}")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    from redis import Redis

    Redis.from_url(REDIS).flushdb()
    processes = []
    try:
        slugs = seed(env)
        processes.append(start("bench.hello:app", hello_port, env, work / "hello.log"))
        processes.append(start("wsgi:app", site_port, env, work / "site.log"))
        site, fragment = f"http://127.0.0.1:{site_port}", {**HEADERS, "HX-Request": "true"}
        pages = {
            "home": (f"{site}/", HEADERS),
            "category": (f"{site}/categories/{slugs['category']}", HEADERS),
            "search": (f"{site}/search?q=%E6%89%8B", HEADERS),
            "project": (f"{site}/projects/{slugs['project']}", BROWSER),
            "project (robot, no visit)": (f"{site}/projects/{slugs['project']}", HEADERS),
            "funds": (f"{site}/projects/{slugs['project']}/funds", HEADERS),
            "search results (htmx)": (f"{site}/search?q=%E6%89%8B", fragment),
            "more projects (htmx)": (f"{site}/categories/{slugs['category']}?page=2&more=1", fragment),
            "comments page 2 (htmx)": (f"{site}/projects/{slugs['project']}/comments?page=2", fragment),
        }
        only = {p.strip() for p in args.only.split(",") if p.strip()}
        pages = {k: v for k, v in pages.items() if not only or k.split(" ")[0] in only}
        for label, (url, headers) in pages.items():  # warm up, and refuse to measure an error page
            request = urllib.request.Request(url, headers=headers)
            with urllib.request.urlopen(request, timeout=10) as response:
                assert response.status == 200, (label, response.status)
                for _ in range(20):
                    urllib.request.urlopen(request, timeout=10).read()
        print(f"bench/http.py: gunicorn {' '.join(GUNICORN[:6])}, wrk -t2 -d{args.duration}s, PostgreSQL, "
              f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
        failed = False
        for connections in [int(c) for c in args.connections.split(",")]:
            hello = wrk(f"http://127.0.0.1:{hello_port}/", connections, args.duration, HEADERS)
            print(f"\n{connections} connections")
            print(f"  {'page':<24}{'req/s':>9}{'p50':>10}{'p99':>10}{'errors':>8}{'vs hello':>10}")
            print(f"  {'hello-world':<24}{hello['rate']:>9.0f}{hello['p50']:>10}{hello['p99']:>10}"
                  f"{hello['errors']:>8}{'100%':>10}")
            for label, (url, headers) in pages.items():
                result = wrk(url, connections, args.duration, headers)
                ratio = 100 * result["rate"] / hello["rate"]
                print(f"  {label:<24}{result['rate']:>9.0f}{result['p50']:>10}{result['p99']:>10}"
                      f"{result['errors']:>8}{ratio:>9.1f}%", flush=True)
                failed |= result["errors"] > 0
                if label == "project" and connections == 32:
                    verdict = ratio >= 25 and millis(result["p99"]) <= 100 and not result["errors"]
                    print(f"  -> aim (project page ≥ 25% of hello-world, p99 ≤ 100 ms, no errors at 32): "
                          f"{'met' if verdict else 'NOT met'}")
        crashes = [line for log in LOGS if (work / log).exists()
                   for line in (work / log).read_text().splitlines() if CRASHES.search(line)]
        print(f"\nworker crashes or time-outs: {len(crashes)}")
        for line in crashes[:20]:
            print("  " + line)
        if crashes:
            kept = Path(tempfile.mkdtemp(prefix="crowdfund-http-logs-"))
            for log in LOGS:
                shutil.copy(work / log, kept / log)
            print(f"  the gunicorn logs (with PYTHONFAULTHANDLER tracebacks) are kept in {kept}")
        return 1 if failed or crashes else 0
    finally:
        for process in processes:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
