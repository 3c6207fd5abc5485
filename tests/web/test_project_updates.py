"""Project updates on the web: the creator's form (plain and htmx), who reads what, edit history, the Atom feed."""
import re
import xml.etree.ElementTree as ET
from datetime import timedelta

from sqlalchemy import select

from crowdfund import updates
from crowdfund.extensions import db
from crowdfund.models import Project, User
from crowdfund.models.base import utcnow
from crowdfund.models.community import ProjectUpdate
from tests.conftest import Browserless, image_file
from tests.web.test_discovery import count_queries

ATOM = "{http://www.w3.org/2005/Atom}"


def creator_of(app, slug):
    """(project id, creator id, creator e-mail)."""
    with app.app_context():
        project = db.session.scalar(select(Project).filter_by(slug=slug))
        return project.id, project.creator_id, db.session.get(User, project.creator_id).email


def signed_in(app, email):
    browser = Browserless(app.test_client())
    assert browser.login(email=email).status_code == 303
    return browser


def email_of(app, user_id):
    with app.app_context():
        return db.session.get(User, user_id).email


def post_update(app, slug, title, body, backers_only=False, when=None):
    with app.app_context():
        project = db.session.scalar(select(Project).filter_by(slug=slug))
        update = updates.post(project, db.session.get(User, project.creator_id), title, body, backers_only, now=when)
        return update.id


def test_creator_posts_an_update_with_an_image(app, make_project):
    slug = make_project(status="live")
    _, _, email = creator_of(app, slug)
    creator = signed_in(app, email)
    new = f"/me/projects/{slug}/updates/new"
    page = creator.client.get(f"/projects/{slug}").get_data(as_text=True)
    assert f'href="{new}"' in page and "发布动态" in page, "the creator finds the form on the project page"
    assert f'href="{new}"' in creator.client.get("/me/projects").get_data(as_text=True), "and in My projects"
    form = creator.client.get(new).get_data(as_text=True)
    for name in ("title", "body", "image", "backers_only"):
        assert f'name="{name}"' in form
    assert "预览" in form and "发布动态" in form

    invalid = creator.post(new, {"title": "", "body": "正文"}, form_path=new, htmx=True)
    body = invalid.get_data(as_text=True)
    assert invalid.status_code == 422 and body.lstrip().startswith('<form id="update_form"') and "<html" not in body
    assert 'aria-invalid="true"' in body and 'value=""' in body

    preview = creator.post(new, {"title": "预览一下", "body": "**加粗**", "preview": "1"}, form_path=new)
    assert preview.status_code == 200 and "<strong>加粗</strong>" in preview.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(ProjectUpdate.id)) is None, "a preview saves nothing"
    pictured = creator.post(new, {"title": "带图预览", "body": "看图", "image": image_file("look.png"), "preview": "1"},
                            form_path=new).get_data(as_text=True)
    kept = re.search(r"!\[\]\((/media/[^)]+\.jpg)\)</textarea>", pictured)
    assert kept and f'<img alt="" src="{kept.group(1)}" loading="lazy"' in pictured, \
        "the chosen image is in the preview and the text"

    done = creator.post(new, {"title": "样机到了", "body": "第一批样机 **到了**", "image": image_file("proto.png")},
                        form_path=new)
    assert done.status_code == 303
    assert re.fullmatch(rf"/projects/{slug}/updates/\d+", done.headers["Location"])
    shown = creator.client.get(done.headers["Location"]).get_data(as_text=True)
    assert "样机到了" in shown and "<strong>到了</strong>" in shown
    image = re.search(r'<img alt="" src="(/media/[^"]+\.jpg)" loading="lazy" decoding="async" srcset="([^"]+)"', shown)
    assert image and creator.client.get(image.group(1)).status_code == 200
    assert all(creator.client.get(url.split()[0]).status_code == 200 for url in image.group(2).split(", ")), \
        "the image is offered in each of its stored widths"

    by_htmx = creator.post(new, {"title": "第二条", "body": "又有进展"}, form_path=new, htmx=True)
    assert by_htmx.status_code == 200 and re.fullmatch(rf"/projects/{slug}/updates/\d+",
                                                       by_htmx.headers["HX-Redirect"])
    section = app.test_client().get(f"/projects/{slug}").get_data(as_text=True)
    assert section.index("第二条") < section.index("样机到了"), "newest first on the project page"


