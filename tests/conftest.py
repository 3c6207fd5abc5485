"""Shared fixtures: app, client, database (PostgreSQL when TEST_DATABASE_URL is set), Redis, browser."""
import os
import re
import secrets
import shutil
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CI = os.environ.get("CI") == "true"
# The app reads its settings from the environment: keep a developer's shell out of the tests.
for name in ("DATABASE_URL", "REDIS_URL", "CROWDFUND_ENV", "SECRET_KEY", "RATELIMIT_STORAGE_URI",
             "SESSION_COOKIE_SECURE", "TRUSTED_PROXIES", "DEFAULT_LOCALE", "PAYMENT_PROVIDERS"):
    os.environ.pop(name, None)

from crowdfund import create_app  # noqa: E402
from crowdfund.extensions import db  # noqa: E402

CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def unavailable(what, how):
    """Skip with an install hint outside CI; under CI a missing service is a failure."""
    if CI:
        pytest.fail(f"{what} is required under CI ({how})")
    pytest.skip(f"{what} not available — {how}")


# The longest files start first: `make test` hands whole files to its processes in collection order, so a long one
# collected last would keep one process busy while the other idles (the order within a file is kept).
SLOW_FIRST = ("tests/web/test_enumerate_xss.py", "tests/unit/test_money_properties.py", "tests/unit/test_oversell.py",
              "tests/web/test_enumerate_bad_input.py", "tests/browser/test_budgets.py", "tests/browser/test_checkout.py",
              "tests/unit/test_jobs.py", "tests/unit/test_serve.py", "tests/unit/test_cli.py")


def pytest_collection_modifyitems(items):
    rank = {path: i for i, path in enumerate(SLOW_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.partition("::")[0], len(SLOW_FIRST)))


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    """A fresh, migrated database for this run: MySQL/MariaDB if TEST_MYSQL_URL is set (scripts/run_tests.py sets
    it for its second, money-path pass), else PostgreSQL if TEST_DATABASE_URL is set, else SQLite."""
    mysql_url = os.environ.get("TEST_MYSQL_URL")
    server_url = os.environ.get("TEST_DATABASE_URL")
    if mysql_url:
        yield from mysql_database(mysql_url, tmp_path_factory)
    elif server_url:
        import psycopg
        from sqlalchemy.engine import make_url

        name = f"crowdfund_test_{uuid.uuid4().hex[:10]}"
        server = make_url(server_url).set(drivername="postgresql")
        admin_dsn = server.render_as_string(hide_password=False)
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url = server.set(drivername="postgresql+psycopg", database=name).render_as_string(hide_password=False)
        migrate_to(url, tmp_path_factory.mktemp("instance"))
        yield url
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    else:
        path = tmp_path_factory.mktemp("db") / "test.sqlite"
        url = f"sqlite:///{path}"
        migrate_to(url, tmp_path_factory.mktemp("instance"))
        yield url


def mysql_database(server_url, tmp_path_factory):
    """A fresh `crowdfund_test_<hex>` database on the MySQL/MariaDB server, migrated, dropped at the end."""
    import pymysql
    from sqlalchemy.engine import make_url

    from crowdfund.config import normalize_database_url

    server = make_url(normalize_database_url(server_url))
    name = f"crowdfund_test_{uuid.uuid4().hex[:10]}"
    try:
        admin = pymysql.connect(host=server.host or "127.0.0.1", port=server.port or 3306, user=server.username,
                                password=server.password or "", connect_timeout=3, autocommit=True)
    except pymysql.MySQLError as error:
        unavailable("MySQL/MariaDB", f"start it (service mariadb start) for TEST_MYSQL_URL ({error})")
    with admin.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
    url = server.set(database=name).render_as_string(hide_password=False)
    try:
        migrate_to(url, tmp_path_factory.mktemp("instance"))
        yield url
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()


def migrate_to(url, instance):
    """Build the schema exactly as production does: `flask db upgrade`."""
    from flask_migrate import upgrade

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "migrate-" + secrets.token_hex(16)})
    with app.app_context():
        upgrade()
        db.engine.dispose()


