"""The phone-first project page, header and home (issue 10): compact figures, trust badges, section tabs, buy bar."""
import re

from crowdfund import comments, guarantees, i18n, updates
from crowdfund.extensions import db
from crowdfund.models import Project, User


def text_of(html):
    """Visible text of an HTML fragment, whitespace collapsed."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def between(body, start, end):
    """What follows `start` (and the rest of the tag it is in) up to `end`."""
    rest = body.split(start, 1)[1]
    if "<" not in rest.split(">", 1)[0]:
        rest = rest.split(">", 1)[1]
    return rest.split(end, 1)[0]


def project_row(app, slug):
    return db.session.scalar(db.select(Project).filter_by(slug=slug))


def test_compact_money_follows_the_locale(app):
    cases = {"zh_CN": {43_210_00: "¥4.3万", 1_234_567_00: "¥123.5万", 9_999_00: "¥9,999", 12_50: "¥12.50", 0: "¥0"},
             "en": {43_210_00: "¥43.2K", 1_234_567_00: "¥1.2M", 9_999_00: "¥9,999", 12_50: "¥12.50"}}
    for locale, expected in cases.items():
        with app.test_request_context():
            from flask import session

            session["locale"] = locale
            assert {fen: i18n.format_money_short(fen) for fen in expected} == expected


def test_project_page_reads_like_a_shopping_app(client, make_project, make_user):
    backer = make_user()
    slug = make_project(title="智能台灯", goal_fen=1000_00, duration_days=30,
                        tiers=[dict(title="早鸟", price_fen=100_00), dict(title="标准", price_fen=150_00)],
                        paid=[(backer, 100_00, 0), (backer, 150_00, 1)])
    body = client.get(f"/projects/{slug}").get_data(as_text=True)

    stats = text_of(between(body, 'class="stats project-stats">', "</p>"))
    assert re.fullmatch(r"已筹 ¥250 · 25% · 剩余 (29|30) 天 · 1 人支持", stats), stats
    assert "目标 ¥1,000.00 · 已筹 ¥250.00" in text_of(between(body, 'class="muted goal">', "</p>"))

    badges = text_of(between(body, 'class="trust-badges"', "</ul>"))
    assert "资金托管" in badges and "认证发起人" in badges and "新发起人" in badges
    assert "全有或全无" in badges, "the escrow badge explains the funding mode"
    assert "有担保" not in badges, "no guarantee, no badge"

    tabs = text_of(between(body, 'class="section-nav"', "</nav>"))
    assert tabs.split() == ["故事", "回报", "评论"], "no updates and no FAQ: no tabs for them"
    for anchor in ("#story", "#rewards", "#comments"):
        assert f'id="{anchor[1:]}"' in body

    bar = between(body, 'class="cta-bar"', "</div>")
    assert "¥100–¥150" in text_of(bar)
    assert f'href="/projects/{slug}/back"' in bar and "支持项目" in bar
    assert body.index('class="cta-bar"') > body.index('id="comments"'), "the bar sits last, sticky over the page"


def test_badges_and_tabs_appear_with_what_they_describe(app, client, make_project, make_user):
    moderator = make_user(roles=["moderator"])
    slug = make_project(tiers=[dict(title="唯一", price_fen=88_00)])
    with app.app_context():
        project = project_row(app, slug)
        guarantees.add(project, db.session.get(User, moderator), "华信融资担保有限公司", "91110000100000000A", 500_00)
        updates.post(project, project.creator, "样机完成", "第一批样机已经组装完成，正在测试。")
        question = comments.add_comment(project, db.session.get(User, moderator), "什么时候发货？", is_question=True)
        comments.add_comment(project, project.creator, "预计三月发货。", parent=question)
        comments.promote_to_faq(question, project.creator)
    body = client.get(f"/projects/{slug}").get_data(as_text=True)
    badges = text_of(between(body, 'class="trust-badges"', "</ul>"))
    assert "有担保" in badges and "华信融资担保有限公司" in badges and "¥500.00" in badges
    assert text_of(between(body, 'class="section-nav"', "</nav>")).split() == [
        "故事", "回报", "动态", "评论", "常见问题"]
    assert "¥88" in text_of(between(body, 'class="cta-bar"', "</div>")) and "–" not in between(
        body, 'class="price-range">', "</p>"), "one price, no range"


def test_no_buy_bar_while_a_campaign_takes_no_pledges(app, client, make_project):
    from crowdfund import lifecycle

    slug = make_project()
    with app.app_context():
        lifecycle.transition(project_row(app, slug), "suspended", reason="test")
    body = client.get(f"/projects/{slug}").get_data(as_text=True)
    assert 'class="cta-bar"' not in body and f"/projects/{slug}/back" not in body


def test_header_is_one_line_with_a_menu_that_needs_no_javascript(client, login_as):
    anonymous = client.get("/").get_data(as_text=True)
    nav = between(anonymous, '<nav class="site-nav"', "</nav>")
    assert text_of(nav).split() == ["搜索", "登录", "注册"]
    assert 'class="locale-switch"' in between(anonymous, '<footer class="site-footer">', "</footer>")

    login_as("moderator", "finance", "admin")
    body = client.get("/").get_data(as_text=True)
    nav = between(body, '<nav class="site-nav"', "</nav>")
    visible, menu = nav.split('<details class="menu">', 1)
    assert [w for w in text_of(visible).split() if not w.isdigit()] == ["搜索", "私信", "通知"]
    assert "<summary>我的</summary>" in menu
    for label in ("我的支持", "我的项目", "审核", "财务", "管理", "退出"):
        assert label in text_of(menu), label


def test_home_repeats_no_project_and_puts_categories_first(client, make_project, make_user):
    backer = make_user()
    star = make_project(title="明星项目", featured=True, duration_days=3, paid=[(backer, 500_00, 0)])
    make_project(title="普通项目", duration_days=20)
    body = client.get("/").get_data(as_text=True)
    titles = re.findall(r'<h3 class="h3"><a href="/projects/\w+">([^<]+)</a></h3>', body)
    assert sorted(titles) == ["明星项目", "普通项目"], "each project once, though the star is featured, " \
                                                       "trending, ending first and newest"
    assert titles[0] == "明星项目" and 'id="section-featured"' in body
    assert body.index('class="category-row"') < body.index('id="section-featured"')
    assert "/categories/tech" in between(body, 'class="category-row"', "</nav>")

    card = between(body, f'<a href="/projects/{star}" tabindex="-1"', "</article>")
    assert 'sizes="(min-width: 64rem) 15rem, (min-width: 40rem) 50vw, 7rem"' in card
    assert re.search(r'srcset="/media/\S+-240\.\w+ 240w, ', card), "a thumbnail-sized variant is offered"
    assert 'loading="lazy"' in card
    assert text_of(between(card, 'class="stats">', "</p>")).startswith("¥500 · 50% · 剩余")