def test_only_the_creator_posts(app, client, make_project, make_user, login_as):
    slug = make_project(status="live")
    draft = make_project(status="draft")
    new = f"/me/projects/{slug}/updates/new"
    anonymous = client.get(new)
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
    stranger = signed_in(app, email_of(app, make_user()))
    assert stranger.client.get(new).status_code == 403
    token = stranger.token("/")
    assert stranger.client.post(new, data={"csrf_token": token, "title": "冒充", "body": "x"}).status_code == 403
    assert "发布动态" not in stranger.client.get(f"/projects/{slug}").get_data(as_text=True)
    moderator = signed_in(app, email_of(app, make_user(roles=["moderator"])))
    assert moderator.client.get(new).status_code == 403, "moderators edit, they do not post for the creator"
    _, _, email = creator_of(app, draft)
    assert signed_in(app, email).client.get(f"/me/projects/{draft}/updates/new").status_code == 403
    with app.app_context():
        assert db.session.scalar(select(ProjectUpdate.id)) is None


def test_edit_keeps_a_visible_history(app, make_project, make_user):
    slug = make_project(status="live")
    _, _, email = creator_of(app, slug)
    update_id = post_update(app, slug, "初版标题", "初版内容")
    edit = f"/me/projects/{slug}/updates/{update_id}/edit"
    creator = signed_in(app, email)
    form = creator.client.get(edit).get_data(as_text=True)
    assert 'value="初版标题"' in form and "初版内容" in form
    invalid = creator.post(edit, {"title": "新标题", "body": ""}, form_path=edit, htmx=True)
    assert invalid.status_code == 422 and "<html" not in invalid.get_data(as_text=True)
    assert creator.post(edit, {"title": "新标题", "body": "新内容"}, form_path=edit).status_code == 303
    stranger = signed_in(app, email_of(app, make_user()))
    assert stranger.client.get(edit).status_code == 403
    moderator = signed_in(app, email_of(app, make_user(roles=["moderator"])))
    assert moderator.post(edit, {"title": "新标题", "body": "新内容（已删去联系方式）"}, form_path=edit).status_code == 303

    page = app.test_client().get(f"/projects/{slug}/updates/{update_id}").get_data(as_text=True)
    assert "新内容（已删去联系方式）" in page and "已编辑" in page and "编辑记录" in page
    history = page[page.index("编辑记录"):]
    assert history.index("新标题") < history.index("初版标题"), "newest earlier version first"
    assert "初版内容" in history and "新内容</p>" in history
    assert "已编辑" in app.test_client().get(f"/projects/{slug}").get_data(as_text=True)
    assert f'href="{edit}"' in creator.client.get(f"/projects/{slug}").get_data(as_text=True)
    assert f'href="{edit}"' not in stranger.client.get(f"/projects/{slug}").get_data(as_text=True)


def test_backers_only_updates_are_hidden_from_everyone_else(app, make_project, make_user):
    backer_id, stranger_id = make_user(), make_user()
    slug = make_project(status="live", paid=[(backer_id, 99_00, 0)])
    _, _, creator_email = creator_of(app, slug)
    secret = post_update(app, slug, "内部进展", "只给支持者看的内容", backers_only=True)
    post_update(app, slug, "公开进展", "人人可见的内容")
    paths = [f"/projects/{slug}", f"/projects/{slug}/updates", f"/projects/{slug}/updates/{secret}"]
    readers = {"anonymous": Browserless(app.test_client()), "stranger": signed_in(app, email_of(app, stranger_id)),
               "backer": signed_in(app, email_of(app, backer_id)), "creator": signed_in(app, creator_email)}
    for who, browser in readers.items():
        for path in paths:
            page = browser.client.get(path).get_data(as_text=True)
            assert "内部进展" in page and "仅限支持者" in page, (who, path)
            assert ("只给支持者看的内容" in page) == (who in ("backer", "creator")), (who, path)
            if path != paths[2]:
                assert "人人可见的内容" in page, (who, path)
    feed = readers["backer"].client.get(f"/projects/{slug}/updates.atom").get_data(as_text=True)
    assert "内部进展" in feed and "只给支持者看的内容" not in feed, "a feed is read by anyone it is passed to"