def app_config(database_url, instance, **overrides):
    """Settings for a test app."""
    config = {
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SECRET_KEY": "test-" + secrets.token_hex(16),
        "REDIS_URL": None,
        "RATELIMIT_STORAGE_URI": "memory://",
        "PAYMENT_SANDBOX": True,
        # Several apps share one database in a test (e.g. `app` writes, `redis_app` serves): the page cache is
        # tested on its own, in tests/web/test_page_cache.py, where every write goes through the caching app.
        "PAGE_CACHE_SECONDS": 0,
    }
    config.update(overrides)
    os.environ["INSTANCE_PATH"] = str(instance)
    return config


def wipe(app):
    """Empty every table (keeping the schema) so the next test starts clean, with the legal documents the
    migration seeds seeded again (version 1 of each, as a fresh database has them)."""
    from sqlalchemy.exc import DBAPIError

    from crowdfund.legal import seed_documents

    with app.app_context():
        tables = [t.name for t in reversed(db.metadata.sorted_tables)]
        with db.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
            elif conn.dialect.name == "mysql":
                # TRUNCATE fires no DELETE trigger and restarts AUTO_INCREMENT, but costs ~25 ms a table: only the
                # tables a test used (their counter moved); those without a counter are emptied by DELETE.
                # A worker killed mid-job (tests/unit/test_refund_faults.py) may leave its transaction open on
                # the server, holding locks TRUNCATE waits for: every other session on this test database ends
                # (each test process has a database of its own; the test's apps are done with theirs).
                for (session,) in conn.exec_driver_sql("SELECT id FROM information_schema.processlist "
                                                       "WHERE db = DATABASE() AND id <> CONNECTION_ID()").all():
                    try:
                        conn.exec_driver_sql(f"KILL {int(session)}")
                    except DBAPIError:  # it ended meanwhile
                        pass
                used = conn.exec_driver_sql("SELECT table_name, auto_increment FROM information_schema.tables "
                                            "WHERE table_schema = DATABASE()").all()
                conn.exec_driver_sql("SET FOREIGN_KEY_CHECKS = 0")
                for table, counter in used:
                    if table not in tables:
                        continue
                    if counter is None:
                        conn.exec_driver_sql(f"DELETE FROM `{table}`")
                    elif counter > 1:
                        conn.exec_driver_sql(f"TRUNCATE TABLE `{table}`")
                conn.exec_driver_sql("SET FOREIGN_KEY_CHECKS = 1")
            else:
                conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
                for table in tables:
                    conn.exec_driver_sql(f"DELETE FROM {table}")
        db.session.remove()
        db.engine.dispose()  # MySQL: pooled connections of this app may have been ended above
        seed_documents()
        db.session.remove()
        db.engine.dispose()


def tamper(statement):
    """Edit ledger history behind the application's back (disabling the append-only triggers for the attempt).

    MySQL/MariaDB cannot switch triggers off for one session: the append-only ones are dropped for the statement
    and created again from their own stored definitions (each test process has a database of its own)."""
    from sqlalchemy import text

    postgres = db.engine.dialect.name == "postgresql"
    mysql = db.engine.dialect.name == "mysql"
    with db.engine.begin() as conn:
        if postgres:
            conn.execute(text("SET session_replication_role = replica"))
        triggers = []
        if mysql:
            names = conn.execute(text("SELECT trigger_name FROM information_schema.triggers WHERE trigger_schema"
                                      " = DATABASE() AND trigger_name LIKE '%append_only%'")).scalars().all()
            triggers = [conn.execute(text(f"SHOW CREATE TRIGGER `{name}`")).one()[2] for name in names]
            for name in names:
                conn.execute(text(f"DROP TRIGGER `{name}`"))
        try:
            conn.execute(text(statement))
        finally:
            for definition in triggers:
                conn.exec_driver_sql(definition)
        if postgres:
            conn.execute(text("SET session_replication_role = DEFAULT"))


@pytest.fixture(scope="session")
def sandbox_key_dir(tmp_path_factory):
    """Sandbox keys (Alipay's, WeChat Pay's) and UnionPay certificates made once per run (that takes a second or
    two), copied into each test's instance."""
    from crowdfund.payments import wechatpay
    from crowdfund.payments.keys import sandbox_keys
    from crowdfund.payments.sandbox_unionpay import sandbox_credentials

    instance = tmp_path_factory.mktemp("keys")
    sandbox_keys(instance)
    wechatpay.sandbox_keys(instance)
    sandbox_credentials(instance)
    return instance / "payments"


