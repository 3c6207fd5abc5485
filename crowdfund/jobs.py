"""RQ job functions: thin, safe to run twice, loading what they need by id."""
from crowdfund.queueing import periodic


@periodic(interval=60)
def heartbeat():
    """Proves the scheduler is alive; /healthz reports when it last ran."""
    return "ok"


@periodic(interval=60)
def launch_scheduled_projects():
    """Projects approved for a later launch go live when their time comes."""
    from crowdfund.review import launch_due

    return launch_due()


@periodic(interval=300)
def verify_ledger(now=None):
    """Check the ledger's hash chain and record the result: the funds page shows it instead of verifying per view."""
    from crowdfund import ledger

    return ledger.record_verification("job", now=now).ok


@periodic(interval=3600)
def expire_data_exports(now=None):
    """Personal-data downloads are offered for 24 hours: then their files are deleted and they show as expired."""
    from crowdfund import privacy

    return privacy.expire_exports(now=now)


@periodic(interval=60)
def flush_visits():
    """Write the project-page visits queued in Redis to the database."""
    from crowdfund import visits

    return visits.flush()


@periodic(interval=600)
def run_risk_rules(now=None):
    """Every risk rule over every project; alerts land in the moderators' queue."""
    from crowdfund import risk

    return risk.run_rules(now=now)


def check_project_risk(project_id):
    """The risk rules over one project, after a paid pledge, a report or a refund claim."""
    from crowdfund import risk
    from crowdfund.extensions import db
    from crowdfund.models import Project

    project = db.session.get(Project, project_id)
    return len(risk.check_project(project)) if project is not None else 0
