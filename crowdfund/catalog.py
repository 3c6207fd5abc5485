"""The two-level category tree (SPEC 1.1)."""
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from crowdfund.extensions import db
from crowdfund.models import Category

# (slug, 中文, English, [(slug, 中文, English), ...])
CATEGORIES = [
    ("tech", "科技", "Technology", [
        ("smart-hardware", "智能硬件", "Smart hardware"),
        ("gadgets", "数码周边", "Gadgets & accessories"),
        ("software", "软件应用", "Apps & software"),
    ]),
    ("culture", "文创", "Culture & creative", [
        ("publishing", "出版", "Publishing"),
        ("comics", "动漫", "Comics & animation"),
        ("crafts", "手工艺", "Crafts"),
    ]),
    ("design", "设计", "Design", [
        ("home", "家居", "Home"),
        ("fashion", "服饰", "Fashion"),
        ("stationery", "文具", "Stationery"),
    ]),
    ("games", "游戏", "Games", [
        ("video-games", "电子游戏", "Video games"),
        ("tabletop", "桌游", "Tabletop games"),
    ]),
    ("film", "影视", "Film & video", [
        ("documentary", "纪录片", "Documentary"),
        ("short-film", "短片", "Short film"),
        ("animation", "动画", "Animation"),
    ]),
    ("music", "音乐", "Music", [
        ("albums", "专辑", "Albums"),
        ("live", "演出", "Live shows"),
    ]),
    ("food", "美食", "Food", [
        ("farm-produce", "农产品", "Farm produce"),
        ("snacks", "零食", "Snacks & drinks"),
    ]),
    ("charity", "公益", "Charity", [
        ("education", "助学", "Education"),
        ("rural", "乡村振兴", "Rural development"),
        ("animals", "动物保护", "Animal welfare"),
    ]),
]


def category_tree():
    """Top-level categories with their children loaded, in display order."""
    return db.session.scalars(
        select(Category)
        .where(Category.parent_id.is_(None))
        .options(selectinload(Category.children))
        .order_by(Category.position)
    ).all()


def ensure_categories():
    """Create or update the standard categories; returns how many were created."""
    existing = {c.slug: c for c in db.session.scalars(select(Category))}
    created = 0
    for position, (slug, zh, en, children) in enumerate(CATEGORIES):
        parent = existing.get(slug)
        if parent is None:
            parent = Category(slug=slug)
            db.session.add(parent)
            created += 1
        parent.name_zh, parent.name_en, parent.position, parent.parent = zh, en, position, None
        for child_position, (child_slug, child_zh, child_en) in enumerate(children):
            child = existing.get(child_slug)
            if child is None:
                child = Category(slug=child_slug)
                db.session.add(child)
                created += 1
            child.name_zh, child.name_en, child.position, child.parent = child_zh, child_en, child_position, parent
    db.session.commit()
    return created


def category_choices():
    """Subcategories grouped under their top-level category, for a <select> with optgroups."""
    from wtforms.fields.choices import SelectChoice

    choices = [SelectChoice(0, "—")]
    for parent in category_tree():
        group = parent.name(_locale())
        choices += [SelectChoice(child.id, child.name(_locale()), optgroup=group) for child in parent.children]
    return choices


def get_category(category_id):
    return db.session.get(Category, category_id) if category_id else None


def _locale():
    from crowdfund.i18n import select_locale

    return select_locale()