@pytest.fixture
def make_app(database_url, tmp_path, sandbox_key_dir):
    """Factory for apps on the test database; every table is emptied afterwards."""
    apps = []
    if not (tmp_path / "instance" / "payments").exists():
        shutil.copytree(sandbox_key_dir, tmp_path / "instance" / "payments")

    def factory(**overrides):
        app = create_app(app_config(database_url, tmp_path / "instance", **overrides))
        apps.append(app)
        return app

    yield factory
    for app in apps:
        if app.config["SQLALCHEMY_DATABASE_URI"] == database_url:
            wipe(app)
            break


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def csrf_from(response):
    """The CSRF token in a rendered form."""
    match = CSRF_RE.search(response.get_data(as_text=True))
    assert match, "no CSRF token in the page"
    return match.group(1)


class Browserless:
    """Drive forms like a browser would: fetch the form, then post it with its CSRF token."""

    def __init__(self, client):
        self.client = client

    def token(self, path="/login"):
        return csrf_from(self.client.get(path))

    def post(self, path, data, form_path=None, htmx=False, **kwargs):
        data = {"csrf_token": self.token(form_path or path), **data}
        headers = {"HX-Request": "true"} if htmx else {}
        return self.client.post(path, data=data, headers=headers, **kwargs)

    def signup(self, email="ann@example.com", name="Ann", password="correct horse 1", confirm=True, htmx=False,
               environ_base=None, **extra):
        """Sign up through the form; with `confirm`, then follow the mailed link and confirm the address, as the
        person would, returning that answer (a 303 into the site, logged in) instead of the sign-up's."""
        data = {"email": email, "display_name": name, "password": password, "confirm": password,
                "accept_terms": "y", **extra}
        before = len(outbox(self.client.application))
        response = self.post("/signup", data, htmx=htmx, **({"environ_base": environ_base} if environ_base else {}))
        accepted = response.status_code == 303 or "HX-Redirect" in response.headers
        if not (confirm and accepted):
            return response
        link = mailed_link(self.client.application, email, after=before)
        if link is None:
            return response  # an address with an account already: its owner got a different mail
        return self.post(link, {}, form_path=link)

    def confirm_email(self, email="ann@example.com"):
        """Open the newest confirmation link mailed to `email` and press its button."""
        link = mailed_link(self.client.application, email)
        return self.post(link, {}, form_path=link)

    def login(self, email="ann@example.com", password="correct horse 1", environ_base=None, **extra):
        return self.post("/login", {"email": email, "password": password, **extra},
                         **({"environ_base": environ_base} if environ_base else {}))

    def logout(self):
        return self.post("/logout", {}, form_path="/")


def outbox(app, to=None):
    """The e-mail the app wrote to its MAIL_OUTBOX (no mail server in tests), oldest first; only to `to` if given."""
    from crowdfund.mailer import outbox as read

    messages = read(app.config.get("MAIL_OUTBOX"))
    return [m for m in messages if to is None or to.lower() in str(m["To"]).lower()]


LINK_RE = re.compile(r"https?://[^/\s]+(/verify-email/[^\s\"<>]+)")
RESET_LINK_RE = re.compile(r"https?://[^/\s]+(/password/reset/[^\s\"<>]+)")


def mailed_link(app, to, after=0, pattern=LINK_RE):
    """The path of the newest confirmation link mailed to `to` (among the messages after the first `after`)."""
    import html

    for message in reversed(outbox(app)[after:]):
        if to.lower() not in str(message["To"]).lower():
            continue
        match = pattern.search(message.get_body(("plain",)).get_content())
        if match:
            return html.unescape(match.group(1))
    return None


def mailed_reset_link(app, to, after=0):
    """The path of the newest password-reset link mailed to `to`."""
    return mailed_link(app, to, after, pattern=RESET_LINK_RE)


@pytest.fixture
def forms(client):
    return Browserless(client)


