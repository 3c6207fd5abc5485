"""What /healthz reports: can we reach the database and, when configured, Redis; when jobs and ledger checks ran;
whether uploads can be stored."""
from flask import current_app
from sqlalchemy import select, text

from crowdfund.extensions import db
from crowdfund.queueing import redis_connection


def check():
    """A small report; status is "ok" only when every configured dependency answers."""
    report = {"status": "ok", "database": "ok", "redis": "not configured", "periodic": {}}
    try:
        db.session.execute(text("SELECT 1"))
        from crowdfund.models import PeriodicRun

        report["periodic"] = {
            row.name: row.last_run_at.isoformat() for row in db.session.scalars(select(PeriodicRun))
        }
        report["ledger"] = ledger_report()
    except Exception as error:  # any driver error means "down"
        current_app.logger.warning("health: database unreachable: %s", error)
        db.session.rollback()
        report["database"] = "unavailable"
        report["status"] = "unavailable"
    connection = redis_connection()
    if connection is not None:
        try:
            connection.ping()
            report["redis"] = "ok"
        except Exception as error:
            current_app.logger.warning("health: redis unreachable: %s", error)
            report["redis"] = "unavailable"
            report["status"] = "unavailable"
    report["storage"] = storage_report()
    return report


def storage_report():
    """Whether uploads can be stored. Not a reason to go "unavailable": every host shares one store, so a load
    balancer acting on it would take the whole site down over uploads that pages mostly do not need."""
    from crowdfund.storage import StorageError, get_storage

    try:
        get_storage().check()
    except StorageError as error:
        current_app.logger.warning("health: storage unavailable: %s", error)
        return "unavailable"
    return "ok"


def ledger_report():
    """The last recorded check of the ledger's chain; a broken chain is reported, not a reason to go "unavailable"."""
    from crowdfund import ledger

    check = ledger.latest_verification()
    if check is None:
        return {"verified": "not yet"}
    return {"verified": "ok" if check.ok else "failed", "at": check.finished_at.isoformat(),
            "transactions": check.last_seq, "full": check.full}
