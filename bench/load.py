"""Whole-stack load test: gunicorn (gthread) + RQ workers on PostgreSQL and Redis, backers paying through the sandbox.

    .venv/bin/python bench/load.py [--backers 20] [--browsers 32] [--duration 60]

Creates a throw-away database (cf_load_*), migrates it and loads the demo data, then starts gunicorn
(-k gthread -w 2 --threads 4, PYTHONFAULTHANDLER=1) and two `worker.py` processes (one with cron) on Redis
database 10, which it empties. For --duration seconds, --browsers threads read public pages while --backers
threads each sign up, browse, back a project (CSRF token and idempotency key taken from the form), pay at
the sandbox cashier and wait on the pledge page for the receipt, then back again. Every request is made by
hand (http.client, one keep-alive connection per thread, no retries), so a dropped connection is an error.

Afterwards it waits for the payment and notification queues to drain, runs `flask ledger verify`, compares
the paid totals per project (pledges and escrow) with what the backers paid at the cashier, and scans the
gunicorn log for crashed workers. Exits non-zero if any check fails. Rate limits on sign-up, login and
pledging are raised for the run (RATELIMIT_* variables): every simulated backer comes from 127.0.0.1.
"""
import sys
from pathlib import Path

# bench/http.py is named like the standard library's `http` package: keep this folder off the import path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse  # noqa: E402
import gzip  # noqa: E402
import http.client  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
import secrets  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections import defaultdict  # noqa: E402
from html import unescape  # noqa: E402
from urllib.parse import urlencode, urlsplit  # noqa: E402

import psycopg  # noqa: E402
from redis import Redis  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SERVER = "postgresql://postgres@127.0.0.1:5432"
REDIS_URL = "redis://127.0.0.1:6379/10"
KEEP_ALIVE = 5  # gunicorn --keep-alive; a client connection idle for longer is reopened before use, never retried
CRASH_PATTERNS = re.compile(r"SIGSEGV|Segmentation fault|Fatal Python error|WORKER TIMEOUT|Worker .* was sent")
SEARCHES = ["台灯", "键盘", "茶", "游戏", "专辑", "背包", "动画", "设定集", "lamp", "自行车"]
DESKTOP = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36"
PHONE = "Mozilla/5.0 (Linux; Android 13) AppleWebKit/537.36 Chrome/126.0 Mobile Safari/537.36"
ADDRESS = {"name": "压测用户", "phone": "13800000000", "region": "mainland", "province": "浙江省", "city": "杭州市",
           "district": "西湖区", "detail": "文三路 1 号", "address_id": "0"}


class Recorder:
    """Every request's kind, status and latency, and every unexpected answer."""

    def __init__(self):
        self.lock = threading.Lock()
        self.samples = defaultdict(list)  # kind -> [seconds]
        self.errors = []

    def add(self, kind, seconds):
        with self.lock:
            self.samples[kind].append(seconds)

    def error(self, message):
        with self.lock:
            self.errors.append(message)


class Unexpected(Exception):
    """An answer a browser would not expect (already recorded)."""