@pytest.fixture
def make_user(app):
    """Factory: make_user(email=..., roles=[...]) creates an account through the domain module: its e-mail address
    confirmed unless verified=False; it has accepted the current version of every legal document (sign-up takes
    the user agreement and the privacy policy; with `accept_all`, the default, the risk disclosure and the project
    rules too); it has a verified mobile number (unique: +86 199 nnnn nnnn) unless `phone=None`, so creators may
    launch (tests of the phone flows themselves start without one).
    """
    from crowdfund import accounts, legal, phones

    counter, phones_made = iter(range(1, 10_000)), iter(range(1, 10_000))

    def factory(email=None, display_name="Tester", password="correct horse 1", roles=(), accept_all=True,
                verified=True, phone="auto"):
        n = next(phones_made)
        with app.app_context():
            user = accounts.register(email or f"user{next(counter)}@example.com", display_name, password,
                                     verified=verified)
            if accept_all:
                legal.accept(user, [key for key in legal.DOCUMENTS if key not in legal.SIGNUP])
            for role in roles:
                accounts.grant_role(user, role)
            if phone is not None:
                phones.set_verified_phone(user, f"+86199{n:08d}" if phone == "auto" else phone)
                db.session.commit()
            return user.id

    return factory


@pytest.fixture
def login_as(make_user, forms):
    """Create an account with the roles and log the test client in as it."""

    def factory(*roles, email=None):
        email = email or f"{'-'.join(roles) or 'backer'}-{uuid.uuid4().hex[:6]}@example.com"
        make_user(email=email, roles=roles)
        response = forms.login(email=email)
        assert response.status_code == 303, response.get_data(as_text=True)
        return email

    return factory


@pytest.fixture(scope="session")
def redis_url():
    """A real Redis (database 13, emptied) from TEST_REDIS_URL; each pytest-xdist worker takes the next database."""
    url = os.environ.get("TEST_REDIS_URL")
    if not url:
        unavailable("Redis", "install redis-server and run `make test`, which sets TEST_REDIS_URL")
    from redis import Redis

    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    if worker != "gw0":
        base, _, number = url.rpartition("/")
        url = f"{base}/{int(number or 0) + int(worker.removeprefix('gw'))}"

    client = Redis.from_url(url)
    try:
        client.ping()
    except Exception as error:
        unavailable("Redis", f"start redis-server ({error})")
    client.flushdb()
    return url


@pytest.fixture
def redis_app(make_app, redis_url):
    """An app whose jobs go through Redis and RQ."""
    from redis import Redis

    Redis.from_url(redis_url).flushdb()
    return make_app(REDIS_URL=redis_url)


@pytest.fixture
def start_worker(redis_app, tmp_path):
    """Factory: start a real `python worker.py ARGS` process on the test app's database and Redis."""
    started = []

    def factory(*args):
        # Same database, Redis, instance folder (sandbox keys) and site URL as the test app.
        env = {**os.environ, "DATABASE_URL": redis_app.config["SQLALCHEMY_DATABASE_URI"],
               "REDIS_URL": redis_app.config["REDIS_URL"], "SECRET_KEY": redis_app.config["SECRET_KEY"],
               "INSTANCE_PATH": redis_app.instance_path, "SITE_URL": redis_app.config["SITE_URL"],
               "PAYMENT_SANDBOX": "1"}
        log = open(tmp_path / f"worker-{len(started)}.log", "w+")
        process = subprocess.Popen([sys.executable, str(ROOT / "worker.py"), *args], cwd=ROOT, env=env,
                                   stdout=log, stderr=subprocess.STDOUT)
        started.append((process, log))
        return process

    yield factory
    for process, log in started:
        process.terminate()  # a warm shutdown: RQ finishes the job in hand (tests that need it wait themselves)
        try:
            process.wait(3)
        except subprocess.TimeoutExpired:  # still working, e.g. a sandbox notification to a server already gone
            process.kill()
            process.wait()
        log.seek(0)
        print(log.read())


@pytest.fixture
def rq_worker(start_worker):
    """One real RQ worker process (no cron) serving the test app."""
    return start_worker("--no-cron")


class LiveServer:
    """The app served over real HTTP on a free local port, in a thread."""

    def __init__(self, app):
        from werkzeug.serving import make_server

        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.thread.join(5)


@pytest.fixture
def live_server(app):
    server = LiveServer(app)
    app.config["SITE_URL"] = server.url  # notify/return URLs and the sandbox gateway point here
    yield server
    server.stop()


