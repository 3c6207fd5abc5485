"""The one door for money (SPEC 2.4): double-entry transactions in integer fen, append-only, hash-chained.

Sign convention: debits are positive, credits negative; every transaction sums to zero. Money held
for a project shows as a credit balance on `escrow:project:<id>`. Balances are always sums of
entries. Each transaction has an idempotency key (`payment:<out_trade_no>`, `refund:<out_request_no>`),
so nothing can be booked twice; its hash covers the previous hash and its canonical content, so
any later edit of history breaks `verify()`.
"""
import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import event, func, select, update
from sqlalchemy.exc import IntegrityError

from crowdfund.extensions import db
from crowdfund.models import LedgerAccount, LedgerEntry, LedgerHead, LedgerTransaction, LedgerVerification
from crowdfund.models.base import utcnow

GENESIS = "0" * 64


class LedgerError(Exception):
    """The ledger refuses the operation."""


class Unbalanced(LedgerError):
    """Entries must be at least two non-zero integer amounts summing to zero."""


class AppendOnly(LedgerError):
    """Ledger rows are never updated or deleted."""


@event.listens_for(LedgerTransaction, "before_update")
@event.listens_for(LedgerEntry, "before_update")
@event.listens_for(LedgerTransaction, "before_delete")
@event.listens_for(LedgerEntry, "before_delete")
def _refuse_changes(mapper, connection, target):
    raise AppendOnly(f"{type(target).__name__} rows are append-only")


def clearing(provider):
    return f"clearing:{provider}"


def escrow(project_id):
    return f"escrow:project:{project_id}"


REFUNDS_PAYABLE = "refunds_payable"


def account(code, project_id=None):
    """The account with this code, created on first use."""
    row = db.session.scalar(select(LedgerAccount).where(LedgerAccount.code == code))
    if row is None:
        try:
            with db.session.begin_nested():
                row = LedgerAccount(code=code, project_id=project_id)
                db.session.add(row)
        except IntegrityError:
            row = db.session.scalar(select(LedgerAccount).where(LedgerAccount.code == code))
    return row