class Browser:
    """One keep-alive connection with a cookie jar; redirects are followed by the caller, request by request."""

    def __init__(self, port, recorder, user_agent=DESKTOP):
        self.port, self.recorder, self.user_agent = port, recorder, user_agent
        self.cookies, self.conn, self.last_used = {}, None, 0.0

    def request(self, kind, method, url, form=None, expect=(200,), headers=()):
        """Make one request; returns (status, location, text). Anything not in `expect` is an error."""
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        if self.conn is None or time.monotonic() - self.last_used > KEEP_ALIVE - 1:
            self.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        sent = {"User-Agent": self.user_agent, "Accept-Encoding": "gzip", "Accept": "text/html", **dict(headers)}
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urlencode(form).encode()
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        started = time.monotonic()
        try:
            self.conn.request(method, path, body=body, headers=sent)
            response = self.conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as error:
            self.close()
            self.recorder.error(f"{kind}: {method} {path}: {type(error).__name__}: {error}")
            raise Unexpected() from None
        finally:
            self.last_used = time.monotonic()
        self.recorder.add(kind, self.last_used - started)
        for header, value in response.getheaders():
            if header.lower() == "set-cookie":
                name, _, rest = value.partition("=")
                self.cookies[name.strip()] = rest.split(";", 1)[0]
        if response.getheader("Content-Encoding") == "gzip":
            data = gzip.decompress(data)
        if response.getheader("Connection", "").lower() == "close":
            self.close()
        text = data.decode("utf-8", "replace")
        if response.status not in expect:
            self.recorder.error(f"{kind}: {method} {path}: HTTP {response.status} {text[:200]!r}")
            raise Unexpected()
        return response.status, response.getheader("Location"), text

    def get(self, kind, url, expect=(200,), **kw):
        return self.request(kind, "GET", url, expect=expect, **kw)

    def post(self, kind, url, form, expect=(303,), **kw):
        return self.request(kind, "POST", url, form=form, expect=expect, **kw)

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def hidden(html, name):
    """The value of the first hidden input called `name`."""
    match = re.search(rf'name="{name}" type="hidden" value="([^"]*)"', html)
    if match is None:
        raise ValueError(f"no {name} in the page")
    return unescape(match.group(1))


def fen(text):
    """¥1,234.50 → 123450."""
    yuan, _, cents = text.replace(",", "").partition(".")
    return int(yuan) * 100 + int((cents + "00")[:2])


def browse(browser, site, rng):
    """One public page, chosen like a visitor would."""
    project = rng.choice(site["projects"])
    page = rng.random()
    if page < 0.2:
        browser.get("home", "/")
    elif page < 0.35:
        category = rng.choice(site["categories"])
        browser.get("category", f"/categories/{category}")
    elif page < 0.5:
        browser.get("search", "/search?" + urlencode({"q": rng.choice(SEARCHES)}))
    elif page < 0.8:
        browser.get("project", f"/projects/{project}")
    elif page < 0.87:
        browser.get("project (htmx block)", f"/projects/{project}", headers={"HX-Request": "true"})
    elif page < 0.94:
        browser.get("backers", f"/projects/{project}/backers")
    else:
        browser.get("static css", site["css"])


def visitor(port, site, recorder, stop, seed):
    """Read public pages until told to stop."""
    rng, browser = random.Random(seed), Browser(port, recorder)
    while not stop.is_set():
        try:
            browse(browser, site, rng)
        except Unexpected:
            time.sleep(0.2)
    browser.close()


def backer(number, port, site, recorder, stop, paid, seed):
    """Sign up, browse, back and pay, then back again until told to stop (at least once)."""
    rng = random.Random(seed)
    browser = Browser(port, recorder, PHONE if number % 2 else DESKTOP)
    try:
        page = browser.get("signup form", "/signup")[2]
        password = "load-" + secrets.token_hex(6)
        browser.post("signup", "/signup", {
            "csrf_token": hidden(page, "csrf_token"), "email": f"backer{number}-{secrets.token_hex(3)}@example.com",
            "display_name": f"压测支持者{number}", "password": password, "confirm": password, "accept_terms": "y",
            "next": ""})
        while True:
            for _ in range(rng.randint(2, 4)):
                browse(browser, site, rng)
            pay_once(browser, site, rng, paid)
            if stop.is_set():
                break
    except Unexpected:
        pass
    except Exception as error:  # a page without the expected form, say
        recorder.error(f"backer {number}: {type(error).__name__}: {error}")
    browser.close()


