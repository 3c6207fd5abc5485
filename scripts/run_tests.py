"""The test command (`make test`, called by .ci/run): use PostgreSQL and Redis when they answer, then pytest.

Exits non-zero on any failure and when no test ran.
"""
import os
import shutil
import subprocess
import sys

PG_URL = os.environ.get("TEST_PG_SERVER", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TEST_REDIS_SERVER", "redis://127.0.0.1:6379/13")


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


def main(argv):
    env = dict(os.environ)
    if "TEST_DATABASE_URL" not in env and postgres_answers(PG_URL):
        env["TEST_DATABASE_URL"] = PG_URL
    if "TEST_REDIS_URL" not in env and redis_answers(REDIS_URL):
        env["TEST_REDIS_URL"] = REDIS_URL
    print("database:", "PostgreSQL (fresh database per run)" if env.get("TEST_DATABASE_URL") else "SQLite")
    print("redis:   ", env.get("TEST_REDIS_URL") or "none (job tests skip)")
    print("chromium:", shutil.which("chromium") or "none (browser tests skip)")
    result = subprocess.run([sys.executable, "-m", "pytest", *argv], env=env)
    if result.returncode == 5:
        print("no tests ran: that is a failure")
        return 1
    return result.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