def canonical(seq, kind, key, project_id, memo, created_at, entries):
    """The exact bytes a transaction's hash covers."""
    return json.dumps({"seq": seq, "kind": kind, "key": key, "project_id": project_id, "memo": memo,
                       "created_at": created_at.isoformat(), "entries": [[c, a] for c, a in entries]},
                      sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def chain_hash(prev_hash, content):
    return hashlib.sha256(prev_hash.encode() + content).hexdigest()


def _lock_head():
    """Take the chain's tip for this transaction (creating it once)."""
    if db.session.execute(update(LedgerHead).where(LedgerHead.id == 1).values(seq=LedgerHead.seq)).rowcount == 0:
        try:
            with db.session.begin_nested():
                db.session.add(LedgerHead(id=1, seq=0, last_hash=GENESIS))
        except IntegrityError:
            pass
        db.session.execute(update(LedgerHead).where(LedgerHead.id == 1).values(seq=LedgerHead.seq))
    return db.session.get(LedgerHead, 1, populate_existing=True)


def post(kind, key, entries, project_id=None, memo="", now=None):
    """Book a balanced transaction once; the same key returns the first booking. The caller commits."""
    existing = db.session.scalar(select(LedgerTransaction).where(LedgerTransaction.idempotency_key == key))
    if existing is not None:
        return existing
    entries = [(code, amount) for code, amount in entries]
    if len(entries) < 2 or any(not isinstance(a, int) or isinstance(a, bool) or a == 0 for _, a in entries) \
            or sum(a for _, a in entries) != 0:
        raise Unbalanced(f"{key}: {entries}")
    head = _lock_head()
    created_at = now or utcnow()
    seq = head.seq + 1
    content = canonical(seq, kind, key, project_id, memo, created_at, entries)
    txn = LedgerTransaction(seq=seq, kind=kind, idempotency_key=key, project_id=project_id, memo=memo,
                            created_at=created_at, prev_hash=head.last_hash,
                            hash=chain_hash(head.last_hash, content))
    db.session.add(txn)
    db.session.flush()
    for code, amount in entries:
        db.session.add(LedgerEntry(transaction_id=txn.id, account_id=account(code, project_id).id, amount_fen=amount))
    head.seq, head.last_hash = seq, txn.hash
    db.session.flush()
    return txn


def balance(code):
    """An account's balance: the sum of its entries (debits positive)."""
    return db.session.scalar(select(func.coalesce(func.sum(LedgerEntry.amount_fen), 0))
                             .join(LedgerAccount).where(LedgerAccount.code == code))


def project_transactions(project_id):
    """A project's ledger history, oldest first, with what each did to its escrow."""
    code = escrow(project_id)
    txns = db.session.scalars(select(LedgerTransaction).where(LedgerTransaction.project_id == project_id)
                              .order_by(LedgerTransaction.seq)).all()
    return [(txn, -sum(e.amount_fen for e in txn.entries if e.account.code == code)) for txn in txns]


def project_funds(project_id):
    """Raised, refunded and held in escrow for a project, derived from the ledger only."""
    totals = {"payment": 0, "refund": 0, "fee": 0, "withdrawal": 0}
    guaranteed = 0
    for txn, delta in project_transactions(project_id):
        if txn.kind in totals:
            totals[txn.kind] += abs(delta)
        guaranteed += sum(e.amount_fen for e in txn.entries if e.account.code.startswith("guarantor:"))
    return {"raised": totals["payment"], "refunded": totals["refund"], "fees": totals["fee"],
            "withdrawn": totals["withdrawal"], "escrow": -balance(escrow(project_id)), "guaranteed": guaranteed}


def export_rows():
    """(seq, time, kind, key, project, account, amount, hash) for every entry, in chain order."""
    return db.session.execute(
        select(LedgerTransaction.seq, LedgerTransaction.created_at, LedgerTransaction.kind,
               LedgerTransaction.idempotency_key, LedgerTransaction.project_id, LedgerAccount.code,
               LedgerEntry.amount_fen, LedgerTransaction.hash)
        .join(LedgerEntry, LedgerEntry.transaction_id == LedgerTransaction.id)
        .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
        .order_by(LedgerTransaction.seq, LedgerEntry.id)).all()


FULL_CHECK_EVERY = timedelta(days=1)  # an incremental check trusts what was verified before; a full one, no less often
MAX_PROBLEMS = 20  # kept per recorded check: the first breaks are what matter


@dataclass
class ChainCheck:
    """What one walk along the chain found; `last_seq`/`last_hash` are the last transaction it read."""

    problems: list
    checked: int
    last_seq: int
    last_hash: str
    broken_seq: int | None = None


def _walk(after_seq=0, after_hash=GENESIS):
    """Recompute the chain after transaction `after_seq` (whose hash is `after_hash`) up to the head.

    The head is read first and bounds the walk, so transactions booked meanwhile are left for the next check
    instead of looking like a broken head.
    """
    head = db.session.get(LedgerHead, 1, populate_existing=True)
    upto = head.seq if head is not None else 0
    head_hash = head.last_hash if head is not None else GENESIS
    result = ChainCheck([], 0, after_seq, after_hash)

    def problem(message, seq=None):
        result.problems.append(message)
        if seq is not None and result.broken_seq is None:
            result.broken_seq = seq

    txns = db.session.execute(
        select(LedgerTransaction.id, LedgerTransaction.seq, LedgerTransaction.kind, LedgerTransaction.idempotency_key,
               LedgerTransaction.project_id, LedgerTransaction.memo, LedgerTransaction.created_at,
               LedgerTransaction.prev_hash, LedgerTransaction.hash)
        .where(LedgerTransaction.seq > after_seq, LedgerTransaction.seq <= upto)
        .order_by(LedgerTransaction.seq)).all()
    by_txn = {}
    for transaction_id, code, amount in db.session.execute(
            select(LedgerEntry.transaction_id, LedgerAccount.code, LedgerEntry.amount_fen)
            .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
            .join(LedgerTransaction, LedgerTransaction.id == LedgerEntry.transaction_id)
            .where(LedgerTransaction.seq > after_seq, LedgerTransaction.seq <= upto)
            .order_by(LedgerEntry.id)):
        by_txn.setdefault(transaction_id, []).append((code, amount))
    prev = after_hash
    for expected_seq, txn in enumerate(txns, start=after_seq + 1):
        entries = by_txn.get(txn.id, [])
        if txn.seq != expected_seq:
            problem(f"transaction {txn.id}: sequence {txn.seq}, expected {expected_seq}", expected_seq)
        if txn.prev_hash != prev:
            problem(f"transaction {txn.seq}: chain broken before it", txn.seq)
        content = canonical(txn.seq, txn.kind, txn.idempotency_key, txn.project_id, txn.memo, txn.created_at, entries)
        if chain_hash(txn.prev_hash, content) != txn.hash:
            problem(f"transaction {txn.seq} ({txn.idempotency_key}): content does not match its hash", txn.seq)
        if sum(a for _, a in entries) != 0 or len(entries) < 2:
            problem(f"transaction {txn.seq}: entries do not balance", txn.seq)
        prev = txn.hash
        result.checked += 1
        result.last_seq, result.last_hash = txn.seq, txn.hash
    if (result.last_seq, prev) != (upto, head_hash):
        problem("the chain's head does not match its last transaction", min(result.last_seq + 1, max(upto, 1)))
    newest = db.session.scalar(select(func.max(LedgerTransaction.seq))) or 0
    head = db.session.get(LedgerHead, 1, populate_existing=True)
    if newest > (head.seq if head is not None else 0):  # the head only grows, and with every booking
        problem("transactions lie beyond the chain's head", (head.seq if head is not None else 0) + 1)
    orphans = db.session.scalar(select(func.count(LedgerEntry.id)).where(
        LedgerEntry.transaction_id.not_in(select(LedgerTransaction.id))))
    if orphans:
        problem(f"{orphans} entries belong to no transaction")
    return result


def verify():
    """Recompute the chain and every transaction's balance; returns a list of problems (empty when sound)."""
    return _walk().problems


def latest_verification(full=None, ok=None):
    """The most recent recorded check of the chain (optionally only full ones, or only sound ones), or None."""
    query = select(LedgerVerification).order_by(LedgerVerification.id.desc()).limit(1)
    if full is not None:
        query = query.where(LedgerVerification.full.is_(full))
    if ok is not None:
        query = query.where(LedgerVerification.ok.is_(ok))
    return db.session.scalar(query)


def record_verification(source="job", full=False, now=None):
    """Check the chain and record the result (a LedgerVerification, committed) for the funds page and /healthz.

    Incremental by default: what was booked after the last sound check, from its hash on. The check is full
    (from the genesis hash) when asked, when there is no sound check to continue from, and when the last full
    pass is older than FULL_CHECK_EVERY, so an edit of old history is found within that time. Either way the
    transaction the last sound check ended on must still carry the hash it had then, which also catches a
    chain rewritten consistently from the start. Finance hears of a failure once, when the chain stops verifying.
    """
    from crowdfund.notifications import notify_finance

    started = now or utcnow()
    previous = latest_verification()
    anchor = latest_verification(ok=True)
    last_full = latest_verification(full=True)
    full = full or previous is None or not previous.ok or last_full is None \
        or started - last_full.started_at >= FULL_CHECK_EVERY
    result = _walk() if full else _walk(anchor.last_seq, anchor.last_hash)
    if anchor is not None:
        kept = db.session.scalar(select(LedgerTransaction.hash).where(LedgerTransaction.seq == anchor.last_seq)) \
            if anchor.last_seq else GENESIS
        if kept != anchor.last_hash:
            result.problems.insert(0, f"transaction {anchor.last_seq} no longer has the hash verified at "
                                      f"{anchor.finished_at.isoformat()}")
            result.broken_seq = min(result.broken_seq or anchor.last_seq, anchor.last_seq)
    row = LedgerVerification(started_at=started, finished_at=utcnow() if now is None else started, source=source,
                             full=full, ok=not result.problems, checked=result.checked, last_seq=result.last_seq,
                             last_hash=result.last_hash, broken_seq=result.broken_seq,
                             problems=result.problems[:MAX_PROBLEMS])
    db.session.add(row)
    if not row.ok and (previous is None or previous.ok):
        notify_finance("ledger_broken", key=f"ledger-broken:{started.isoformat()}")
    db.session.commit()
    return row


def chain_status():
    """What the funds page says about the chain: the last recorded check and how many bookings came after it."""
    verification = latest_verification()
    head = db.session.get(LedgerHead, 1)
    since = max((head.seq if head is not None else 0) - verification.last_seq, 0) if verification else 0
    return {"verification": verification, "since": since}
