"""The development SMS inbox (mounted only with SMS_PROVIDER=dev, never in production)."""
from crowdfund import sms
from crowdfund.blueprints.devsms import bp
from crowdfund.htmx import render
from crowdfund.phones import mask
from crowdfund.private_pages import private


@bp.route("/sms")
@private  # codes: never cached
def inbox():
    """The latest message per number, newest first."""
    return render("devsms/inbox.html", messages=sms.provider().latest(), mask=mask)
