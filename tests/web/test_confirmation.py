"""Destructive actions ask first, without JS too: the first POST only explains, a POST with confirm=1 acts.

A reason others will read (cancelling a campaign, blacklisting, rejecting) may not be empty.
"""
import re

import pytest

from crowdfund.extensions import db
from crowdfund.models import Address, AuditEntry, Pledge, PledgeStatus, Project, ProjectStatus, Refund, User
from tests.conftest import Browserless, csrf_from

HTMX = {"HX-Request": "true"}


def project_row(app, slug):
    with app.app_context():
        row = db.session.scalar(db.select(Project).filter_by(slug=slug))
        db.session.expunge_all()
        return row


def as_user(app, email, roles=(), make_user=None):
    """A logged-in test client of its own."""
    if make_user is not None:
        make_user(email=email, roles=roles)
    forms = Browserless(app.test_client())
    assert forms.login(email=email).status_code == 303
    return forms


def post(forms, path, data, form_path, htmx=False):
    """POST like the form on `form_path` would (with its CSRF token)."""
    return forms.post(path, data, form_path=form_path, htmx=htmx)


def text(response):
    return response.get_data(as_text=True)


def reason_error(body):
    match = re.search(r'<p class="error" id="reason-error">([^<]*)</p>', body)
    return match.group(1) if match else None


def assert_confirmation(body, *, says, button, back):
    """The confirmation states the consequence, carries confirm=1, and offers a way back."""
    assert says in body, body
    assert '<input type="hidden" name="confirm" value="1">' in body
    assert f">{button}</button>" in body
    assert f'href="{back}">返回</a>' in body


def test_a_backer_confirms_before_a_paid_pledge_is_cancelled(app, make_project, make_user):
    backer = make_user(email="unsure@example.com")
    make_project(status="live", tiers=[dict(title="限量款", price_fen=128_00, quantity_limit=5)],
                 paid=[(backer, 128_00, 0)])
    with app.app_context():
        pledge_id = db.session.scalar(db.select(Pledge.id))
    forms = as_user(app, "unsure@example.com")
    path, show = f"/me/pledges/{pledge_id}/cancel", f"/me/pledges/{pledge_id}"
    asked = post(forms, path, {}, show)
    assert asked.status_code == 200 and "<html" in text(asked)
    assert_confirmation(text(asked), says="取消后，已支付的 ¥128.00 将原路退回。", button="确认取消", back=show)
    assert "回报“限量款”的名额将让给其他支持者。" in text(asked)
    fragment = post(forms, path, {}, show, htmx=True)
    assert fragment.status_code == 200 and text(fragment).lstrip().startswith('<form id="confirmation"')
    assert "<html" not in text(fragment) and f'hx-post="{path}"' in text(fragment)
    with app.app_context():
        assert db.session.get(Pledge, pledge_id).status == PledgeStatus.PAID, "asking cancels nothing"
        assert db.session.scalar(db.select(db.func.count(Refund.id))) == 0
    assert forms.client.post(path, data={"confirm": "1"}).status_code == 400, "no CSRF token, no cancellation"
    stranger = as_user(app, "stranger@example.com", make_user=make_user)
    assert post(stranger, path, {"confirm": "1"}, "/me/pledges").status_code == 404
    with app.app_context():
        assert db.session.get(Pledge, pledge_id).status == PledgeStatus.PAID
    done = post(forms, path, {"confirm": "1"}, show, htmx=True)
    assert done.status_code == 200 and done.headers["HX-Redirect"] == show
    with app.app_context():
        assert db.session.get(Pledge, pledge_id).status in (PledgeStatus.CANCELLED, PledgeStatus.REFUNDED)
        assert [r.amount_fen for r in db.session.scalars(db.select(Refund))] == [128_00]


