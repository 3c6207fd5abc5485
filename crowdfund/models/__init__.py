"""Database models, one module per aggregate."""
from crowdfund.models.audit import AuditEntry
from crowdfund.models.category import Category
from crowdfund.models.coupon import Coupon
from crowdfund.models.community import (Block, Comment, EmailOptOut, FaqEntry, Follow, Message, MessageThread,
                                        ProjectUpdate, Report, UpdateRevision)
from crowdfund.models.growth import PointsEntry, Visit
from crowdfund.models.jobs import PeriodicRun
from crowdfund.models.legal import Consent, LegalDocument
from crowdfund.models.ledger import (Guarantee, LedgerAccount, LedgerEntry, LedgerHead, LedgerTransaction,
                                     LedgerVerification, ReconciliationRun, Refund, Withdrawal)
from crowdfund.models.login_session import LoginSession
from crowdfund.models.media import Media, MediaKind
from crowdfund.models.notification import Notification
from crowdfund.models.phone import SmsCode, SmsPurpose
from crowdfund.models.pledge import Address, PaymentNotification, Pledge, PledgeStatus
from crowdfund.models.privacy import DataExport
from crowdfund.models.project import (FundingMode, Project, ProjectDocument, ProjectEvent, ProjectKind,
                                      ProjectStatus)
from crowdfund.models.review import ReviewDecision, ReviewFinding, Severity
from crowdfund.models.risk import RiskAlert
from crowdfund.models.sandbox import SandboxRefund, SandboxTrade
from crowdfund.models.reward import RewardTier, ShippingRate, ShippingRegion
from crowdfund.models.user import Role, User, UserRole
from crowdfund.models.verification import CreatorVerification, VerificationKind, VerificationStatus

__all__ = [
    "Block", "Comment", "EmailOptOut", "FaqEntry", "Follow", "Message", "MessageThread", "ProjectUpdate", "Report",
    "UpdateRevision",
    "Guarantee", "LedgerAccount", "LedgerEntry", "LedgerHead", "LedgerTransaction", "LedgerVerification",
    "ReconciliationRun", "Refund", "Withdrawal", "LoginSession",
    "Address", "PaymentNotification", "SandboxRefund", "SandboxTrade",
    "AuditEntry", "Category", "Consent", "LegalDocument", "DataExport", "CreatorVerification", "FundingMode", "Media", "MediaKind", "Notification",
    "PeriodicRun", "Pledge", "PledgeStatus", "Project", "ProjectDocument", "ProjectEvent", "ProjectKind",
    "ProjectStatus", "ReviewDecision", "ReviewFinding", "RewardTier", "RiskAlert", "Role", "Severity", "ShippingRate",
    "ShippingRegion", "SmsCode", "SmsPurpose", "User", "UserRole", "VerificationKind", "VerificationStatus",
    "PointsEntry", "Visit",
    "Coupon",
]