def pay_once(browser, site, rng, paid):
    """Back a project on a tier (or without reward), pay at the sandbox cashier, wait for the receipt."""
    slug, tier_id = rng.choice(site["tiers"])
    browser.get("project", f"/projects/{slug}")
    form_page = browser.get("pledge form", f"/projects/{slug}/back?tier={tier_id}")[2]
    form = {"csrf_token": hidden(form_page, "csrf_token"), "idempotency_key": hidden(form_page, "idempotency_key"),
            "tier": str(tier_id), "accept_risk": "y", "channel": "wap" if browser.user_agent == PHONE else "pc"}
    price = re.search(r'name="amount" type="text" value="([^"]*)"', form_page).group(1)
    form["amount"] = price or f"{rng.randint(1, 50)}.{rng.choice(['00', '50', '01'])}"  # no reward: type one
    if site["physical"].get(tier_id):
        form.update(ADDRESS)
    gateway = browser.post("pledge", f"/projects/{slug}/back", form)[1]
    cashier = browser.get("sandbox gateway", gateway, expect=(303,))[1]
    cashier_page = browser.get("sandbox cashier", cashier)[2]
    amount = fen(re.search(r"<dt>金额</dt><dd><strong>¥([\d,.]+)</strong>", cashier_page).group(1))
    back = browser.post("sandbox pay", cashier, {"csrf_token": hidden(cashier_page, "csrf_token"), "action": "pay"})[1]
    with paid["lock"]:
        paid["by_slug"][slug] += amount
        paid["count"] += 1
    pledge_url = browser.get("alipay return", back, expect=(303,))[1]
    deadline = time.monotonic() + 60
    while "支付凭证" not in browser.get("pledge page", pledge_url)[2]:
        if time.monotonic() > deadline:
            browser.recorder.error(f"{pledge_url}: no receipt 60 s after paying")
            raise Unexpected()
        time.sleep(1)  # the page polls every 2 s with htmx


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def sql(url, query, *params):
    with psycopg.connect(url) as conn:
        return conn.execute(query, params).fetchall()


def the_site(url, css):
    """What the simulated people click on: live projects, their roomy tiers, categories."""
    tiers = sql(url, "SELECT p.slug, t.id, t.physical FROM projects p JOIN reward_tiers t ON t.project_id = p.id "
                     "WHERE p.status = 'live' AND (t.quantity_limit IS NULL OR t.quantity_limit - t.taken > 500)")
    slugs = [row[0] for row in sql(url, "SELECT slug FROM projects WHERE status = 'live' ORDER BY id")]
    return {"projects": slugs, "tiers": [(s, t) for s, t, _ in tiers] + [(s, 0) for s in slugs[:4]],
            "physical": {t: physical for _, t, physical in tiers},
            "categories": [row[0] for row in sql(url, "SELECT slug FROM categories WHERE parent_id IS NULL")],
            "css": css}


def paid_totals(url):
    """Per project slug: fen of paid pledges, and fen the ledger holds in escrow."""
    pledges = dict(sql(url, "SELECT p.slug, COALESCE(SUM(COALESCE(g.paid_fen, g.amount_fen)), 0) FROM projects p "
                            "LEFT JOIN pledges g ON g.project_id = p.id AND g.status = 'paid' GROUP BY p.slug"))
    escrow = dict(sql(url, "SELECT p.slug, COALESCE(-SUM(e.amount_fen), 0) FROM projects p "
                           "JOIN ledger_accounts a ON a.code = 'escrow:project:' || p.id "
                           "LEFT JOIN ledger_entries e ON e.account_id = a.id GROUP BY p.slug"))
    return pledges, escrow


def wait_until_drained(url, redis, first_trade, timeout=120):
    """Every sandbox trade paid in the run notified and every accepted notification applied, queues empty; False on timeout."""
    from rq import Queue
    from rq.registry import ScheduledJobRegistry, StartedJobRegistry

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        unsent = sql(url, "SELECT count(*) FROM sandbox_trades WHERE id >= %s AND status = 'TRADE_SUCCESS' "
                          "AND notifications_sent = 0", first_trade)[0][0]
        unapplied = sql(url, "SELECT count(*) FROM payment_notifications WHERE accepted AND applied_at IS NULL")[0][0]
        busy = sum(len(Queue(q, connection=redis)) + StartedJobRegistry(q, connection=redis).count
                   + ScheduledJobRegistry(q, connection=redis).count for q in ("payments", "notifications"))
        if not unsent and not unapplied and not busy:
            return True
        time.sleep(1)
    return False