def test_an_unpaid_pledge_says_nothing_is_refunded(app, make_project, make_user):
    from crowdfund import pledging

    backer = make_user(email="pending@example.com")
    slug = make_project(status="live")
    with app.test_request_context("/"):
        project = db.session.scalar(db.select(Project).filter_by(slug=slug))
        pledge = pledging.start(db.session.get(User, backer), project, project.tiers[0], 99_00, idempotency_key="k1",
                                region="mainland", address={f: "x" for f in pledging.ADDRESS_FIELDS},
                                risk_accepted=True)
        pledge_id = pledge.id
    forms = as_user(app, "pending@example.com")
    asked = post(forms, f"/me/pledges/{pledge_id}/cancel", {}, f"/me/pledges/{pledge_id}")
    assert asked.status_code == 200 and "这笔支持尚未支付，无需退款。" in text(asked)
    assert "原路退回" not in text(asked)


def paid_campaign(make_project, make_user, creator_email):
    """A live campaign by `creator_email` with two backers, one of whom pledged twice: ¥250.00 paid in all."""
    creator = make_user(email=creator_email, roles=["creator"])
    backers = [make_user(), make_user()]
    return make_project(status="live", creator=creator, title="要取消的项目",
                        paid=[(backers[0], 99_00, 0), (backers[1], 150_00, 0), (backers[1], 1_00, None)])


def test_a_creator_confirms_cancelling_with_a_reason(app, make_project, make_user):
    slug = paid_campaign(make_project, make_user, "ender@example.com")
    forms = as_user(app, "ender@example.com")
    path = f"/me/projects/{slug}/cancel"
    for blank in ("", "   \n "):
        refused = post(forms, path, {"reason": blank}, "/me/projects")
        assert refused.status_code == 422 and reason_error(text(refused)) == "请填写原因，支持者会看到。"
    refused = post(forms, path, {"reason": " ", "confirm": "1"}, "/me/projects", htmx=True)
    assert refused.status_code == 422 and reason_error(text(refused)) and "<html" not in text(refused)
    assert project_row(app, slug).status == ProjectStatus.LIVE, "no reason, nothing done"
    asked = post(forms, path, {"reason": "供应商倒闭"}, "/me/projects")
    assert asked.status_code == 200
    assert_confirmation(text(asked), says="将全额退款给 2 位支持者，共 ¥250.00。", button="确认取消众筹",
                        back="/me/projects")
    assert "\n供应商倒闭</textarea>" in text(asked), "the reason is carried to the second step"
    assert project_row(app, slug).status == ProjectStatus.LIVE
    done = post(forms, path, {"reason": "供应商倒闭", "confirm": "1"}, "/me/projects")
    assert done.status_code == 303 and done.location == f"/projects/{slug}"
    project = project_row(app, slug)
    assert project.status == ProjectStatus.CANCELLED
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(Refund.id))) == 3
    again = post(forms, path, {"reason": "供应商倒闭", "confirm": "1"}, "/me/projects")
    assert again.status_code == 303, "a cancelled campaign cannot be cancelled again"
    assert "只有众筹中或已暂停的项目可以取消" in text(forms.client.get(again.location))


def test_only_the_creator_or_a_moderator_cancels(app, make_project, make_user):
    slug = paid_campaign(make_project, make_user, "owner@example.com")
    other = as_user(app, "other@example.com", roles=["creator"], make_user=make_user)
    assert post(other, f"/me/projects/{slug}/cancel", {"reason": "x"}, "/me/projects").status_code == 404
    assert post(other, f"/moderation/projects/{slug}/cancel", {"reason": "x", "confirm": "1"},
                "/me/projects").status_code == 403
    assert project_row(app, slug).status == ProjectStatus.LIVE


