"""What differs between the databases the site runs on: PostgreSQL (production), MySQL/MariaDB (the managed
database of most Chinese clouds) and SQLite (development).

The domain code is written for PostgreSQL's behaviour; this module makes a MySQL connection behave the same way
where the money path depends on it, so the code above it needs no branches for those points:

- READ COMMITTED, PostgreSQL's default. InnoDB defaults to REPEATABLE READ, where a plain SELECT after a
  `SELECT … FOR UPDATE` still reads the transaction's first snapshot: a late claim that waited for the guarantee's
  row lock would then not see the claim that held it, and take the same money twice (tests/unit/test_claim_race.py).
  Guarded UPDATEs (`… SET taken = taken + 1 WHERE taken < limit`) read the newest row under either level.
- Sessions in UTC: timestamps are stored as UTC wall time in DATETIME columns (which keep no zone), so the
  server's own clock functions must agree.
- utf8mb4 and binary collation for every table the migrations create (migrations/env.py): Chinese and emoji
  fit, and `=`/unique indexes compare exactly as on PostgreSQL — a case-insensitive collation would make
  two share codes that differ in case collide, and match a token typed in the wrong case.
- Sums of integers read back as integers: MySQL's SUM() of an INTEGER column is a DECIMAL (PostgreSQL's is a
  bigint), and money is integer fen everywhere — the ledger refuses a Decimal amount. The schema has no DECIMAL
  column, so the only DECIMALs a query returns are SUM/AVG results: one without a fraction reads as int.
- Microsecond timestamps, DATETIME(6): MySQL's DATETIME keeps whole seconds, and the ledger's hash chain covers
  each transaction's created_at, so a rounded timestamp would read back as tampered history.
"""
from decimal import Decimal

from sqlalchemy import DateTime, event
from sqlalchemy.ext.compiler import compiles

MYSQL_COLLATION = "utf8mb4_bin"


def is_mysql(engine_or_connection):
    """MySQL and MariaDB share SQLAlchemy's "mysql" dialect (MariaDB also answers to "mariadb")."""
    return engine_or_connection.dialect.name in ("mysql", "mariadb")


@compiles(DateTime, "mysql")
@compiles(DateTime, "mariadb")
def _mysql_datetime(type_, compiler, **kw):
    """DATETIME(6): whole-second DATETIME would round the ledger's timestamps (see the module docstring)."""
    return "DATETIME(6)"


def _decimal_or_int(text):
    """A DECIMAL result from MySQL: an int when it has no fractional part (a SUM of integers), else a Decimal."""
    if isinstance(text, bytes):
        text = text.decode("ascii")
    return Decimal(text) if "." in text else int(text)


def _mysql_session(dbapi_connection, _record):
    from pymysql.constants import FIELD_TYPE

    dbapi_connection.decoders[FIELD_TYPE.NEWDECIMAL] = _decimal_or_int
    dbapi_connection.decoders[FIELD_TYPE.DECIMAL] = _decimal_or_int
    cursor = dbapi_connection.cursor()
    cursor.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
    cursor.execute("SET SESSION time_zone = '+00:00'")
    cursor.close()


def configure_engine(engine):
    """Per-connection settings for the engine's backend (called once per app, when the engine is made)."""
    if is_mysql(engine):
        event.listen(engine, "connect", _mysql_session)


def prepare_mysql_database(connection):
    """Before migrating: new tables default to InnoDB and utf8mb4 with binary collation (see module docstring).

    Set on the database, so tables added by later migrations (a plain op.create_table) get the same without
    naming charset or engine themselves.
    """
    connection.exec_driver_sql("SET SESSION default_storage_engine = InnoDB")
    connection.exec_driver_sql(f"ALTER DATABASE CHARACTER SET utf8mb4 COLLATE {MYSQL_COLLATION}")
