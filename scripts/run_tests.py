"""The test command (`make test`, called by .ci/run): use PostgreSQL and Redis when they answer, then pytest;
then, when MySQL/MariaDB answers, the money path (MONEY_PATH) a second time on a fresh MariaDB database.

The second pass takes the same pytest options (e.g. -n/--dist); given test paths, it runs only the money-path
ones among them (none: no second pass), so running one unrelated file stays one pass. Under CI (CI=true) a
MariaDB that does not answer is a failure. Exits non-zero on any failure in either pass and when no test ran.
"""
import os
import shutil
import subprocess
import sys

PG_URL = os.environ.get("TEST_PG_SERVER", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TEST_REDIS_SERVER", "redis://127.0.0.1:6379/13")
MYSQL_URL = os.environ.get("TEST_MYSQL_SERVER", "mysql+pymysql://root@127.0.0.1:3306/")
# What must hold on MariaDB too (issue 15): slot reservation under a flood, payment notifications, the ledger and
# its append-only guard, late claims taking turns, refunds, Chinese search, the database's own rules.
MONEY_PATH = (
    "tests/unit/test_oversell.py",
    "tests/web/test_payments.py",
    "tests/unit/test_ledger.py",
    "tests/unit/test_ledger_verification.py",
    "tests/unit/test_claim_race.py",
    "tests/unit/test_refund_faults.py",
    "tests/unit/test_databases.py",
    "tests/web/test_discovery.py::test_search_in_chinese_over_title_summary_and_creator",
    "tests/web/test_sessions.py::test_the_database_refuses_to_rewrite_audit_rows",
)


def postgres_answers(url):
    try:
        import psycopg

        with psycopg.connect(url, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
        return True
    except Exception as error:
        print(f"PostgreSQL not reachable at {url}: {error}")
        return False


def redis_answers(url):
    try:
        from redis import Redis

        return bool(Redis.from_url(url, socket_connect_timeout=2).ping())
    except Exception as error:
        print(f"Redis not reachable at {url}: {error}")
        return False


def mysql_answers(url):
    try:
        import pymysql
        from sqlalchemy.engine import make_url

        server = make_url(url)
        pymysql.connect(host=server.host, port=server.port or 3306, user=server.username,
                        password=server.password or "", connect_timeout=3).close()
        return True
    except Exception as error:
        print(f"MySQL/MariaDB not reachable at {url}: {error}")
        return False


def is_test_path(arg):
    return not arg.startswith("-") and os.path.exists(arg.partition("::")[0])


def money_path_args(argv):
    """The second pass's arguments: the options as given, and the money-path tests among the paths given (all of
    MONEY_PATH when none was given); None when paths were given and none of them is on the money path."""
    options = [arg for arg in argv if not is_test_path(arg)]
    paths = [os.path.normpath(arg) for arg in argv if is_test_path(arg)]
    if not paths:
        return [*options, *MONEY_PATH]

    def selected(test):
        file = test.partition("::")[0]
        return any(path in (test, file) or file.startswith(path + os.sep) for path in paths)

    chosen = [test for test in MONEY_PATH if selected(test)]
    return [*options, *chosen] if chosen else None


def pytest_run(argv, env):
    result = subprocess.run([sys.executable, "-m", "pytest", *argv], env=env)
    if result.returncode == 5:
        print("no tests ran: that is a failure")
        return 1
    return result.returncode


def main(argv):
    env = dict(os.environ)
    if "TEST_DATABASE_URL" not in env and postgres_answers(PG_URL):
        env["TEST_DATABASE_URL"] = PG_URL
    if "TEST_REDIS_URL" not in env and redis_answers(REDIS_URL):
        env["TEST_REDIS_URL"] = REDIS_URL
    print("database:", "PostgreSQL (fresh database per run)" if env.get("TEST_DATABASE_URL") else "SQLite")
    print("redis:   ", env.get("TEST_REDIS_URL") or "none (job tests skip)")
    print("chromium:", shutil.which("chromium") or "none (browser tests skip)")
    first = pytest_run(argv, env)
    second_args = money_path_args(argv)
    if second_args is None or "TEST_MYSQL_URL" in env:  # nothing on the money path; or already on MySQL
        return first
    if not mysql_answers(MYSQL_URL):
        if env.get("CI") == "true":
            print("MariaDB is required under CI (.ci/run starts it): the money path's second pass failed")
            return first or 1
        print("MariaDB: not reachable, the money path's second pass is skipped")
        return first
    print("\nmoney path, second pass: MariaDB (fresh database per run)")
    env = {key: value for key, value in env.items() if key != "TEST_DATABASE_URL"}
    second = pytest_run(second_args, {**env, "TEST_MYSQL_URL": MYSQL_URL})
    return first or second


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