@pytest.fixture
def redis_live_server(redis_app):
    """The Redis-backed app over real HTTP, so worker processes reach its sandbox gateway and notify URLs."""
    server = LiveServer(redis_app)
    redis_app.config["SITE_URL"] = server.url
    yield server
    server.stop()


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium driven by Playwright (never a downloaded browser)."""
    if not Path(CHROMIUM).exists():
        unavailable("Chromium", "apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    browser.close()
    playwright.stop()


@pytest.fixture(params=[True, False], ids=["js", "nojs"])
def page(request, browser, live_server):
    """A phone-sized page (360 px wide), with JavaScript on and then off; console errors fail the test."""
    context = browser.new_context(java_script_enabled=request.param, viewport={"width": 360, "height": 740},
                                  base_url=live_server.url, locale="zh-CN")
    page = context.new_page()
    page.js_enabled = request.param
    errors = []
    expected = "the server responded with a status of 422"  # invalid input answers 422 by design
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" and expected not in msg.text
            else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert not errors, f"browser console errors: {errors}"


def log_in(page, email, password="correct horse 1"):
    """Sign in through the login form, as a person would."""
    page.goto("/login")
    page.get_by_label("邮箱").fill(email)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()
    page.locator(".flash.success").wait_for()


def confirm_mailed_link(page, app, email):
    """After signing up: read the confirmation link mailed to `email` (the outbox stands for the mailbox), open it
    and press its button, as the newcomer would; they end up logged in, with a welcome message."""
    page.get_by_role("heading", name="请查收邮件").wait_for()
    link = wait_for(lambda: mailed_link(app, email))
    page.goto(link)
    page.get_by_role("button", name="确认我的邮箱").click()
    page.locator(".flash.success").wait_for()


def open_menu(page):
    """Open the header's 我的 menu (a <details>: a tap opens it, with or without JS)."""
    menu = page.locator(".site-header details.menu")
    if menu.get_attribute("open") is None:
        menu.locator("summary").click()


SMALL_TAP_TARGETS = """() => {
  // Every control a thumb has to hit, at least 44×44 CSS px (WCAG 2.5.5). Links inside running text are exempt
  // (WCAG's "inline" exception): an inline <a> whose block also holds other text.
  const small = [];
  for (const el of document.querySelectorAll('a[href], button, select, summary, input:not([type=hidden]), textarea')) {
    // A checkbox or radio is hit through its label: the label (the row a thumb taps) is what must be big.
    const target = el.matches('[type=checkbox], [type=radio]') && el.labels && el.labels.length ? el.labels[0] : el;
    const box = target.getBoundingClientRect();
    if (!box.width || !box.height || !el.checkVisibility()) continue;
    if (box.bottom + window.scrollY <= 0) continue;  // the skip link waits above the page until focused
    if (el.matches('a') && getComputedStyle(el).display === 'inline') {
      let block = el.parentElement;
      while (block && getComputedStyle(block).display.startsWith('inline')) block = block.parentElement;
      if (block && block.textContent.trim().length > el.textContent.trim().length) continue;
    }
    if (box.width < 44 || box.height < 44) small.push(`${target.tagName.toLowerCase()} "${target.textContent.trim().slice(0, 30)}" ${Math.round(box.width)}×${Math.round(box.height)}`);
  }
  return small;
}"""


def small_tap_targets(page):
    """The controls on the page smaller than 44×44 px (inline links in text excepted); [] when all are big enough."""
    return page.evaluate(SMALL_TAP_TARGETS)


def choose_address(page, js, province, city, district):
    """Pick from the lists: with htmx each choice brings the next list; without JS a second submit does."""
    page.get_by_label("省份").select_option(province)
    if not js:
        page.get_by_role("button", name="选择城市").click()
    page.get_by_label("城市").select_option(city)
    if not js:
        page.get_by_role("button", name="选择区县").click()
    page.get_by_label("区县").select_option(district)


def back_with_an_address(page, js, slug, name="张三", phone="13800000000", detail="文三路 1 号"):
    """Open the project's first reward's pledge form and fill it in as a backer would: a recipient in Hangzhou,
    picked from the lists, and the risk disclosure accepted. The payment method and the button are the caller's."""
    page.goto(f"/projects/{slug}")
    page.get_by_role("link", name="支持此档").click()
    page.get_by_role("heading", name="支持项目").wait_for()
    page.get_by_label("收货人").fill(name)
    page.get_by_label("手机号码").fill(phone)
    choose_address(page, js, "浙江省", "杭州市", "西湖区")  # 省/市/区 come from the lists
    page.get_by_label("详细地址").fill(detail)
    page.get_by_label("我已阅读风险提示").check()


