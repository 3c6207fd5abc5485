"""Configuration read from the environment; see README "Configuration" for every variable."""
import os
import secrets
from pathlib import Path

DEV_KEY_FILE = "secret_key"


class ConfigError(RuntimeError):
    """The configuration is unsafe or incomplete for the chosen environment."""


def _bool(name, default=False):
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _coupon_options(text):
    """"100:5,300:20" → ((100, 500), (300, 2000)): points and the coupon's value in fen, cheapest first."""
    options = []
    for part in text.split(","):
        points, _, yuan = part.strip().partition(":")
        if int(points) <= 0 or int(yuan) <= 0:
            raise ValueError("COUPON_OPTIONS: points and yuan must be positive")
        options.append((int(points), int(yuan) * 100))
    return tuple(sorted(options))


def normalize_database_url(url):
    """Use psycopg 3 for PostgreSQL and PyMySQL for MySQL/MariaDB URLs however they are spelled; a MySQL URL
    without a charset gets utf8mb4 (MySQL's "utf8" is three bytes a character: no emoji, no rarer CJK)."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    for prefix in ("mysql://", "mariadb://", "mysql+pymysql://", "mariadb+pymysql://"):
        if url.startswith(prefix):
            url = "mysql+pymysql://" + url[len(prefix):]
            if "charset=" not in url:
                url += ("&" if "?" in url else "?") + "charset=utf8mb4"
            return url
    return url


def dev_secret_key(instance_path):
    """Read the development key from instance/, creating it once."""
    path = Path(instance_path) / DEV_KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("dev-" + secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


class Config:
    """Settings shared by every environment, read from the environment at app creation."""

    def __init__(self, instance_path):
        env = os.environ
        self.ENV_NAME = env.get("CROWDFUND_ENV", "development")
        self.SECRET_KEY = env.get("SECRET_KEY") or None
        self.SQLALCHEMY_DATABASE_URI = normalize_database_url(
            env.get("DATABASE_URL") or f"sqlite:///{Path(instance_path) / 'crowdfund.sqlite'}"
        )
        self.REDIS_URL = env.get("REDIS_URL") or None
        self.BABEL_DEFAULT_LOCALE = env.get("DEFAULT_LOCALE", "zh_CN")
        self.BABEL_DEFAULT_TIMEZONE = env.get("DISPLAY_TIMEZONE", "Asia/Shanghai")
        self.LANGUAGES = ["zh_CN", "en"]
        self.MAIL_SERVER = env.get("MAIL_SERVER", "localhost")
        self.MAIL_PORT = int(env.get("MAIL_PORT", "25"))
        self.MAIL_USERNAME = env.get("MAIL_USERNAME") or None
        self.MAIL_PASSWORD = env.get("MAIL_PASSWORD") or None
        self.MAIL_USE_TLS = _bool("MAIL_USE_TLS")
        self.MAIL_DEFAULT_SENDER = env.get("MAIL_DEFAULT_SENDER", "众筹 Crowdfund <noreply@localhost>")
        # Notification e-mail is sent only where a mail server was configured (or MAIL_ENABLED=1 says so).
        self.MAIL_ENABLED = _bool("MAIL_ENABLED", bool(env.get("MAIL_SERVER")))
        self.MAIL_TIMEOUT = int(env.get("MAIL_TIMEOUT", "10"))  # seconds per SMTP connection and command
        # Account e-mail (confirmation links) must reach people even where no mail server is configured: outside
        # production it is then written to this folder as .eml files (and the link is logged).
        self.MAIL_OUTBOX = env.get("MAIL_OUTBOX") or (
            None if self.ENV_NAME == "production" else str(Path(instance_path) / "outbox"))
        self.ICP_NUMBER = env.get("ICP_NUMBER", "")  # ICP 备案号, e.g. 京ICP备12345678号-1
        self.PSB_NUMBER = env.get("PSB_NUMBER", "")  # 公安备案号, e.g. 京公网安备11010502030000号
        self.RATELIMIT_STORAGE_URI = env.get("RATELIMIT_STORAGE_URI") or self.REDIS_URL or "memory://"
        self.RATELIMIT_LOGIN = env.get("RATELIMIT_LOGIN", "10 per minute;60 per hour")
        # Sign-ups accepted (each sends a mail) per client address, and every sign-up POST, invalid ones too.
        self.RATELIMIT_SIGNUP = env.get("RATELIMIT_SIGNUP", "5 per minute;30 per hour")
        self.RATELIMIT_SIGNUP_ATTEMPTS = env.get("RATELIMIT_SIGNUP_ATTEMPTS", "20 per minute;100 per hour")
        # Failed logins per e-mail address typed (known or not), whatever the client address.
        self.RATELIMIT_LOGIN_ACCOUNT = env.get("RATELIMIT_LOGIN_ACCOUNT", "10 per 15 minutes;50 per day")
        # Account e-mail (confirmation links, "someone tried to sign up") per address, so nobody floods a mailbox.
        self.RATELIMIT_ACCOUNT_EMAIL = env.get("RATELIMIT_ACCOUNT_EMAIL", "5 per hour;20 per day")
        # "Send me a new link" per account.
        self.RATELIMIT_VERIFY_RESEND = env.get("RATELIMIT_VERIFY_RESEND", "3 per 15 minutes;10 per day")
        # How long a mailed confirmation link works, in seconds.
        self.EMAIL_VERIFY_MAX_AGE = int(env.get("EMAIL_VERIFY_MAX_AGE", str(48 * 3600)))
        # "Forgot password" requests (each POST) per client address, and how long a mailed reset link works (s).
        self.RATELIMIT_PASSWORD_RESET = env.get("RATELIMIT_PASSWORD_RESET", "5 per minute;20 per hour")
        self.PASSWORD_RESET_MAX_AGE = int(env.get("PASSWORD_RESET_MAX_AGE", str(3600)))
        self.RATELIMIT_PLEDGE = env.get("RATELIMIT_PLEDGE", "20 per minute;200 per hour")
        self.RATELIMIT_COMMENT = env.get("RATELIMIT_COMMENT", "10 per minute;100 per day")  # per account
        self.RATELIMIT_MESSAGE = env.get("RATELIMIT_MESSAGE", "10 per minute;200 per day")
        # Per source address: Alipay sends a few notifications per payment (retries included).
        self.RATELIMIT_NOTIFY = env.get("RATELIMIT_NOTIFY", "120 per minute")
        self.RATELIMIT_DATA_EXPORT = env.get("RATELIMIT_DATA_EXPORT", "3 per day")  # personal-data downloads
        # SMS codes (crowdfund/phones.py): per number, and per client address, across every form that sends one.
        self.RATELIMIT_SMS = env.get("RATELIMIT_SMS", "1 per minute;5 per hour")
        self.RATELIMIT_SMS_IP = env.get("RATELIMIT_SMS_IP", "20 per hour")
        self.SMS_CODE_MINUTES = int(env.get("SMS_CODE_MINUTES", "5"))  # how long a code works
        self.SMS_CODE_ATTEMPTS = int(env.get("SMS_CODE_ATTEMPTS", "5"))  # wrong tries before a code is dead
        # `dev` logs codes and shows them on /dev/sms; `aliyun` sends through Dysmsapi (crowdfund/sms/aliyun.py).
        self.SMS_PROVIDER = env.get("SMS_PROVIDER") or ("aliyun" if self.ENV_NAME == "production" else "dev")
        self.SMS_TIMEOUT = float(env.get("SMS_TIMEOUT", "5"))  # seconds to wait for the SMS provider
        self.ALIYUN_SMS_ACCESS_KEY_ID = env.get("ALIYUN_SMS_ACCESS_KEY_ID", "")
        self.ALIYUN_SMS_ACCESS_KEY_SECRET = env.get("ALIYUN_SMS_ACCESS_KEY_SECRET", "")
        self.ALIYUN_SMS_SIGN_NAME = env.get("ALIYUN_SMS_SIGN_NAME", "")
        self.ALIYUN_SMS_TEMPLATE_CODE = env.get("ALIYUN_SMS_TEMPLATE_CODE", "")  # a template with ${code}
        self.ALIYUN_SMS_ENDPOINT = env.get("ALIYUN_SMS_ENDPOINT") or "https://dysmsapi.aliyuncs.com/"
        # If the limiter's Redis is down, let people log in rather than lock everyone out.
        self.RATELIMIT_SWALLOW_ERRORS = True
        self.TRUSTED_PROXIES = int(env.get("TRUSTED_PROXIES", "0"))
        self.TICK_SECONDS = int(env.get("TICK_SECONDS", "60"))
        # Embedded mode: threads of the web process that run long jobs (e.g. "Run now" reconciliation).
        self.BACKGROUND_WORKERS = int(env.get("BACKGROUND_WORKERS", "2"))
        self.RECONCILIATION_TIMEOUT = int(env.get("RECONCILIATION_TIMEOUT", "1800"))  # seconds; older runs are stale
        self.SITE_URL = (env.get("SITE_URL") or "http://127.0.0.1:5000").rstrip("/")
        # Text responses are compressed (Flask-Compress): brotli where the browser takes it, else gzip.
        self.COMPRESS_ALGORITHM = ["br", "gzip"]
        self.COMPRESS_MIMETYPES = ["text/html", "text/css", "text/plain", "text/csv", "text/javascript",
                                   "application/javascript", "application/json", "application/atom+xml",
                                   "image/svg+xml"]
        # Payments (SPEC 2.2). PAYMENT_SANDBOX=1 serves local gateways speaking each provider's protocol with
        # their own keys. PAYMENT_PROVIDERS: what backers may choose, in the pledge form's order.
        self.PAYMENT_SANDBOX = _bool("PAYMENT_SANDBOX", self.ENV_NAME != "production")
        self.PAYMENT_PROVIDERS = [name.strip() for name in env.get(
            "PAYMENT_PROVIDERS", "alipay,wechatpay,unionpay" if self.PAYMENT_SANDBOX else "alipay").split(",")
            if name.strip()]
        self.ALIPAY_APP_ID = env.get("ALIPAY_APP_ID", "2021000000000001")
        self.ALIPAY_SELLER_ID = env.get("ALIPAY_SELLER_ID", "2088000000000001")
        self.ALIPAY_APP_PRIVATE_KEY = env.get("ALIPAY_APP_PRIVATE_KEY") or None  # PKCS#1 PEM or a path to one
        self.ALIPAY_PUBLIC_KEY = env.get("ALIPAY_PUBLIC_KEY") or None  # Alipay's public key, PEM or a path
        self.ALIPAY_GATEWAY = env.get("ALIPAY_GATEWAY") or None  # default: the sandbox, or openapi.alipay.com
        # WeChat Pay API v3 (Native QR, H5): merchant key and its certificate serial, the APIv3 key, WeChat's
        # platform public key and its id; in sandbox mode any key left empty is the local sandbox's own.
        self.WECHATPAY_MCH_ID = env.get("WECHATPAY_MCH_ID", "1900000109")
        self.WECHATPAY_APP_ID = env.get("WECHATPAY_APP_ID", "wxd678efh567hg6787")
        self.WECHATPAY_MCH_PRIVATE_KEY = env.get("WECHATPAY_MCH_PRIVATE_KEY") or None  # PEM or a path to one
        self.WECHATPAY_MCH_CERT_SERIAL = env.get("WECHATPAY_MCH_CERT_SERIAL") or None  # the merchant certificate's
        self.WECHATPAY_APIV3_KEY = env.get("WECHATPAY_APIV3_KEY") or None  # 32 bytes, set in the merchant console
        self.WECHATPAY_PUBLIC_KEY = env.get("WECHATPAY_PUBLIC_KEY") or None  # platform public key, PEM or a path
        self.WECHATPAY_PUBLIC_KEY_ID = env.get("WECHATPAY_PUBLIC_KEY_ID") or None  # PUB_KEY_ID_…
        self.WECHATPAY_GATEWAY = env.get("WECHATPAY_GATEWAY") or None  # default: the sandbox, or api.mch.weixin.qq.com
        # UnionPay 全渠道 5.1.0: merchant number, signing key (PEM or path) and its certificate's serial (certId),
        # UnionPay's root and middle certificates (PEM or path), the CN its signing certificate must name.
        self.UNIONPAY_MER_ID = env.get("UNIONPAY_MER_ID", "777290058110048")
        self.UNIONPAY_SIGN_KEY = env.get("UNIONPAY_SIGN_KEY") or None
        self.UNIONPAY_SIGN_CERT_ID = env.get("UNIONPAY_SIGN_CERT_ID") or None
        self.UNIONPAY_ROOT_CERT = env.get("UNIONPAY_ROOT_CERT") or None
        self.UNIONPAY_MIDDLE_CERT = env.get("UNIONPAY_MIDDLE_CERT") or None
        self.UNIONPAY_CERT_NAME = env.get("UNIONPAY_CERT_NAME") or "中国银联股份有限公司"
        self.UNIONPAY_GATEWAY = env.get("UNIONPAY_GATEWAY") or None  # default: the sandbox, or gateway.95516.com
        self.PLEDGE_HOLD_MINUTES = int(env.get("PLEDGE_HOLD_MINUTES", "30"))
        # Unpaid pledges one account may hold at once (and never two of one reward), so a few accounts cannot
        # keep a limited reward "sold out".
        self.PLEDGE_MAX_UNPAID = int(env.get("PLEDGE_MAX_UNPAID", "3"))
        # A backer waiting on the pledge page: after this many seconds without a notification the page asks the
        # provider itself, at most once per PAYMENT_QUERY_EVERY_SECONDS per pledge, giving up after the timeout.
        self.PAYMENT_QUERY_AFTER_SECONDS = int(env.get("PAYMENT_QUERY_AFTER_SECONDS", "4"))
        self.PAYMENT_QUERY_EVERY_SECONDS = int(env.get("PAYMENT_QUERY_EVERY_SECONDS", "5"))
        self.PAYMENT_QUERY_TIMEOUT = float(env.get("PAYMENT_QUERY_TIMEOUT", "3"))
        self.PLEDGE_REMINDER_MINUTES = int(env.get("PLEDGE_REMINDER_MINUTES", "10"))  # unpaid-pledge reminder
        # Coupons (SPEC 6.2): points buy coupons the marketing account pays into escrow. COUPON_OPTIONS is
        # "points:yuan,points:yuan"; a coupon is at most COUPON_MAX_SHARE percent of a pledge of at least
        # COUPON_MIN_PLEDGE_FEN, and usable for COUPON_VALID_DAYS after it was bought.
        self.COUPON_OPTIONS = _coupon_options(env.get("COUPON_OPTIONS", "100:5,300:20"))
        self.COUPON_MIN_PLEDGE_FEN = int(env.get("COUPON_MIN_PLEDGE_FEN", "2000"))
        self.COUPON_MAX_SHARE = int(env.get("COUPON_MAX_SHARE", "20"))
        self.COUPON_VALID_DAYS = int(env.get("COUPON_VALID_DAYS", "90"))
        # Settlement (SPEC 2.6).
        self.FEE_RATE_BP = int(env.get("FEE_RATE_BP", "500"))  # 5%
        self.WITHDRAWAL_STAGE1_SHARE = int(env.get("WITHDRAWAL_STAGE1_SHARE", "50"))  # percent of the net
        self.PAYOUT_BUSINESS_DAYS = int(env.get("PAYOUT_BUSINESS_DAYS", "7"))  # T+7 (or 15)
        self.PAYOUT_HOLIDAYS = [d.strip() for d in env.get("PAYOUT_HOLIDAYS", "").split(",") if d.strip()]
        self.WITHDRAWAL_STAGE2_CONFIRMED = int(env.get("WITHDRAWAL_STAGE2_CONFIRMED", "80"))  # % of physical pledges
        # Delivery (SPEC 2.9).
        self.AUTO_CONFIRM_DAYS = int(env.get("AUTO_CONFIRM_DAYS", "15"))  # receipt confirmed this long after shipping
        self.LATE_GRACE_DAYS = int(env.get("LATE_GRACE_DAYS", "30"))  # after the promised month, backers may claim
        # Risk rules (SPEC 4.3, crowdfund/risk.py); a reward is overdue after its month plus LATE_GRACE_DAYS.
        self.RISK_SURGE_FACTOR = float(env.get("RISK_SURGE_FACTOR", "5"))  # last 24 h vs the trailing daily average
        self.RISK_SURGE_FLOOR_FEN = int(env.get("RISK_SURGE_FLOOR_FEN", "1000000"))  # ¥10,000 in 24 h at least
        self.RISK_SURGE_TRAILING_DAYS = int(env.get("RISK_SURGE_TRAILING_DAYS", "7"))
        self.RISK_BACKER_SHARE = int(env.get("RISK_BACKER_SHARE", "50"))  # percent of what a project raised
        self.RISK_BACKER_SHARE_FLOOR_FEN = int(env.get("RISK_BACKER_SHARE_FLOOR_FEN", "500000"))  # raised ¥5,000+
        self.RISK_PLEDGES_WINDOW_MINUTES = int(env.get("RISK_PLEDGES_WINDOW_MINUTES", "10"))
        self.RISK_PLEDGES_PER_WINDOW = int(env.get("RISK_PLEDGES_PER_WINDOW", "5"))  # from one account or address
        self.RISK_COMPLAINTS_24H = int(env.get("RISK_COMPLAINTS_24H", "3"))  # distinct people reporting a project
        self.RISK_NO_UPDATE_DAYS = int(env.get("RISK_NO_UPDATE_DAYS", "30"))  # silence while delivering
        self.RISK_REFUND_CLAIMS = int(env.get("RISK_REFUND_CLAIMS", "5"))  # claims and cancellations ...
        self.RISK_REFUND_CLAIMS_DAYS = int(env.get("RISK_REFUND_CLAIMS_DAYS", "7"))  # ... within this many days
        self.RATELIMIT_REPORT = env.get("RATELIMIT_REPORT", "5 per minute;20 per day")  # project reports, per account

        # Home-page boost (SPEC 6.1): creators with this many fully shipped funded projects, and no reward ever late,
        # rank first in the trending and newly launched sections with an "on-time creator" badge.
        self.ON_TIME_CREATOR_DELIVERED_PROJECTS = int(env.get("ON_TIME_CREATOR_DELIVERED_PROJECTS", "1"))

        # Creator analytics (SPEC 4.2): pledge amount bands (boundaries in yuan) and the longest range shown.
        self.ANALYTICS_AMOUNT_BANDS = sorted({int(v) for v in env.get("ANALYTICS_AMOUNT_BANDS", "50,200,500,2000")
                                             .split(",") if v.strip() and int(v) > 0}) or [50, 200, 500, 2000]
        self.ANALYTICS_MAX_DAYS = int(env.get("ANALYTICS_MAX_DAYS", "366"))

        # Points (SPEC 6.2, crowdfund/growth.py): a paid pledge earns 1 point per whole POINTS_BACKING_YUAN supported
        # (shipping not counted; at least 1), a visit through someone's share link earns them POINTS_PER_SHARE_VISIT
        # (once per visitor, project and day); each kind at most its daily cap per person (Beijing days).
        self.POINTS_BACKING_YUAN = max(int(env.get("POINTS_BACKING_YUAN", "10")), 1)
        self.POINTS_BACKING_DAILY_CAP = int(env.get("POINTS_BACKING_DAILY_CAP", "200"))
        self.POINTS_PER_SHARE_VISIT = int(env.get("POINTS_PER_SHARE_VISIT", "2"))
        self.POINTS_SHARE_DAILY_CAP = int(env.get("POINTS_SHARE_DAILY_CAP", "20"))
        self.SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
        # Anonymous visitors' public pages are cached in Redis, exactly (crowdfund/pagecache.py); 0 turns it off.
        self.PAGE_CACHE_SECONDS = int(env.get("PAGE_CACHE_SECONDS", "300"))
        # Project-page visits wait in the web process this long, then go to Redis in one push (0: at once).
        self.VISIT_BATCH_SECONDS = float(env.get("VISIT_BATCH_SECONDS", "1"))
        self.SESSION_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = "Lax"
        self.SESSION_COOKIE_SECURE = _bool("SESSION_COOKIE_SECURE", self.ENV_NAME == "production")
        self.REMEMBER_COOKIE_HTTPONLY = True
        self.REMEMBER_COOKIE_SAMESITE = "Lax"
        self.REMEMBER_COOKIE_SECURE = self.SESSION_COOKIE_SECURE
        self.REMEMBER_COOKIE_DURATION = 60 * 60 * 24 * 30
        self.WTF_CSRF_TIME_LIMIT = None
        # Request bodies: 256 KB unless the view says more (crowdfund.inputs.body_limit); only the story step of
        # the wizard takes a 100 MB video. Each kind of upload has its own limit in media.py.
        self.BODY_LIMIT = int(env.get("BODY_LIMIT", 256 * 1024))
        self.UPLOAD_DIR = env.get("UPLOAD_DIR") or str(Path(instance_path) / "uploads")
        # Uploads (crowdfund/storage.py): `local` keeps them in UPLOAD_DIR; `s3` in one bucket of an S3-compatible
        # store (AWS S3, Aliyun OSS, Tencent COS, MinIO), shared by every web host. OSS and COS want virtual-hosted
        # addressing, MinIO path. S3_PUBLIC_BASE_URL: a CDN in front of the bucket for public images and videos
        # (empty: the app serves them). Private papers are always served by the app, after its access check.
        self.STORAGE_BACKEND = env.get("STORAGE_BACKEND", "local").strip().lower()
        self.S3_BUCKET = env.get("S3_BUCKET", "")
        self.S3_ENDPOINT_URL = env.get("S3_ENDPOINT_URL", "")  # e.g. https://oss-cn-hangzhou.aliyuncs.com
        self.S3_REGION = env.get("S3_REGION") or "us-east-1"  # e.g. oss-cn-hangzhou, ap-shanghai
        self.S3_ACCESS_KEY_ID = env.get("S3_ACCESS_KEY_ID", "")
        self.S3_SECRET_ACCESS_KEY = env.get("S3_SECRET_ACCESS_KEY", "")
        self.S3_ADDRESSING_STYLE = env.get("S3_ADDRESSING_STYLE", "virtual").strip().lower()
        self.S3_PUBLIC_BASE_URL = (env.get("S3_PUBLIC_BASE_URL") or "").rstrip("/")
        self.S3_TIMEOUT = float(env.get("S3_TIMEOUT", "5"))  # seconds to connect, and to wait for each read

    def finish(self, instance_path):
        """Fill in the secret key and cookie names, and refuse unsafe production settings."""
        if self.SESSION_COOKIE_SECURE:
            # Under https the cookies get the __Host- prefix, which browsers accept only with Secure, Path=/ and
            # no Domain, so no other host or path (a sibling subdomain, plain http) can set or shadow them.
            self.PREFERRED_URL_SCHEME = "https"
            self.SESSION_COOKIE_NAME = "__Host-session"
            self.REMEMBER_COOKIE_NAME = "__Host-remember"
            self.REMEMBER_COOKIE_SECURE = True
            self.SESSION_COOKIE_PATH = self.REMEMBER_COOKIE_PATH = "/"
            self.SESSION_COOKIE_DOMAIN = self.REMEMBER_COOKIE_DOMAIN = None
        if self.ENV_NAME == "production":
            key = self.SECRET_KEY or ""
            if len(key) < 32 or key.startswith("dev"):
                raise ConfigError(
                    "SECRET_KEY must be set to a random value of at least 32 characters in production"
                )
            if self.SQLALCHEMY_DATABASE_URI.startswith("sqlite") and not _bool("ALLOW_SQLITE"):
                raise ConfigError("DATABASE_URL must point at PostgreSQL or MySQL in production")
            if self.PAYMENT_SANDBOX:
                raise ConfigError("PAYMENT_SANDBOX must be off in production")
            if self.SMS_PROVIDER == "dev":
                raise ConfigError("SMS_PROVIDER=dev shows every code on a page: not in production")
            if self.REDIS_URL and self.RATELIMIT_STORAGE_URI.startswith("memory"):
                # Each web process (and host) would count on its own: N hosts would let N times the limit through.
                raise ConfigError("RATELIMIT_STORAGE_URI=memory:// counts per process: with REDIS_URL set, "
                                  "leave it unset (Redis is used) or point it at a shared store")
        elif not self.SECRET_KEY:
            self.SECRET_KEY = dev_secret_key(instance_path)
        self._check_storage()
        from crowdfund.payments import PROVIDERS

        unknown = [name for name in self.PAYMENT_PROVIDERS if name not in PROVIDERS]
        if unknown or not self.PAYMENT_PROVIDERS:
            raise ConfigError(f"PAYMENT_PROVIDERS: choose from {', '.join(PROVIDERS)} (got {unknown or 'none'})")
        return self

    def _check_storage(self):
        """Refuse a storage setting that would fail only at the first upload."""
        if self.STORAGE_BACKEND not in ("local", "s3"):
            raise ConfigError(f"STORAGE_BACKEND must be local or s3 (got {self.STORAGE_BACKEND!r})")
        if self.STORAGE_BACKEND == "s3":
            missing = [name for name in ("S3_BUCKET", "S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY")
                       if not getattr(self, name)]
            if missing:
                raise ConfigError(f"STORAGE_BACKEND=s3 needs {', '.join(missing)}")
            if self.S3_ADDRESSING_STYLE not in ("virtual", "path"):
                raise ConfigError(f"S3_ADDRESSING_STYLE must be virtual or path (got {self.S3_ADDRESSING_STYLE!r})")
        if self.S3_PUBLIC_BASE_URL and not self.S3_PUBLIC_BASE_URL.startswith(
                "https://" if self.ENV_NAME == "production" else ("https://", "http://")):
            raise ConfigError("S3_PUBLIC_BASE_URL must be an https:// address (http:// outside production)")
