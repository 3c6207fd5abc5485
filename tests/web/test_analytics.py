"""The creator's analytics page and its CSV exports (issue 13 point 2): owner only, plain and htmx, a query budget."""
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from crowdfund import visits
from crowdfund.extensions import db
from crowdfund.models import Pledge, Project
from tests.unit.test_analytics_figures import DAYS, MON, add_visits, at, lamp, rows_of  # noqa: F401 - lamp is a fixture
from tests.web.test_discovery import count_queries

WEEK = f"from={MON.isoformat()}&to={DAYS[6].isoformat()}"


@pytest.fixture
def maker(client, forms, lamp):
    assert forms.login(email="maker@example.com").status_code == 303
    return lamp


def test_the_page_shows_headline_figures_then_charts_each_with_its_table(client, maker):
    response = client.get(f"/me/projects/{maker}/analytics?{WEEK}")
    assert response.status_code == 200 and "Vary" in response.headers
    body = response.get_data(as_text=True)
    figures = dict(re.findall(r"<dt>([^<]+)</dt><dd>([^<]+)</dd>", body))
    assert figures == {"访问次数": "6", "独立访客": "4", "已付款支持": "4", "转化率": "100.0%", "已筹": "¥2,728.00",
                       "达成目标": "272%"}
    assert body.count('class="chart"') == 7 and body.count('role="img"') == 7
    assert body.count('<details class="chart-table"') == 7, "every chart has its table"
    assert "<td>2026-03-04</td><td>1</td><td>1</td></tr>" in body
    assert "<td>无地址（数字回报 / 无回报）</td><td>1</td><td>¥30.00</td>" in body
    assert "2 次访问来自分享链接" in body
    assert f'href="/me/projects/{maker}/analytics.csv?from=2026-03-02&amp;to=2026-03-08"' in body
    assert 'value="2026-03-02"' in body and 'value="2026-03-08"' in body, "the form shows the range"


def test_htmx_gets_the_figures_block_only(client, maker):
    response = client.get(f"/me/projects/{maker}/analytics?{WEEK}", headers={"HX-Request": "true"})
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in body
    assert body.lstrip().startswith('<div id="figures"') and body.count('class="chart"') == 7


def test_presets_and_the_default_range(client, maker, app):
    with app.app_context():
        today = visits.local_day()
        launched = visits.local_day(db.session.scalar(select(Project.launch_at).filter_by(slug=maker)))
    body = client.get(f"/me/projects/{maker}/analytics").get_data(as_text=True)
    assert f'value="{launched.isoformat()}"' in body and f'value="{today.isoformat()}"' in body
    body = client.get(f"/me/projects/{maker}/analytics?days=7").get_data(as_text=True)
    assert f'value="{(today - timedelta(days=6)).isoformat()}"' in body
    for preset in ("7", "30", "all"):
        assert f'href="/me/projects/{maker}/analytics?days={preset}"' in body


@pytest.mark.parametrize("query, field, message", [
    ("from=2026-13-01", "from", "请按 YYYY-MM-DD 输入日期"),
    ("from=2026-03-08&to=2026-03-01", "to", "结束日期不能早于开始日期"),
    ("from=2025-01-01&to=2026-03-01", "to", "最多选择 366 天"),
])
@pytest.mark.parametrize("htmx", [False, True])
def test_a_bad_range_is_a_422_with_the_error_beside_the_field(client, maker, query, field, message, htmx):
    response = client.get(f"/me/projects/{maker}/analytics?{query}", headers={"HX-Request": "true"} if htmx else {})
    body = response.get_data(as_text=True)
    assert response.status_code == 422 and ("<html" in body) != htmx
    assert re.search(rf'<p class="error" id="{field}-error">[^<]*{message}', body), body
    assert f'id="{field}" name="{field}"' in body and "aria-invalid" in body and 'class="chart"' not in body
    assert client.get(f"/me/projects/{maker}/analytics.csv?{query}").status_code == 422


def test_figures_csv_follows_the_range(client, maker):
    response = client.get(f"/me/projects/{maker}/analytics.csv?from=2026-03-02&to=2026-03-03")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    assert rows_of(response.get_data(as_text=True))[1:] == [["2026-03-02", "5", "3", "1", "99.00", "99.00"],
                                                           ["2026-03-03", "0", "0", "0", "0.00", "99.00"]]


def test_backers_csv_names_only_backers_who_did_not_ask_to_be_anonymous(client, maker):
    response = client.get(f"/me/projects/{maker}/backers.csv")
    rows = rows_of(response.get_data(as_text=True))
    assert response.status_code == 200 and [row[-1] for row in rows[1:]] == ["Ann", "Ann", "Ann", "匿名", "'=Bob"]
    assert "13800138000" not in response.get_data(as_text=True)


@pytest.mark.parametrize("who", ["anonymous", "other creator", "backer"])
def test_only_the_creator_sees_their_analytics(client, forms, make_user, lamp, who):
    if who != "anonymous":
        make_user(email="other@example.com", roles=["creator"] if who == "other creator" else [])
        assert forms.login(email="other@example.com").status_code == 303
    for path in ("analytics", "analytics.csv", "backers.csv"):
        response = client.get(f"/me/projects/{lamp}/{path}")
        if who == "anonymous":
            assert response.status_code in (302, 303) and "/login" in response.headers["Location"]
        else:
            assert response.status_code == 404
    assert client.get("/me/projects/nonexistent/analytics").status_code in (302, 303, 404)


def test_a_backer_of_the_project_is_refused_too(client, forms, lamp):
    assert forms.login(email="ann@example.com").status_code == 303
    assert client.get(f"/me/projects/{lamp}/analytics").status_code == 404


def test_the_creators_project_list_links_the_analytics(client, maker):
    body = client.get("/me/projects").get_data(as_text=True)
    assert f'href="/me/projects/{maker}/analytics"' in body


def test_the_query_budget_does_not_grow_with_visits_pledges_or_days(app, client, maker, make_user):
    counts = []
    for round_ in range(2):
        with count_queries(app) as statements:
            assert client.get(f"/me/projects/{maker}/analytics?from=2026-03-02&to=2026-{3 + round_ * 2:02d}-08"
                              ).status_code == 200
        counts.append(len(statements))
        with app.app_context():
            project = db.session.scalar(select(Project).filter_by(slug=maker))
            for n in range(30):
                add_visits(project.id, MON + timedelta(days=n), 5, referrer=f"site{n}.example")
            backer = make_user()
            tier = project.tiers[0]
            for n in range(20):
                db.session.add(Pledge(project_id=project.id, tier_id=tier.id, backer_id=backer, amount_fen=99_00 + n,
                                      paid_fen=99_00 + n, status="paid", paid_at=at(MON + timedelta(days=n)),
                                      ship_province=f"省{n}"))
            db.session.commit()
    assert counts[0] == counts[1], counts
    assert counts[1] <= 12, counts