def wait_for_heading(page, js, heading, why="the notification was never applied", seconds=40):
    """Stay on the pledge page until `heading` shows: htmx polls by itself; without JS the backer taps 刷新."""
    deadline = time.monotonic() + seconds
    while not page.get_by_role("heading", name=heading).is_visible():
        assert time.monotonic() < deadline, why
        if js:
            page.wait_for_timeout(500)  # htmx polls every 2 s
        else:
            page.get_by_role("link", name="刷新").click()
            page.wait_for_timeout(300)


def another_phone(browser, page, live_server):
    """A second person's phone, like `page` (same JS setting and width); returns (context, page), close the context."""
    context = browser.new_context(java_script_enabled=page.js_enabled, viewport={"width": 360, "height": 740},
                                  base_url=live_server.url)
    return context, context.new_page()


def wait_for(predicate, timeout=20, interval=0.1):
    """Poll until predicate() is truthy; returns its value or fails."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout}s waiting for {predicate}")


@pytest.fixture(scope="session")
def repo_root():
    return ROOT


def have(tool):
    return shutil.which(tool) is not None


def compile_catalogs():
    """Compile .po to .mo when stale, so a bare `pytest` sees the same text as `make run`."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    for po in (ROOT / "crowdfund" / "translations").glob("*/LC_MESSAGES/messages.po"):
        mo = po.with_suffix(".mo")
        if not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime:
            with po.open("rb") as source, mo.open("wb") as target:
                write_mo(target, read_po(source))


compile_catalogs()


def image_file(name="cover.png", size=(1600, 900), color=(200, 80, 30), fmt="PNG", exif=None):
    """An uploaded image as Werkzeug's FileStorage (optionally carrying EXIF, e.g. GPS)."""
    import io

    from PIL import Image
    from werkzeug.datastructures import FileStorage

    buffer = io.BytesIO()
    image = Image.new("RGB", size, color)
    kwargs = {"exif": exif} if exif is not None else {}
    image.save(buffer, fmt, **kwargs)
    buffer.seek(0)
    return FileStorage(buffer, filename=name, content_type=f"image/{fmt.lower()}")


def upload(data, name, content_type="application/octet-stream"):
    import io

    from werkzeug.datastructures import FileStorage

    return FileStorage(io.BytesIO(data), filename=name, content_type=content_type)


PDF_BYTES = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"

STATUS_PATHS = {
    "draft": [], "submitted": ["submitted"], "in_review": ["submitted", "in_review"],
    "changes_requested": ["submitted", "in_review", "changes_requested"],
    "rejected": ["submitted", "in_review", "rejected"], "approved": ["submitted", "in_review", "approved"],
    "live": ["submitted", "in_review", "approved", "live"],
}


@pytest.fixture
def make_project(app, make_user):
    """Factory: a complete project by a verified creator, moved along the lifecycle to `status`; returns its slug."""
    from datetime import timedelta

    from crowdfund import ledger, lifecycle, media, pledging, projects
    from crowdfund.catalog import ensure_categories
    from crowdfund.models import Category, Pledge, PledgeStatus, User
    from crowdfund.models.base import utcnow

    counter = iter(range(1, 10_000))

    def factory(status="live", title=None, summary="一个测试项目 A test project", story=None, goal_fen=1_000_00,
                duration_days=30, tiers=None, category="smart-hardware", kind="reward", creator=None,
                featured=False, paid=(), launch_at=None):
        n = next(counter)
        with app.app_context():
            ensure_categories()
            if creator is None:
                creator = make_user(email=f"creator{n}-{uuid.uuid4().hex[:4]}@example.com", display_name=f"创作者{n}",
                                    roles=["creator"])
            owner = db.session.get(User, creator)
            project = projects.create_draft(owner)
            cover = media.save_image(owner, image_file(size=(640, 360)))
            category_row = db.session.scalar(db.select(Category).filter_by(slug=category))
            projects.update_basics(project, title=title or f"测试项目 {n} Test project", summary=summary,
                                   category=category_row, kind=kind, cover=cover)
            projects.update_story(project, story_source=story or f"## 故事 {n}\n\n" + "这是一个足够长的项目故事。" * 8)
            projects.update_funding(project, goal_fen=goal_fen, duration_days=duration_days,
                                    funding_mode="all_or_nothing")
            month = (utcnow() + timedelta(days=duration_days + 62)).strftime("%Y-%m")
            for spec in tiers if tiers is not None else [dict(title="早鸟 Early bird", price_fen=99_00, quantity_limit=100)]:
                projects.add_tier(project, **{"description": "回报内容 reward", "quantity_limit": None,
                                              "delivery_month": month, "physical": True, "unit_cost_fen": None,
                                              "shipping": {"mainland": 0}, **spec})
            projects.update_risk(project, risk_disclosure="可能延期 May be late.", partner_charity="中华慈善总会",
                                 fund_use_plan="全部用于助学", charity_certificate=cover if kind == "charity" else None)
            for step in STATUS_PATHS[status]:
                if step == "approved" and launch_at is not None:
                    project.launch_at = launch_at
                lifecycle.transition(project, step, reason="test")
            project.featured = featured
            for backer, amount, tier_index in paid:
                tier = project.tiers[tier_index] if tier_index is not None else None
                if tier is not None:
                    tier.taken += 1
                out_trade_no = pledging.new_out_trade_no()
                db.session.add(Pledge(project_id=project.id, tier_id=tier.id if tier else None, backer_id=backer,
                                      amount_fen=amount, paid_fen=amount, status=PledgeStatus.PAID, paid_at=utcnow(),
                                      out_trade_no=out_trade_no))
                ledger.post("payment", f"payment:{out_trade_no}", [(ledger.clearing("alipay"), amount),
                                                                   (ledger.escrow(project.id), -amount)],
                            project_id=project.id)
            db.session.commit()
            return project.slug

    return factory


