"""Comments, questions, official replies, FAQ and the moderators' question queue and reports.

Every action is a plain POST form that redirects back to the comment's anchor; with htmx the
thread it touched (the top-level comment and its replies) comes back in place instead.
"""
from flask import abort, current_app, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from crowdfund import comments, lifecycle, projects
from crowdfund.reports import open_reports, resolve_reports
from crowdfund.blueprints.comments import bp
from crowdfund.blueprints.comments.forms import BodyForm, CommentForm
from crowdfund.errors import error_response
from crowdfund.extensions import db, limiter
from crowdfund.htmx import is_htmx, redirect_after_post, render
from crowdfund.models import Comment, FaqEntry, Project, Report, Role
from crowdfund.models.base import utcnow
from crowdfund.security import account_or_address, login_required, role_required
from crowdfund.inputs import db_int


posting_limit = limiter.shared_limit(lambda: current_app.config["RATELIMIT_COMMENT"], scope="comment",
                                     key_func=account_or_address, methods=["POST"])


def message(code):
    return {
        "empty": _("Write something first."),
        "too_long": _("Please keep it under %(max)d characters.", max=comments.BODY_MAX),
        "closed": _("Comments are closed on this project."),
        "deleted": _("That comment was deleted."),
        "edit_window": _("A comment can be edited only within 10 minutes of posting."),
        "own": _("You cannot report your own comment."),
        "question": _("Only answered questions can go into the FAQ."),
        "unanswered": _("Only answered questions can go into the FAQ."),
    }.get(code, _("That is not possible."))


def _public_project(slug):
    project = projects.get_by_slug(slug)
    if project is None or not lifecycle.is_public(project):
        abort(404)
    return project


def _comment(comment_id):
    comment = db.session.get(Comment, comment_id)
    if comment is None or not lifecycle.is_public(comment.project):
        abort(404)
    return comment


def _from_queue():
    """The action came from the moderators' question queue (answer there, and go back there)."""
    return (request.values.get("from") == "queue" and current_user.is_authenticated
            and current_user.has_role(Role.MODERATOR))


def _back(comment, from_queue=False):
    """Where a plain form returns after acting on a comment: its anchor, on the page listing its thread."""
    if from_queue:
        return url_for("comments.questions")
    slug, page, anchor = comment.project.slug, comments.page_of(comment), f"comment-{comment.id}"
    if page == 1:
        return url_for("projects.show", slug=slug, _anchor=anchor)
    return url_for("comments.index", slug=slug, page=page, _anchor=anchor)


def _context(project, threads):
    return dict(project=project, comment_backers=threads.backers, faq_ids=comments.faq_question_ids(project),
                comment_clock=comments.Clock(utcnow()))


def _thread(comment, from_queue=False, status=200, **state):
    """One thread (a top-level comment and its replies): a full page, or its block for htmx."""
    found = comments.thread(comment)
    top = found.items[0]
    context = dict(_context(top.project, found), c=top, origin="queue" if from_queue else "project", **state)
    if from_queue and is_htmx():
        return render("comments/questions.html", "question_row", status=status, **context)
    return render("comments/thread.html", "thread", status=status, **context)


def _saved(form, comment, from_queue, done, save):
    """For a valid form, `save(body)`; then the thread (htmx) or a redirect with `done`. None: show the form again
    (its errors, including a rule's refusal, beside the field)."""
    if not form.validate_on_submit():
        return None
    try:
        save(form.body.data)
    except comments.CommentError as error:
        db.session.rollback()
        form.body.errors = [message(error.code)]
        return None
    if is_htmx():
        return _thread(comment, from_queue)
    return redirect_after_post(_back(comment, from_queue), done)


def _refuse(code, status=400):
    """A rule said no: a friendly page, or (htmx) the message in the page's message area."""
    return error_response(status, message(code))


def _list_page(project, page=1, open_only=False, form=None, status=200, block="comment_page", before=None):
    found = comments.threads(project, page, open_only, before)
    return render("comments/list.html", block, status=status, items=found.items, more=found.more, page=page,
                  open_only=open_only, form=form, **_context(project, found))


@bp.route("/projects/<slug>/comments")
def index(slug):
    """A page of the project's comments (htmx "load more" gets just the entries and the next link)."""
    project = _public_project(slug)
    page = min(max(request.args.get("page", 1, type=db_int), 1), 10_000)
    return _list_page(project, page, open_only=request.args.get("open") == "1",
                      before=request.args.get("before", type=db_int))


@bp.route("/projects/<slug>/comments", methods=["POST"])
@login_required
@posting_limit
def create(slug):
    """Post a comment or a question; htmx puts it at the top of the list and clears the form."""
    project = _public_project(slug)
    form = CommentForm()
    if form.validate_on_submit():
        try:
            comment = comments.add_comment(project, current_user, form.body.data, form.is_question.data)
        except comments.CommentError as error:
            db.session.rollback()
            form.body.errors = [message(error.code)]
        else:
            if is_htmx():
                found = comments.thread(comment)
                return render("comments/list.html", "new_comment", c=found.items[0], form=None,
                              **_context(project, found))
            notice = _("Your question is posted.") if comment.is_question else _("Your comment is posted.")
            return redirect_after_post(url_for("projects.show", slug=slug, _anchor=f"comment-{comment.id}"), notice)
    response = _list_page(project, form=form, status=422, block="comment_form")
    if is_htmx():
        response.headers["HX-Retarget"] = "#comment_form"
        response.headers["HX-Reswap"] = "outerHTML"
    return response


