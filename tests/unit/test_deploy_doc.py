"""docs/DEPLOY.md names every environment variable the code reads, and the process files start what it describes."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# os.environ.get("X"), env.get("X", …), _bool("X"), os.getenv("X"), os.environ["X"]
READ = re.compile(r"""(?:environ\.get|env\.get|_bool|getenv)\(\s*["']([A-Z][A-Z0-9_]+)["']"""
                  r"""|environ\[["']([A-Z][A-Z0-9_]+)["']\]""")


def variables_read():
    names = set()
    for path in [*(ROOT / "crowdfund").rglob("*.py"), ROOT / "wsgi.py", ROOT / "worker.py"]:
        for match in READ.finditer(path.read_text(encoding="utf-8")):
            names.add(match.group(1) or match.group(2))
    return names


def test_every_variable_the_code_reads_is_in_deploy_md():
    names = variables_read()
    assert {"SECRET_KEY", "DATABASE_URL", "REDIS_URL", "ALIPAY_APP_PRIVATE_KEY", "INSTANCE_PATH"} <= names
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]+)(?:=[^`]*)?`", (ROOT / "docs" / "DEPLOY.md").read_text()))
    assert sorted(names - documented) == []


def test_procfile_and_units_run_one_scheduler_and_workers_without_cron():
    procfile = dict(line.split(": ", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line.strip())
    assert set(procfile) == {"release", "web", "worker", "scheduler"}
    assert procfile["web"].startswith("gunicorn ") and procfile["web"].endswith(" wsgi:app")
    assert procfile["worker"] == "python worker.py --no-cron"
    assert procfile["scheduler"] == "python worker.py --cron-only"
    units = {path.name: path.read_text() for path in (ROOT / "deploy").glob("*.service")}
    command = re.compile(r"^ExecStart=((?:[^\n]*\\\n)*[^\n]*)", re.M)  # continued lines included
    starts = {name: command.search(text).group(1) for name, text in units.items()}
    assert starts["crowdfund-worker@.service"].endswith("worker.py --no-cron")
    assert starts["crowdfund-scheduler.service"].endswith("worker.py --cron-only")
    assert starts["crowdfund-web.service"].endswith(" wsgi:app")
    assert all(f"`deploy/{name}`" in (ROOT / "docs" / "DEPLOY.md").read_text() for name in units)
