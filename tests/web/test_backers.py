"""The public backer list honours each backer's wish to stay anonymous."""
from crowdfund.extensions import db
from crowdfund.models import Pledge


def test_backer_list_shows_names_and_hides_anonymous_backers(client, app, make_project, make_user):
    ann, bo, cy = (make_user(display_name=name) for name in ("安娜", "博文", "辰阳"))
    slug = make_project(status="live", tiers=[dict(title="早鸟", price_fen=100_00), dict(title="标准", price_fen=150_00)],
                        paid=[(ann, 100_00, 0), (bo, 150_00, 1), (bo, 100_00, 0), (cy, 100_00, 0)])
    with app.app_context():
        # 博文 asked to be hidden on one of two pledges: the name stays off the list.
        pledge = db.session.scalars(db.select(Pledge).filter_by(backer_id=bo)).first()
        pledge.anonymous = True
        db.session.commit()
    page = client.get(f"/projects/{slug}")
    assert f'href="/projects/{slug}/backers">3 人支持</a>' in page.get_data(as_text=True)
    body = client.get(f"/projects/{slug}/backers").get_data(as_text=True)
    assert "安娜" in body and "辰阳" in body and "博文" not in body
    assert body.count("匿名支持者") == 1
    assert "3 人支持了这个项目" in body


def test_backer_list_of_a_hidden_project_is_not_found(client, make_project):
    assert client.get(f"/projects/{make_project(status='draft')}/backers").status_code == 404