@bp.route("/comments/<int:comment_id>")
def show(comment_id):
    """One thread on its own page (htmx: just the thread, e.g. to close a reply form)."""
    return _thread(_comment(comment_id), _from_queue())


@bp.route("/comments/<int:comment_id>/reply", methods=["GET", "POST"])
@login_required
@posting_limit
def reply(comment_id):
    """Reply to a comment (the creator's or a moderator's reply to a question answers it)."""
    comment = _comment(comment_id)
    from_queue = _from_queue()
    form = BodyForm()
    done = _saved(form, comment, from_queue, _("Your reply is posted."),
                  lambda body: comments.add_comment(comment.project, current_user, body, parent=comment))
    if done is not None:
        return done
    return _thread(comment, from_queue, status=422 if form.is_submitted() else 200,
                   replying=comments.top_of(comment).id, reply_to=comment, form=form)


@bp.route("/comments/<int:comment_id>/edit", methods=["GET", "POST"])
@login_required
def edit(comment_id):
    """The author corrects their comment within 10 minutes of posting it."""
    comment = _comment(comment_id)
    if comment.author_id != current_user.id:
        abort(403)
    if not comments.can_edit(comment, current_user):
        return _refuse("edit_window", 403)
    from_queue = _from_queue()
    form = BodyForm(data={"body": comment.body})
    done = _saved(form, comment, from_queue, _("Your comment is updated."),
                  lambda body: comments.edit_comment(comment, current_user, body))
    if done is not None:
        return done
    return _thread(comment, from_queue, status=422 if form.is_submitted() else 200, editing=comment.id, form=form)


@bp.route("/comments/<int:comment_id>/delete", methods=["POST"])
@login_required
def delete(comment_id):
    """The author or a moderator deletes a comment; its replies stay."""
    comment = _comment(comment_id)
    try:
        comments.delete_comment(comment, current_user)
    except comments.CommentError:
        abort(403)
    if is_htmx():
        return _thread(comment, _from_queue(), notice=_("The comment was deleted."))
    return redirect_after_post(_back(comment, _from_queue()), _("The comment was deleted."))


@bp.route("/comments/<int:comment_id>/report", methods=["POST"])
@login_required
def report(comment_id):
    """Report a comment to the moderators (once per person)."""
    comment = _comment(comment_id)
    try:
        new = comments.report_comment(comment, current_user, request.form.get("reason", ""))
    except comments.CommentError as error:
        return _refuse(error.code, 403 if error.code == "own" else 400)
    notice = _("Thank you. A moderator will look at it.") if new else _("You have already reported this comment.")
    if is_htmx():  # the entry itself says so too: the thank-you at the top of the page may be out of sight
        return _thread(comment, _from_queue(), notice=notice, reported=comment.id)
    return redirect_after_post(_back(comment, _from_queue()), notice)


@bp.route("/comments/<int:comment_id>/faq", methods=["POST"])
@login_required
def promote(comment_id):
    """The creator or a moderator adds an answered question to the project's FAQ."""
    comment = _comment(comment_id)
    if not comments.is_official(current_user, comment.project):
        abort(403)
    try:
        comments.promote_to_faq(comment, current_user)
    except comments.CommentError as error:
        return _refuse(error.code)
    return redirect_after_post(url_for("projects.show", slug=comment.project.slug, _anchor="faq"),
                               _("Added to the FAQ."))


@bp.route("/faq/<int:entry_id>/remove", methods=["POST"])
@login_required
def unpromote(entry_id):
    """The creator or a moderator takes an entry out of the FAQ."""
    entry = db.session.get(FaqEntry, entry_id) or abort(404)
    project = db.session.get(Project, entry.project_id)
    if not comments.is_official(current_user, project):
        abort(403)
    comments.remove_faq(entry, current_user)
    return redirect_after_post(url_for("projects.show", slug=project.slug, _anchor="comments"),
                               _("Removed from the FAQ."))


@bp.route("/moderation/questions")
@role_required(Role.MODERATOR)
def questions():
    """Unanswered questions across every project, oldest first, to answer in place."""
    found = comments.open_questions()
    return render("comments/questions.html", items=found.items, comment_backers=found.backers, faq_ids=set(),
                  comment_clock=comments.Clock(utcnow()), origin="queue")


@bp.route("/moderation/reports")
@role_required(Role.MODERATOR)
def reports():
    """Reported comments, private messages and projects, oldest first."""
    from crowdfund.blueprints.projects.forms import REPORT_CATEGORY_NAMES

    return render("comments/reports.html", items=open_reports(), report_categories=REPORT_CATEGORY_NAMES)


@bp.route("/moderation/reports/<int:report_id>", methods=["POST"])
@role_required(Role.MODERATOR)
def resolve(report_id):
    """Delete the reported comment (hide the reported message), or dismiss: either way its open reports close."""
    report = db.session.get(Report, report_id) or abort(404)
    delete = request.form.get("action") == "delete"
    try:
        resolve_reports(report, current_user, delete=delete)
    except comments.CommentError:
        abort(400)
    if not delete:
        notice = _("The reports were dismissed.")
    elif report.target_kind == "message":
        notice = _("The message was hidden and its reports closed.")
    else:
        notice = _("The comment was deleted and its reports closed.")
    if is_htmx():
        return render("comments/reports.html", "report_done", kind=report.target_kind, target_id=report.target_id,
                      notice=notice)
    return redirect_after_post(url_for("comments.reports"), notice)