def test_a_moderator_confirms_cancelling_a_campaign(app, make_project, make_user):
    slug = paid_campaign(make_project, make_user, "someone@example.com")
    moderator = as_user(app, "mod@example.com", roles=["moderator"], make_user=make_user)
    page, path = f"/projects/{slug}", f"/moderation/projects/{slug}/cancel"
    assert f'hx-post="{path}"' in text(moderator.client.get(page)), "the tool swaps its confirmation in place"
    refused = post(moderator, path, {"reason": "\t"}, page, htmx=True)
    assert refused.status_code == 422 and reason_error(text(refused)) == "请填写原因，支持者会看到。"
    fragment = post(moderator, path, {"reason": "发起人失联"}, page, htmx=True)
    assert fragment.status_code == 200 and text(fragment).lstrip().startswith('<form id="confirmation"')
    assert_confirmation(text(fragment), says="将全额退款给 2 位支持者，共 ¥250.00。", button="确认取消众筹", back=page)
    assert project_row(app, slug).status == ProjectStatus.LIVE
    done = post(moderator, path, {"reason": "发起人失联", "confirm": "1"}, page)
    assert done.status_code == 303 and project_row(app, slug).status == ProjectStatus.CANCELLED
    with app.app_context():
        entry = db.session.scalar(db.select(AuditEntry).filter_by(action="project.cancel"))
        assert entry.details["reason"] == "发起人失联"


def test_a_campaign_without_payments_says_nothing_is_refunded(app, make_project, make_user):
    creator = make_user(email="early@example.com", roles=["creator"])
    slug = make_project(status="live", creator=creator)
    forms = as_user(app, "early@example.com")
    asked = post(forms, f"/me/projects/{slug}/cancel", {"reason": "改主意了"}, "/me/projects")
    assert asked.status_code == 200 and "目前还没有已支付的支持，无需退款。" in text(asked)


def test_a_moderator_confirms_a_blacklist_with_a_reason(app, make_project, make_user):
    creator = make_user(email="repeat@example.com", roles=["creator"])
    slug = make_project(status="live", creator=creator)
    make_project(status="live", creator=creator)
    moderator = as_user(app, "judge@example.com", roles=["moderator"], make_user=make_user)
    page, path = f"/projects/{slug}", f"/moderation/users/{creator}/blacklist"
    for data in ({"next": page}, {"reason": "  ", "next": page, "confirm": "1"}):
        refused = post(moderator, path, data, page)
        assert refused.status_code == 422 and reason_error(text(refused)) == "请填写拉黑原因。"
    too_long = post(moderator, path, {"reason": "长" * 301, "next": page, "confirm": "1"}, page)
    assert too_long.status_code == 422 and reason_error(text(too_long)) == "最多 300 个字。"
    with app.app_context():
        assert db.session.get(User, creator).blacklisted_at is None
    asked = post(moderator, path, {"reason": "多次未发货", "next": page}, page, htmx=True)
    assert asked.status_code == 200 and "<html" not in text(asked)
    assert_confirmation(text(asked), says="其 2 个众筹中的项目将被暂停，等待审核。", button="确认拉黑", back=page)
    assert f'<input type="hidden" name="next" value="{page}">' in text(asked)
    with app.app_context():
        assert db.session.get(User, creator).blacklisted_at is None, "asking blacklists nobody"
    plain = as_user(app, "plain@example.com", make_user=make_user)
    assert post(plain, path, {"reason": "x", "confirm": "1"}, "/").status_code == 403
    done = post(moderator, path, {"reason": "多次未发货", "next": page, "confirm": "1"}, page)
    assert done.status_code == 303
    with app.app_context():
        assert db.session.get(User, creator).blacklisted_at is not None
        assert set(db.session.scalars(db.select(Project.status).filter_by(creator_id=creator))) == \
            {ProjectStatus.SUSPENDED}


def test_a_moderator_cannot_blacklist_themselves(app, make_user):
    me = make_user(email="self@example.com", roles=["moderator"])
    moderator = as_user(app, "self@example.com")
    refused = post(moderator, f"/moderation/users/{me}/blacklist", {"reason": "x", "confirm": "1"}, "/")
    assert refused.status_code == 303 and "不能拉黑自己" in text(moderator.client.get(refused.location))
    with app.app_context():
        assert db.session.get(User, me).blacklisted_at is None


