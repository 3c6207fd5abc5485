"""Home, category pages, search, sorting, pagination, project pages and their SQL query budgets."""
import re
from contextlib import contextmanager

import pytest
from sqlalchemy import event

from crowdfund.extensions import db
from crowdfund.models import Project


@contextmanager
def count_queries(app):
    statements = []
    with app.app_context():
        engine = db.engine

    def before(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", before)


def titles(body):
    return re.findall(r'<h3 class="h3"><a href="/projects/\w+">([^<]+)</a></h3>', body)


def test_project_page_shows_everything_a_backer_needs(client, app, make_project, make_user):
    backer = make_user()
    slug = make_project(status="live", title="智能台灯", goal_fen=1000_00,
                        tiers=[dict(title="早鸟", price_fen=100_00, quantity_limit=2),
                               dict(title="标准", price_fen=150_00)],
                        paid=[(backer, 100_00, 0), (backer, 150_00, 1)])
    body = client.get(f"/projects/{slug}").get_data(as_text=True)
    assert "智能台灯" in body and "¥250.00" in body and "已达成 25%" in body
    assert re.search(r'<a href="/projects/\w+/backers">1 人支持</a>', body)  # one person, two pledges
    assert "全有或全无" in body and "可能延期" in body
    assert "限量 2，剩余 1" in body
    assert 'srcset="/media/' in body
    # Comments are open to read and a log-in away from writing; nothing is an empty placeholder.
    assert 'id="comments"' in body and f"/login?next=/projects/{slug}" in body
    assert not any(text in body for text in ("暂无评论", "暂无项目动态", "暂无常见问题"))


def test_sold_out_tiers_say_so(client, make_project, make_user):
    backer = make_user()
    slug = make_project(status="live", tiers=[dict(title="限量", price_fen=100_00, quantity_limit=1)],
                        paid=[(backer, 100_00, 0)])
    assert "已售罄" in client.get(f"/projects/{slug}").get_data(as_text=True)


@pytest.mark.parametrize("status", ["draft", "submitted", "in_review", "changes_requested", "rejected", "approved"])
def test_unpublished_projects_are_hidden_from_the_public(client, make_project, status):
    assert client.get(f"/projects/{make_project(status=status)}").status_code == 404


def test_home_sections(client, app, make_project, make_user):
    backer = make_user()
    hot = make_project(status="live", title="热门项目", paid=[(backer, 500_00, 0)])
    make_project(status="live", title="新项目", duration_days=5)
    make_project(status="in_review", title="审核中的项目")
    body = client.get("/").get_data(as_text=True)
    trending = body.split('id="section-trending"', 1)[1].split("</section>", 1)[0]
    assert titles(trending) == ["热门项目"]
    ending = body.split('id="section-ending"', 1)[1].split("</section>", 1)[0]
    assert titles(ending)[0] == "新项目"
    assert "审核中的项目" not in body
    assert hot


def test_category_pages_filter_by_subcategory(client, make_project):
    make_project(title="台灯", category="smart-hardware")
    make_project(title="手机壳", category="gadgets")
    make_project(title="桌游", category="tabletop")
    top = titles(client.get("/categories/tech").get_data(as_text=True))
    assert sorted(top) == ["台灯", "手机壳"]
    assert titles(client.get("/categories/tech?sub=gadgets").get_data(as_text=True)) == ["手机壳"]
    assert titles(client.get("/categories/gadgets").get_data(as_text=True)) == ["手机壳"]
    assert client.get("/categories/tech?sub=tabletop").status_code == 404
    assert client.get("/categories/nope").status_code == 404


def test_search_in_chinese_over_title_summary_and_creator(client, app, make_project, make_user):
    creator = make_user(display_name="陈小明", roles=["creator"])
    make_project(title="折叠电动自行车", summary="城市通勤")
    make_project(title="手冲咖啡壶", summary="适合露营的咖啡器具")
    make_project(title="Smart Lamp", creator=creator)
    assert titles(client.get("/search?q=电动").get_data(as_text=True)) == ["折叠电动自行车"]
    assert titles(client.get("/search?q=露营").get_data(as_text=True)) == ["手冲咖啡壶"]
    assert titles(client.get("/search?q=小明").get_data(as_text=True)) == ["Smart Lamp"]
    assert titles(client.get("/search?q=smart").get_data(as_text=True)) == ["Smart Lamp"]
    assert titles(client.get("/search?q=100%25").get_data(as_text=True)) == []


def test_sorting_and_pagination_without_js_and_load_more_with_htmx(client, make_project, make_user):
    backer = make_user()
    for i in range(14):
        make_project(title=f"项目{i:02d}", paid=[(backer, (i + 1) * 100, 0)])
    first = client.get("/categories/tech?sort=most_funded").get_data(as_text=True)
    assert titles(first)[:2] == ["项目13", "项目12"] and len(titles(first)) == 12
    more = re.search(r'<a class="button secondary" href="([^"]+)"', first).group(1).replace("&amp;", "&")
    second = client.get(more).get_data(as_text=True)
    assert titles(second) == ["项目01", "项目00"] and "<html" in second
    fragment = client.get(more + "&more=1", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in fragment and titles(fragment) == ["项目01", "项目00"]
    assert 'id="load_more"' not in fragment and 'id="results"' not in fragment, "only the new cards"
    assert fragment.strip().startswith("<li>")
    results = client.get("/categories/tech?sort=ending", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert results.strip().startswith('<div id="results">')


def _count_projects(app):
    with app.app_context():
        return db.session.scalar(db.select(db.func.count(Project.id)))


def _add_tiers(app, slug, total):
    from crowdfund.models import RewardTier

    with app.app_context():
        project = db.session.scalar(db.select(Project).filter_by(slug=slug))
        for i in range(len(project.tiers), total):
            db.session.add(RewardTier(project_id=project.id, position=i, title=f"加档{i}", price_fen=200_00,
                                      quantity_limit=10, delivery_month="2031-01", physical=False))
        db.session.commit()


@pytest.mark.parametrize("path", ["/", "/categories/tech", "/search?q=项目", "PROJECT"])
def test_query_budget_does_not_grow_with_the_data(app, client, make_project, make_user, path):
    """Home, category, search and project pages: a constant number of queries (≤ 16) for 5 or 40 rows."""
    backer = make_user()
    slug = make_project(title="项目 first", featured=True, paid=[(backer, 100_00, 0)])
    counts = []
    for total in (5, 40):
        if path == "PROJECT":
            _add_tiers(app, slug, total)
        else:
            while _count_projects(app) < total:
                make_project(title="项目 more", featured=True, paid=[(backer, 100_00, 0)])
        url = f"/projects/{slug}" if path == "PROJECT" else path
        with count_queries(app) as statements:
            assert client.get(url).status_code == 200
        counts.append(len(statements))
    assert counts[0] == counts[1], counts
    assert counts[1] <= 16, counts