class SmtpInbox:
    """What a real SMTP server (aiosmtpd) received, parsed; `refuse` makes it answer DATA with that reply."""

    def __init__(self):
        self.envelopes = []
        self.refuse = None

    async def handle_DATA(self, server, session, envelope):
        if self.refuse:
            return self.refuse
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    @property
    def messages(self):
        from email import message_from_bytes, policy

        return [message_from_bytes(envelope.content, policy=policy.default) for envelope in self.envelopes]


@pytest.fixture
def smtp_server():
    """An aiosmtpd server on a free local port; `.inbox` holds what arrived, `.host`/`.port` where to send."""
    import socket

    from aiosmtpd.controller import Controller

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inbox = SmtpInbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    controller.inbox, controller.host = inbox, "127.0.0.1"
    yield controller
    controller.stop()


class HeldQuery:
    """The sandbox holds its answer about one trade until the test releases it (a slow provider)."""

    def __init__(self, out_trade_no):
        self.out_trade_no = out_trade_no
        self.asked, self.released = threading.Event(), threading.Event()

    def __call__(self, out_trade_no):
        if out_trade_no == self.out_trade_no:
            self.asked.set()
            assert self.released.wait(30), "the test never released the held answer"


def two_paid_pledges(app, make_project, make_user, both_at_provider=True):
    """Two payments booked in the ledger; the sandbox knows the first (and the second, if both_at_provider)."""
    from crowdfund.models import Pledge, SandboxTrade

    backer = make_user()
    make_project(status="live", tiers=[], paid=[(backer, 30_00, None), (backer, 20_00, None)])
    with app.app_context():
        pledges = db.session.scalars(db.select(Pledge).order_by(Pledge.id)).all()
        for n, pledge in enumerate(pledges if both_at_provider else pledges[:1]):
            db.session.add(SandboxTrade(out_trade_no=pledge.out_trade_no, trade_no=f"T{n}", status="TRADE_SUCCESS",
                                        app_id=app.config["ALIPAY_APP_ID"], total_fen=pledge.paid_fen, subject="x",
                                        channel="pc"))
        db.session.commit()
        return [pledge.out_trade_no for pledge in pledges]


@pytest.fixture(params=["memory", "redis"])
def throttled_app(request, make_app):
    """An app counting 3 failed logins per address in 15 minutes, in memory or in Redis (as in production)."""
    limits = dict(RATELIMIT_LOGIN_ACCOUNT="3 per 15 minutes", RATELIMIT_LOGIN="1000 per minute")
    if request.param == "redis":
        from redis import Redis

        url = request.getfixturevalue("redis_url")
        Redis.from_url(url).flushdb()
        return make_app(RATELIMIT_STORAGE_URI=url, **limits)
    return make_app(**limits)