def test_a_moderator_confirms_a_rejection_with_a_reason(app, make_project, make_user):
    slug = make_project(status="in_review", title="待审项目")
    moderator = as_user(app, "reviewer@example.com", roles=["moderator"], make_user=make_user)
    path = f"/moderation/projects/{slug}"
    review_page = text(moderator.client.get(path))
    assert re.search(r'<form id="reject_form"[^>]*hx-target="this"', review_page), "the reject form swaps in place"
    for reason in ("", "  \n"):
        refused = post(moderator, path, {"decision": "reject", "reason": reason}, path, htmx=True)
        assert refused.status_code == 422 and reason_error(text(refused)) == "请填写原因，发起人会看到。"
    assert project_row(app, slug).status == ProjectStatus.IN_REVIEW
    asked = post(moderator, path, {"decision": "reject", "reason": "涉嫌虚假宣传"}, path)
    assert asked.status_code == 200
    assert_confirmation(text(asked), says="项目将被永久驳回，不能再修改或重新提交。", button="确认驳回", back=path)
    assert '<input type="hidden" name="decision" value="reject">' in text(asked)
    assert "\n涉嫌虚假宣传</textarea>" in text(asked)
    assert project_row(app, slug).status == ProjectStatus.IN_REVIEW
    done = post(moderator, path, {"decision": "reject", "reason": "涉嫌虚假宣传", "confirm": "1"}, path)
    assert done.status_code == 303 and project_row(app, slug).status == ProjectStatus.REJECTED


def test_a_moderator_cannot_reject_their_own_project(app, make_project, make_user):
    owner = make_user(email="both@example.com", roles=["creator", "moderator"])
    slug = make_project(status="in_review", creator=owner)
    forms = as_user(app, "both@example.com")
    path = f"/moderation/projects/{slug}"
    assert post(forms, path, {"decision": "reject", "reason": "x"}, path).status_code == 403
    assert post(forms, path, {"decision": "reject", "reason": "x", "confirm": "1"}, path).status_code == 403
    assert project_row(app, slug).status == ProjectStatus.IN_REVIEW


def test_removing_a_saved_address_asks_first(app, make_user):
    from crowdfund import accounts

    owner = make_user(email="mover@example.com")
    with app.app_context():
        accounts.add_address(db.session.get(User, owner), name="张三", phone="13800000000", province="上海市",
                             city="上海市", district="徐汇区", detail="漕溪北路 1 号")
        address_id = db.session.scalar(db.select(Address.id))
    forms = as_user(app, "mover@example.com")
    path = f"/account/addresses/{address_id}/delete"
    asked = post(forms, path, {}, "/account/addresses", htmx=True)
    assert asked.status_code == 200 and "<html" not in text(asked)
    assert_confirmation(text(asked), says="将从地址簿中删除“张三 13800000000 上海市上海市徐汇区漕溪北路 1 号”。",
                        button="确认删除", back="/account/addresses")
    stranger = as_user(app, "nosy@example.com", make_user=make_user)
    assert post(stranger, path, {"confirm": "1"}, "/account/addresses").status_code == 404
    with app.app_context():
        assert db.session.get(Address, address_id) is not None
    assert post(forms, path, {"confirm": "1"}, "/account/addresses").status_code == 303
    with app.app_context():
        assert db.session.get(Address, address_id) is None


@pytest.mark.parametrize("confirm", ["", "yes", "0"])
def test_only_confirm_1_acts(app, make_project, make_user, confirm):
    creator = make_user(email="drafty@example.com", roles=["creator"])
    draft = make_project(status="draft", creator=creator)
    forms = as_user(app, "drafty@example.com")
    asked = post(forms, f"/me/projects/{draft}/delete", {"confirm": confirm}, "/me/projects")
    assert asked.status_code == 200 and ">确定删除这份草稿吗？</h2>" in text(asked)
    assert ">确认删除此草稿</button>" in text(asked)
    assert project_row(app, draft) is not None
