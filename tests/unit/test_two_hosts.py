"""Two web hosts behind one site address share everything a visitor needs (issue 15).

Two gunicorn processes on two ports, one PostgreSQL database, one Redis, one instance folder (the sandbox keys
every host must agree on, and the upload directory shared storage stands in for) and one RQ worker, as
production runs N stateless hosts behind a load balancer. One cookie jar goes to both ports (cookies ignore the
port, as they ignore which host behind the balancer answered), and each request picks its host on purpose: a
session signed in on A works on B, a CSRF token from B's form is taken by A, the cashier page one host shows
is paid on the other, the notification arrives at B (SITE_URL), the pledge page on A shows the receipt; a
rate limit counted alternately on both stops at the combined count; a page cached by A is dropped when B writes.
"""
import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import time
from html import unescape
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest

from tests.conftest import ROOT, unavailable

GUNICORN = Path(sys.executable).parent / "gunicorn"


def hidden(html, name):
    """The value of the hidden input called `name` in a rendered form."""
    match = re.search(rf'name="{name}" type="hidden" value="([^"]*)"', html)
    assert match, f"no hidden {name} in the page"
    return unescape(match.group(1))


class Visitor:
    """A browser without JS: one cookie jar for the site, whichever host answers; redirects are not followed."""

    def __init__(self):
        self.cookies = {}

    def request(self, host, method, path, form=None):
        """(status, headers, text) of one request to `host` (a base URL); `path` may be a full URL of either host."""
        parts = urlsplit(path)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        address = urlsplit(host)
        connection = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
        headers = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0", "Accept": "text/html"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        body = None
        if form is not None:
            body = urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            connection.request(method, target, body=body, headers=headers)
            response = connection.getresponse()
            text = response.read().decode("utf-8", "replace")
        finally:
            connection.close()
        for name, value in response.getheaders():
            if name.lower() == "set-cookie":
                key, _, rest = value.partition("=")
                self.cookies[key.strip()] = rest.split(";", 1)[0]
        return response.status, {k.lower(): v for k, v in response.getheaders()}, text

    def get(self, host, path):
        return self.request(host, "GET", path)

    def post(self, host, path, form):
        return self.request(host, "POST", path, form)


def wait_until_idle(redis_url, timeout=30):
    """Until no job is queued or running: the jobs a payment starts (risk rules, e-mail, points) write too."""
    from redis import Redis
    from rq import Queue
    from rq.registry import StartedJobRegistry

    from crowdfund.queueing import QUEUES

    redis, deadline = Redis.from_url(redis_url), time.monotonic() + timeout
    while any(len(Queue(name, connection=redis)) or StartedJobRegistry(name, connection=redis).count
              for name in QUEUES):
        assert time.monotonic() < deadline, "the worker did not finish its jobs"
        time.sleep(0.3)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def answers(url):
    try:
        return Visitor().get(url, "/healthz")[0] == 200
    except OSError:
        return False