def test_atom_feed(app, client, make_project):
    slug = make_project(status="live", title="智能台灯")
    t0 = utcnow() - timedelta(days=2)
    first = post_update(app, slug, "第一条 <动态>", "正文 **一** & <script>x</script>", when=t0)
    second = post_update(app, slug, "第二条", "仅支持者可读", backers_only=True, when=t0 + timedelta(days=1))
    response = client.get(f"/projects/{slug}/updates.atom")
    assert response.status_code == 200 and response.mimetype == "application/atom+xml"
    feed = ET.fromstring(response.data)
    assert feed.tag == f"{ATOM}feed"
    assert feed.get("{http://www.w3.org/XML/1998/namespace}base") == "http://localhost/", "our /media/ images resolve"
    assert feed.findtext(f"{ATOM}id") == f"http://localhost/projects/{slug}/updates"
    assert feed.findtext(f"{ATOM}title") == "“智能台灯”的项目动态" and feed.findtext(f"{ATOM}updated")
    self_link = feed.find(f"{ATOM}link[@rel='self']")
    assert self_link.get("href") == f"http://localhost/projects/{slug}/updates.atom"
    assert feed.findtext(f"{ATOM}author/{ATOM}name")
    entries = feed.findall(f"{ATOM}entry")
    assert [e.findtext(f"{ATOM}title") for e in entries] == ["第二条", "第一条 <动态>"]
    newest, oldest = entries
    assert oldest.findtext(f"{ATOM}id") == f"http://localhost/projects/{slug}/updates/{first}"
    assert oldest.find(f"{ATOM}link").get("href") == f"http://localhost/projects/{slug}/updates/{first}"
    assert oldest.findtext(f"{ATOM}updated").startswith(t0.strftime("%Y-%m-%dT%H:%M:%S"))
    content = oldest.find(f"{ATOM}content")
    assert content.get("type") == "html" and "<strong>一</strong>" in content.text and "<script>" not in content.text
    assert newest.find(f"{ATOM}content") is None and "仅限支持者" in newest.findtext(f"{ATOM}summary")
    assert newest.findtext(f"{ATOM}id").endswith(f"/updates/{second}")
    assert f'href="/projects/{slug}/updates.atom"' in client.get(f"/projects/{slug}").get_data(as_text=True)
    draft = make_project(status="draft")
    assert client.get(f"/projects/{draft}/updates.atom").status_code == 404


def test_project_page_shows_the_latest_three(app, client, make_project):
    slug = make_project(status="live")
    assert 'id="updates"' not in client.get(f"/projects/{slug}").get_data(as_text=True), "no empty section"
    t0 = utcnow() - timedelta(days=5)
    for n in range(4):
        post_update(app, slug, f"动态{n}", f"内容{n}", when=t0 + timedelta(hours=n))
    page = client.get(f"/projects/{slug}").get_data(as_text=True)
    section = page[page.index('id="updates"'):]
    assert [t for t in ("动态3", "动态2", "动态1") if t in section] == ["动态3", "动态2", "动态1"]
    assert "动态0" not in section and f'href="/projects/{slug}/updates"' in section and "全部动态" in section
    listing = client.get(f"/projects/{slug}/updates").get_data(as_text=True)
    assert all(f"动态{n}" in listing for n in range(4))


def test_project_page_queries_do_not_grow_with_updates(app, make_project, make_user):
    backer_id = make_user()
    slug = make_project(status="live", paid=[(backer_id, 99_00, 0)])
    readers = [Browserless(app.test_client()), signed_in(app, email_of(app, backer_id))]
    counts = {0: [], 1: []}
    for browser in readers:  # a signed-in reader's first view also makes their share code, once
        browser.client.get(f"/projects/{slug}")
    for total in (0, 8):
        for n in range(total):
            post_update(app, slug, f"动态{n}", f"内容{n}", backers_only=n % 2 == 0)
        for index, browser in enumerate(readers):
            with count_queries(app) as statements:
                assert browser.client.get(f"/projects/{slug}").status_code == 200
            counts[index].append(len(statements))
    assert counts[0][0] == counts[0][1] and counts[1][0] == counts[1][1], counts