def failed_jobs(redis):
    from rq.registry import FailedJobRegistry
    from rq.job import Job

    failed = []
    for queue in ("payments", "notifications", "default"):
        for job_id in FailedJobRegistry(queue, connection=redis).get_job_ids():
            job = Job.fetch(job_id, connection=redis)
            failed.append(f"{queue}: {job.func_name}: {(job.latest_result().exc_string or '').strip()[-300:]}")
    return failed


def percentile(values, share):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def start(command, env, log):
    """A process in its own group (so its children stop with it), output appended to `log`."""
    with open(log, "ab") as out:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


def stop_all(processes):
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    for process in processes:
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def flask(env, *args):
    return subprocess.run([BIN / "flask", "--app", "crowdfund", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True)


def run(args, workdir, name, processes):
    """Set up, load, check; returns the list of failed checks."""
    url, port = f"{SERVER}/{name}", free_port()
    env = {**os.environ, "DATABASE_URL": f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}",
           "REDIS_URL": REDIS_URL, "INSTANCE_PATH": str(workdir), "SITE_URL": f"http://127.0.0.1:{port}",
           "SECRET_KEY": secrets.token_hex(32), "CROWDFUND_ENV": "development", "PAYMENT_SANDBOX": "1",
           "RATELIMIT_SIGNUP": "100000 per minute", "RATELIMIT_LOGIN": "100000 per minute",
           "RATELIMIT_PLEDGE": "100000 per minute", "PYTHONFAULTHANDLER": "1", "PYTHONUNBUFFERED": "1"}
    redis = Redis.from_url(REDIS_URL)
    redis.flushdb()  # nothing left from an earlier run; seed-demo's jobs then wait here for the workers
    for step in (("db", "upgrade"), ("seed-demo",)):
        result = flask(env, *step)
        if result.returncode:
            return [f"flask {' '.join(step)} failed:\n{result.stdout}{result.stderr}"]
    gunicorn_log = workdir / "gunicorn.log"
    processes.append(start([BIN / "gunicorn", "-k", "gthread", "-w", "2", "--threads", "4", "-b",
                            f"127.0.0.1:{port}", "--keep-alive", str(KEEP_ALIVE), "--error-logfile", "-",
                            "--no-control-socket",  # gunicorn 27 would share ~/.gunicorn/gunicorn.ctl with others
                            "wsgi:app"], env, gunicorn_log))
    processes.append(start([sys.executable, "worker.py"], env, workdir / "worker-1.log"))
    processes.append(start([sys.executable, "worker.py", "--no-cron"], env, workdir / "worker-2.log"))
    recorder = Recorder()
    probe, deadline = Browser(port, Recorder()), time.monotonic() + 60
    while True:
        try:
            home = probe.get("home", "/")[2]
            break
        except Unexpected:
            if time.monotonic() > deadline or processes[0].poll() is not None:
                return ["gunicorn did not start; see " + str(gunicorn_log)]
            time.sleep(0.5)
    probe.close()
    site = the_site(url, re.search(r'href="(/assets/[^"]+\.css)"', home).group(1))
    before = paid_totals(url)
    first_trade = sql(url, "SELECT COALESCE(MAX(id), 0) + 1 FROM sandbox_trades")[0][0]  # the demo's are not ours
    paid = {"lock": threading.Lock(), "by_slug": defaultdict(int), "count": 0}
    stop, load_before = threading.Event(), os.getloadavg()
    threads = [threading.Thread(target=visitor, args=(port, site, recorder, stop, i), daemon=True)
               for i in range(args.browsers)]
    threads += [threading.Thread(target=backer, args=(i, port, site, recorder, stop, paid, 1000 + i), daemon=True)
                for i in range(args.backers)]
    print(f"{args.browsers} browsing and {args.backers} paying connections for {args.duration} s on port {port} "
          f"(load average {load_before[0]:.1f})", flush=True)
    started = time.monotonic()
    for thread in threads:
        thread.start()
    time.sleep(args.duration)
    load_during = os.getloadavg()
    stop.set()
    for thread in threads:
        thread.join(120)
    elapsed = time.monotonic() - started
    report(recorder, elapsed, load_during)

    failures = [f"{len(recorder.errors)} request errors"] if recorder.errors else []
    if any(thread.is_alive() for thread in threads):
        failures.append("some simulated people were still waiting 120 s after the end")
    if not wait_until_drained(url, redis, first_trade):
        failures.append("the payment and notification queues did not drain within 120 s")
    failures += [f"failed job: {job}" for job in failed_jobs(redis)]
    verify = flask(env, "ledger", "verify")
    print(f"ledger verify: {(verify.stdout + verify.stderr).strip()} (exit {verify.returncode})")
    if verify.returncode:
        failures.append("ledger verify failed")
    after = paid_totals(url)
    failures += compare_totals(before, after, paid)
    outcomes = sql(url, "SELECT coalesce(outcome, reason), count(*) FROM payment_notifications GROUP BY 1 ORDER BY 1")
    print("notifications: " + ", ".join(f"{count} {outcome}" for outcome, count in outcomes))
    log = gunicorn_log.read_text(errors="replace")  # read before stopping: the shutdown sends every worker SIGTERM
    crashes = [line.strip() for line in log.splitlines() if CRASH_PATTERNS.search(line)]
    print(f"gunicorn log: {len(crashes)} crash lines" + "".join(f"\n  {line}" for line in crashes[:20]))
    for stack in re.findall(r"^Current thread [^\n]*\n((?:  File [^\n]*\n){1,4})", log, re.M):
        print("  crashed in:\n" + stack.rstrip())
    if crashes:
        failures.append(f"{len(crashes)} crash lines in {gunicorn_log}")
    return failures


