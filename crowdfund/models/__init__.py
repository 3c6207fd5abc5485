"""Database models, one module per aggregate."""
from crowdfund.models.category import Category
from crowdfund.models.jobs import PeriodicRun
from crowdfund.models.user import Role, User, UserRole

__all__ = ["Category", "PeriodicRun", "Role", "User", "UserRole"]
