"""Demo data for `flask seed-demo`: safe to run any number of times."""
from crowdfund import accounts
from crowdfund.catalog import ensure_categories
from crowdfund.models import Role

# Listed in README; for the demo site only.
DEMO_USERS = [
    ("admin@demo.crowdfund.test", "管理员 Admin", "demo-admin-pass", [Role.ADMIN]),
    ("moderator@demo.crowdfund.test", "审核员 Moderator", "demo-moderator-pass", [Role.MODERATOR]),
    ("finance@demo.crowdfund.test", "财务 Finance", "demo-finance-pass", [Role.FINANCE]),
    ("creator@demo.crowdfund.test", "发起人 Creator", "demo-creator-pass", [Role.CREATOR]),
    ("backer@demo.crowdfund.test", "支持者 Backer", "demo-backer-pass", []),
]


def seed_demo():
    """Create the demo accounts and categories that are missing; returns what was created."""
    created_users = [
        email for email, name, password, roles in DEMO_USERS
        if accounts.ensure_user(email, name, password, roles)[1]
    ]
    return {"users": created_users, "categories": ensure_categories()}
