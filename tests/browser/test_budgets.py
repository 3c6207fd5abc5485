"""Budgets, measured in Chromium on the demo data (issue 11 point 5): every public page weighs at most 40 KB
as transferred, images aside, in at most 8 requests; and axe-core finds nothing serious or critical."""
import json
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.conftest import log_in

pytestmark = pytest.mark.browser

MAX_BYTES = 40 * 1024
MAX_REQUESTS = 8
AXE = Path(__file__).parent / "vendor" / "axe.min.js"
BIG = "十档回报的露营灯"  # the seeded project with 10 reward tiers and 50 comments
TIERS = ["片尾鸣谢", "贴纸一套", "钥匙扣", "帆布袋", "单灯早鸟", "单灯标准", "双灯套装", "露营礼盒", "签名限定", "企业定制"]


@pytest.fixture
def demo(app, make_project):
    """`flask seed-demo`'s data, plus a busy project: 10 reward tiers and 50 comments; returns slugs and ids."""
    from crowdfund import accounts, comments, settlement
    from crowdfund.demo import DEMO_BACKERS, seed_demo
    from crowdfund.extensions import db
    from crowdfund.models import Project, ProjectStatus, User

    with app.app_context():
        seed_demo()
        creator = accounts.find_by_email("creator@demo.crowdfund.test")
        backers = [accounts.find_by_email(email) for email, _, _ in DEMO_BACKERS]
        creator_id, backer_ids = creator.id, [b.id for b in backers]
    tiers = [dict(title=title, price_fen=(n + 1) * 39_00, quantity_limit=None if n % 3 else 200,
                  description=f"{title}：含包装、说明书与一年保修。") for n, title in enumerate(TIERS)]
    slug = make_project(title=BIG, summary="两档亮度、可挂可立的户外露营灯", goal_fen=80_000_00, tiers=tiers,
                        creator=creator_id, paid=[(b, (n + 1) * 39_00, n) for n, b in enumerate(backer_ids)])
    with app.app_context():
        project = db.session.scalar(select(Project).filter_by(slug=slug))
        creator, people = project.creator, [db.session.get(User, b) for b in backer_ids]
        for n in range(25):
            asked = comments.add_comment(project, people[n % len(people)], f"第 {n + 1} 个问题：电池能用多久？"
                                         "冬天零下十度还能正常充电吗？", is_question=n % 2 == 0)
            comments.add_comment(project, creator if n % 2 == 0 else people[(n + 1) % len(people)],
                                 f"回复 {n + 1}：满电可用十二小时，零下十度可以充电，但速度会慢一些。", parent=asked)
        # A withdrawal waiting for finance, so its queue is not empty.
        done = db.session.scalar(select(Project).filter_by(status=ProjectStatus.SUCCESSFUL))
        settlement.request(done, done.creator)
        lamp = db.session.scalar(select(Project).filter_by(title="会学习的智能台灯"))
        draft = db.session.scalar(select(Project).filter_by(status=ProjectStatus.DRAFT, creator_id=creator_id))
        waiting = db.session.scalar(select(Project).filter_by(status=ProjectStatus.IN_REVIEW))
        return dict(big=slug, lamp=lamp.slug, draft=draft.slug, waiting=waiting.slug, creator=creator_id,
                    category=lamp.category.parent.slug)


def measure(context, path):
    """Open `path` with a cold cache; return [(url, resource type, bytes, content-encoding)], images left out.

    Bytes are CDP's Network.loadingFinished `encodedDataLength`: what came over the wire for the response,
    headers included and the body as sent (compressed). Playwright's `request.sizes()` gives the same numbers
    split into headers and body, but only for responses it saw finish, and none for a redirect.
    """
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})  # a first visit: nothing cached
    rows = {}

    def sent(event):
        if event.get("redirectResponse"):  # a redirect answers under the request's id: keep it as its own row
            answer = event["redirectResponse"]
            rows[f"{event['requestId']}:{len(rows)}"] = [answer["url"], "Document", answer.get("encodedDataLength", 0),
                                                         None]
        rows[event["requestId"]] = [event["request"]["url"], event.get("type"), 0, None]

    def received(event):
        headers = {name.lower(): value for name, value in event["response"]["headers"].items()}
        rows[event["requestId"]][3] = headers.get("content-encoding")

    cdp.on("Network.requestWillBeSent", sent)
    cdp.on("Network.responseReceived", received)
    cdp.on("Network.loadingFinished", lambda event: rows[event["requestId"]].__setitem__(2, event["encodedDataLength"]))
    page.goto(path, wait_until="networkidle")
    page.close()
    # Images are left out (covers have their own rules: srcset, lazy, 240 px on cards); the favicon, which
    # Chromium fetches as "Other", counts.
    return [tuple(row) for row in rows.values() if row[1] != "Image"]