def compare_totals(before, after, paid):
    """The paid totals per project grew by exactly what the backers paid at the cashier."""
    failures = []
    for source, old, new in (("pledges", before[0], after[0]), ("escrow", before[1], after[1])):
        grown = {slug: new.get(slug, 0) - old.get(slug, 0) for slug in set(new) | set(old)}
        grown = {slug: amount for slug, amount in grown.items() if amount}
        if grown != dict(paid["by_slug"]):
            failures.append(f"paid totals ({source}) grew by {grown}, backers paid {dict(paid['by_slug'])}")
    total = sum(paid["by_slug"].values())
    print(f"payments: {paid['count']} made, ¥{total / 100:,.2f} ({total} fen); "
          f"per-project totals {'match' if not failures else 'DIFFER'} (pledges and escrow)")
    return failures


def report(recorder, elapsed, load):
    """Throughput, then p50/p99 per kind of request, then the errors."""
    count = sum(len(v) for v in recorder.samples.values())
    print(f"\n{count} requests in {elapsed:.1f} s: {count / elapsed:.0f} req/s "
          f"(load average during the run {load[0]:.1f} {load[1]:.1f} {load[2]:.1f})")
    print(f"{'request':<22} {'count':>7} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for kind, values in sorted(recorder.samples.items(), key=lambda item: -len(item[1])):
        print(f"{kind:<22} {len(values):>7} {1000 * percentile(values, 0.5):>8.0f} "
              f"{1000 * percentile(values, 0.99):>8.0f} {1000 * max(values):>8.0f}")
    print(f"errors: {len(recorder.errors)}" + "".join(f"\n  {e}" for e in recorder.errors[:20]))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backers", type=int, default=20, help="threads that sign up and pay (default 20)")
    parser.add_argument("--browsers", type=int, default=32, help="threads that only read pages (default 32)")
    parser.add_argument("--duration", type=int, default=60, help="seconds of traffic (default 60)")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # clean up as on Ctrl-C
    name, workdir, processes = f"cf_load_{secrets.token_hex(4)}", Path(tempfile.mkdtemp(prefix="cf_load_")), []
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    failures = ["interrupted"]
    try:
        failures = run(args, workdir, name, processes)
    finally:
        stop_all(processes)
        with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        Redis.from_url(REDIS_URL).flushdb()
        if failures:
            print(f"\nFAILED: {'; '.join(failures)}\nlogs kept in {workdir}")
        else:
            shutil.rmtree(workdir)
            print("\nall checks passed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
