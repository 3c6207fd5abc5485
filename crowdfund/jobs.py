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