def test_every_public_page_is_within_its_budget(browser, live_server, demo):
    # Chromium asks for "gzip, deflate, br, zstd" by default, also over plain http to 127.0.0.1.
    context = browser.new_context(base_url=live_server.url, locale="zh-CN", viewport={"width": 360, "height": 740})
    pages = ["/", f"/categories/{demo['category']}", "/search?q=灯", f"/projects/{demo['big']}",
             f"/projects/{demo['big']}/funds", f"/projects/{demo['big']}/updates", f"/projects/{demo['lamp']}/updates",
             f"/projects/{demo['big']}/comments", f"/projects/{demo['lamp']}", f"/projects/{demo['big']}/backers",
             f"/creators/{demo['creator']}", "/login", "/signup", "/stats"]
    report = {path: measure(context, path) for path in pages}
    page = context.new_page()
    log_in(page, "backer@demo.crowdfund.test", "demo-backer-pass")
    page.close()
    for path in (f"/projects/{demo['big']}/back", f"/projects/{demo['lamp']}/back"):
        report[path] = measure(context, path)
    context.close()
    over, plain = {}, []
    for path, rows in report.items():
        size = sum(row[2] for row in rows)
        print(f"{path}: {size / 1024:.1f} KB in {len(rows)} requests")
        if size > MAX_BYTES or len(rows) > MAX_REQUESTS:
            over[path] = {"KB": round(size / 1024, 1), "requests": rows}
        plain += [(path, row) for row in rows if row[1] in ("Document", "Stylesheet", "Script") and not row[3]]
    assert not over, json.dumps(over, ensure_ascii=False, indent=1)
    assert not plain, f"sent uncompressed: {plain}"


AXE_RUN = """async () => {
  const results = await axe.run(document);
  return results.violations.filter(v => v.impact === 'serious' || v.impact === 'critical').map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.map(n => ({target: n.target.join(' '), summary: n.failureSummary}))}));
}"""


def axe_violations(page, path, then=None):
    """Open `path` (and do `then` there) and return axe-core's serious and critical violations."""
    page.goto(path)
    page.wait_for_load_state("networkidle")
    if then:
        then(page)
    page.add_script_tag(content=AXE.read_text())
    return page.evaluate(AXE_RUN)


def submit_invalid(button, field=None):
    """An action: empty `field`, skip the browser's own checks and submit, so the server's errors show (422)."""
    def act(page):
        page.evaluate("document.querySelectorAll('form').forEach(form => form.noValidate = true)")
        if field:
            page.locator(f"[name={field}]").fill("")
        page.get_by_role("button", name=button).click()
        page.locator(".error, .form-error").first.wait_for()
    return act


def test_axe_finds_nothing_serious_for_backers_creators_moderators_and_finance(browser, live_server, demo):
    from crowdfund.projects import STEPS

    visits = {
        None: ["/", f"/projects/{demo['big']}", f"/projects/{demo['lamp']}", "/stats"],
        ("backer@demo.crowdfund.test", "demo-backer-pass"): [
            f"/projects/{demo['big']}/back", f"/projects/{demo['lamp']}/back",
            (f"/projects/{demo['big']}/back", submit_invalid("确认并支付"))],
        ("creator@demo.crowdfund.test", "demo-creator-pass"): [
            "/me/projects", *(f"/me/projects/{demo['draft']}/edit/{step}" for step in STEPS),
            (f"/me/projects/{demo['draft']}/edit/basics", submit_invalid("下一步", "title"))],
        ("moderator@demo.crowdfund.test", "demo-moderator-pass"): [
            "/moderation/", f"/moderation/projects/{demo['waiting']}", "/moderation/verifications",
            "/moderation/questions", "/moderation/reports", "/moderation/dashboard"],
        ("finance@demo.crowdfund.test", "demo-finance-pass"): [
            "/finance/withdrawals", "/finance/refunds", "/finance/reconciliation"],
    }
    found = {}
    for account, paths in visits.items():
        # axe is injected as an inline script, which the site's CSP (script-src 'self', no inline) refuses:
        # bypass_csp lets the test's own script run; the pages' scripts are unchanged.
        context = browser.new_context(base_url=live_server.url, locale="zh-CN", bypass_csp=True,
                                      viewport={"width": 360, "height": 740})
        page = context.new_page()
        if account:
            log_in(page, *account)
        for visit in paths:
            path, then = visit if isinstance(visit, tuple) else (visit, None)
            violations = axe_violations(page, path, then)
            if violations:
                found[path + (" (errors shown)" if then else "")] = violations
        context.close()
    assert not found, "axe-core, serious and critical:\n" + "\n".join(
        f"{path}\n" + "\n".join(f"  {v['id']} ({v['impact']}): {v['help']}\n"
                                + "\n".join(f"    {n['target']}: {n['summary']}" for n in v["nodes"])
                                for v in violations)
        for path, violations in found.items())
