"""Private messages: thread list, a thread, sending, blocking and reporting."""
from flask import abort, current_app, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from crowdfund import lifecycle, messaging, projects
from crowdfund.blueprints.messages import bp
from crowdfund.blueprints.messages.forms import MessageForm, ReportForm
from crowdfund.errors import error_response
from crowdfund.extensions import db, limiter
from crowdfund.htmx import is_htmx, redirect_after_post, render
from crowdfund.models import Project, User
from crowdfund.security import account_or_address, login_required
from crowdfund.inputs import db_int


# One budget for every message sent, first or reply; refused input (422) does not use it up.
rate_limited = limiter.shared_limit(lambda: current_app.config["RATELIMIT_MESSAGE"], scope="private-message",
                                    key_func=account_or_address, methods=["POST"],
                                    deduct_when=lambda response: response.status_code < 400)


@bp.app_template_global()
def unread_message_threads():
    """For the header badge: how many of the signed-in account's threads have unread messages."""
    return messaging.unread_count(current_user.id) if current_user.is_authenticated else 0


def error_text(code):
    return {
        "self": _("You cannot send a private message to yourself."),
        "unrelated": _("You can message a creator once you have backed, followed or commented on their project."),
        "blocked": _("Messages cannot be sent in this conversation."),
        "empty": _("Write a message first."),
        "too_long": _("A message can be at most %(max)d characters.", max=messaging.MAX_BODY),
        "own": _("You cannot report your own message."),
        "reported": _("You already reported this message."),
        "reason_too_long": _("Keep the reason under %(max)d characters.", max=messaging.MAX_REASON),
    }.get(code, _("This message could not be sent."))


@bp.route("")
@login_required
def inbox():
    """The account's conversations, newest first, with unread counts."""
    page = min(max(request.args.get("page", 1, type=db_int), 1), 10_000)
    threads, has_more = messaging.inbox(current_user.id, page)
    return render("messages/inbox.html", threads=threads, page=page, has_more=has_more,
                  unread_total=messaging.unread_count(current_user.id))


def _project_or_404():
    project = projects.get_by_slug(request.args.get("project", ""))
    if project is None or not lifecycle.is_public(project):
        abort(404)
    return project


@bp.route("/new", methods=["GET", "POST"])
@login_required
@rate_limited
def new():
    """Write to a project's creator; goes to the existing conversation when there is one."""
    project = _project_or_404()
    thread = messaging.thread_for(project, current_user.id)
    if thread is not None and request.method == "GET":
        return redirect(url_for("messages.show", thread_id=thread.id), code=303)
    if thread is None:
        if project.creator_id == current_user.id:
            return error_response(403, error_text("self"))
        if not messaging.is_related(project, current_user.id):
            return error_response(403, error_text("unrelated"))
    form = MessageForm()
    if form.validate_on_submit():
        try:
            message = messaging.start(project, current_user, form.body.data)
        except messaging.MessagingError as error:
            db.session.rollback()
            if error.code in ("self", "unrelated", "blocked"):
                return error_response(403, error_text(error.code))
            form.body.errors = [error_text(error.code)]
        else:
            return redirect_after_post(url_for("messages.show", thread_id=message.thread_id) + f"#message-{message.id}",
                                       _("Message sent."))
    status = 422 if form.is_submitted() else 200
    return render("messages/new.html", "new_message", status=status, project=project, form=form,
                  blocked=messaging.is_blocked(current_user.id, project.creator_id))


def _thread_or_404(thread_id):
    """A thread the signed-in account takes part in; 404 for any other id, forged or not."""
    thread = messaging.get_thread(thread_id, current_user.id)
    if thread is None:
        abort(404)
    return thread


def _thread_context(thread, **extra):
    """What the thread page and its blocks need."""
    other_id = messaging.other_party(thread, current_user.id)
    return dict(thread=thread, project=db.session.get(Project, thread.project_id), other=db.session.get(User, other_id),
                blocked=messaging.is_blocked(current_user.id, other_id),
                i_blocked=messaging.has_blocked(current_user.id, other_id), **extra)


def _thread_page(thread, form, status=200):
    return render("messages/thread.html", status=status, messages=messaging.messages_of(thread),
                  reported=messaging.reported_in(thread, current_user.id), **_thread_context(thread, form=form))


def _reply_area(thread, form, status=200, **extra):
    return render("messages/thread.html", "reply_area", status=status, **_thread_context(thread, form=form, **extra))


@bp.route("/<int:thread_id>", methods=["GET", "POST"])
@login_required
@rate_limited
def show(thread_id):
    """One conversation, oldest message first, with the reply form; viewing it marks it read for the viewer."""
    thread = _thread_or_404(thread_id)
    form = MessageForm()
    if request.method == "GET":
        messaging.mark_read(thread, current_user.id)
        return _thread_page(thread, form)
    if form.validate_on_submit():
        try:
            message = messaging.send(thread, current_user, form.body.data)
        except messaging.MessagingError as failure:
            db.session.rollback()
            if failure.code == "blocked":
                return error_response(403, error_text(failure.code))
            form.body.errors = [error_text(failure.code)]
        else:
            if is_htmx():
                return _reply_area(thread, MessageForm(formdata=None), new_message=message)
            return redirect_after_post(url_for("messages.show", thread_id=thread.id) + f"#message-{message.id}",
                                       _("Message sent."))
    if is_htmx():
        return _reply_area(thread, form, status=422)
    return _thread_page(thread, form, status=422)


@bp.route("/<int:thread_id>/block", methods=["POST"])
@login_required
def block(thread_id):
    """Block the other participant: no more messages between the two, in any thread."""
    thread = _thread_or_404(thread_id)
    messaging.block(current_user.id, messaging.other_party(thread, current_user.id))
    return _after_block(thread, _("Blocked. Neither of you can send private messages to the other now."))


@bp.route("/<int:thread_id>/unblock", methods=["POST"])
@login_required
def unblock(thread_id):
    """Lift one's own block on the other participant."""
    thread = _thread_or_404(thread_id)
    messaging.unblock(current_user.id, messaging.other_party(thread, current_user.id))
    return _after_block(thread, _("Unblocked."))


def _after_block(thread, message):
    if is_htmx():
        return _reply_area(thread, MessageForm(formdata=None))
    return redirect_after_post(url_for("messages.show", thread_id=thread.id), message)


@bp.route("/<int:thread_id>/messages/<int:message_id>/report", methods=["POST"])
@login_required
def report(thread_id, message_id):
    """Report the other participant's message to the moderators (once)."""
    thread = _thread_or_404(thread_id)
    message = messaging.get_message(thread, message_id)
    if message is None:
        abort(404)
    form = ReportForm()
    error = None
    try:
        if not form.validate():
            raise messaging.MessagingError("reason_too_long")
        messaging.report(message, current_user.id, form.reason.data)
    except messaging.MessagingError as failure:
        db.session.rollback()
        if failure.code in ("unrelated", "own"):
            abort(403)
        error = failure.code
    anchor = url_for("messages.show", thread_id=thread.id) + f"#message-{message.id}"
    if is_htmx():
        return render("messages/thread.html", "message_item", status=422 if error == "reason_too_long" else 200,
                      message=message, report_error=error and error_text(error),
                      reported=messaging.reported_in(thread, current_user.id), **_thread_context(thread))
    if error == "reason_too_long":
        return redirect_after_post(anchor, error_text(error), "error")
    return redirect_after_post(anchor, error_text(error) if error
                               else _("Thank you. A moderator will look at this message."))