@pytest.fixture
def hosts(redis_app, tmp_path):
    """Start web hosts A and B (gunicorn, like production) on the test database and Redis; stop them afterwards."""
    database = redis_app.config["SQLALCHEMY_DATABASE_URI"]
    if database.startswith("sqlite"):
        unavailable("PostgreSQL", "several hosts need a database server: `make test` sets TEST_DATABASE_URL")
    if not GUNICORN.exists():
        unavailable("gunicorn", "pip install -e .")
    ports = [free_port(), free_port()]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    redis_app.config["SITE_URL"] = urls[1]  # the site's public address, as the balancer's would be: B's here
    env = {**os.environ, "DATABASE_URL": database, "REDIS_URL": redis_app.config["REDIS_URL"],
           "SECRET_KEY": redis_app.config["SECRET_KEY"], "INSTANCE_PATH": redis_app.instance_path,
           "SITE_URL": urls[1], "CROWDFUND_ENV": "development", "PAYMENT_SANDBOX": "1", "PYTHONUNBUFFERED": "1",
           "RATELIMIT_PASSWORD_RESET": "4 per hour",
           # Only the notification may mark the pledge paid: the waiting page must not ask the gateway itself.
           "PAYMENT_QUERY_AFTER_SECONDS": "3600"}
    processes, logs = [], [tmp_path / "host-a.log", tmp_path / "host-b.log"]
    try:
        for port, log in zip(ports, logs):
            with open(log, "wb") as out:
                processes.append(subprocess.Popen(
                    [GUNICORN, "-k", "gthread", "-w", "1", "--threads", "4", "-b", f"127.0.0.1:{port}",
                     "--access-logfile", "-", "--error-logfile", "-",
                     "--no-control-socket",  # gunicorn 27 would share ~/.gunicorn/gunicorn.ctl with others
                     "wsgi:app"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True))
        deadline = time.monotonic() + 30
        while not all(answers(url) for url in urls):
            for process, log in zip(processes, logs):
                assert process.poll() is None, f"a host did not start:\n{log.read_text()}"
            assert time.monotonic() < deadline, "the hosts did not answer /healthz within 30 s"
            time.sleep(0.3)
        yield urls, logs
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        for log in logs:
            print(f"--- {log.name}\n{log.read_text(errors='replace')[-4000:]}")


def test_a_pledge_walks_across_two_hosts(redis_app, hosts, start_worker, make_project, make_user):
    from crowdfund.extensions import db
    from crowdfund.models import PaymentNotification, Pledge, PledgeStatus, Project

    slug = make_project(status="live", title="双机测试灯",
                        tiers=[dict(title="电子版 Digital", price_fen=58_00, quantity_limit=10, physical=False)])
    make_user(email="two@example.com", display_name="两台主机")
    with redis_app.app_context():
        tier_id = db.session.scalar(db.select(Project).filter_by(slug=slug)).tiers[0].id
    (a, b), (log_a, log_b) = hosts
    start_worker("--no-cron")  # after `hosts` set SITE_URL: the worker delivers notifications to B

    backer = Visitor()
    status, _, page = backer.get(a, "/login")
    status, headers, _ = backer.post(a, "/login", {"csrf_token": hidden(page, "csrf_token"),
                                                   "email": "two@example.com", "password": "correct horse 1"})
    assert status == 303, "signed in on A"
    status, _, form_page = backer.get(b, f"/projects/{slug}/back?tier={tier_id}")
    assert status == 200 and "支持项目" in form_page, "B knows the session A signed"
    status, headers, text = backer.post(a, f"/projects/{slug}/back", {
        "csrf_token": hidden(form_page, "csrf_token"), "idempotency_key": hidden(form_page, "idempotency_key"),
        "tier": str(tier_id), "amount": "", "accept_risk": "y", "provider": "alipay", "channel": "pc"})
    assert status == 303, f"A took B's CSRF token: {text[:300]}"
    status, headers, _ = backer.get(b, headers["location"])  # the sandbox gateway, at the site address
    assert status == 303
    cashier = headers["location"]
    status, _, cashier_page = backer.get(a, cashier)  # either host serves the cashier
    assert status == 200 and "¥58.00" in cashier_page
    status, headers, _ = backer.post(b, cashier, {"csrf_token": hidden(cashier_page, "csrf_token"), "action": "pay"})
    assert status == 303
    status, headers, _ = backer.get(a, headers["location"])  # back from the cashier
    assert status == 303
    pledge_page = headers["location"]
    deadline = time.monotonic() + 30
    while 'id="receipt-title">支付凭证<' not in (text := backer.get(a, pledge_page)[2]):
        assert time.monotonic() < deadline, "the notification was never applied"
        time.sleep(0.5)
    assert "已支付" in text and "¥58.00" in text
    notified = re.compile(r'"POST /payments/alipay/notify[^"]*" 200')
    assert notified.search(log_b.read_text()) and not notified.search(log_a.read_text()), "B took the notification"
    with redis_app.app_context():
        pledge = db.session.scalar(db.select(Pledge).filter_by(project_id=db.session.scalar(
            db.select(Project.id).filter_by(slug=slug))))
        assert pledge.status == PledgeStatus.PAID and pledge.paid_fen == 58_00
        assert db.session.scalar(db.select(db.func.count(PaymentNotification.id))
                                 .filter_by(out_trade_no=pledge.out_trade_no, accepted=True)) >= 1

    # A page cached by A is dropped by a write on B (the content version lives in Redis).
    wait_until_idle(redis_app.config["REDIS_URL"])  # so the only write between the two reads is B's
    reader = Visitor()
    comments = f"/projects/{slug}/comments"
    assert reader.get(a, comments)[1].get("x-page-cache") == "miss"  # rendered and stored
    status, headers, text = reader.get(a, comments)
    assert status == 200 and headers.get("x-page-cache") == "hit" and "B 主机的评论" not in text
    _, _, comment_form = backer.get(b, comments)
    status, _, _ = backer.post(b, comments, {"csrf_token": hidden(comment_form, "csrf_token"),
                                             "body": "来自 B 主机的评论"})
    assert status == 303
    status, headers, text = reader.get(a, comments)
    assert headers.get("x-page-cache") == "miss" and "来自 B 主机的评论" in text
    assert reader.get(a, comments)[1].get("x-page-cache") == "hit"

    # A rate limit (RATELIMIT_PASSWORD_RESET: 4 per hour per address) counts the POSTs both hosts took.
    token = hidden(reader.get(a, "/password/forgot")[2], "csrf_token")
    answers_seen = [reader.post(host, "/password/forgot", {"csrf_token": token, "email": f"nobody{n}@example.com"})[0]
                    for n, host in enumerate([a, b, a, b, a, b])]
    assert answers_seen == [303, 303, 303, 303, 429, 429]
