"""SMS codes (expiry, tries, superseding, single use, constant-time compare) and the providers: Aliyun's signed
SendSms against Aliyun's published examples and a local HTTP server that checks every request, the dev inbox."""
import base64
import hashlib
import hmac
import json
import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import pytest
from sqlalchemy import func, select

from crowdfund import phones, sms
from crowdfund.extensions import db
from crowdfund.models import SmsCode, User
from crowdfund.sms.aliyun import AliyunProvider, percent_encode, signature, string_to_sign

NOW = datetime(2026, 12, 1, 4, 0, tzinfo=timezone.utc)  # the fixed clock every date here derives from
PHONE = "+8613800138000"

# Aliyun's SMS documentation example ("签名机制"): these parameters with AccessKeySecret testSecret sign to this.
ALIYUN_SMS_EXAMPLE = {
    "AccessKeyId": "testId", "Action": "SendSms", "Format": "XML", "OutId": "123", "PhoneNumbers": "15300000001",
    "RegionId": "cn-hangzhou", "SignName": "阿里云短信测试专用", "SignatureMethod": "HMAC-SHA1",
    "SignatureNonce": "45e25e9b-0a6f-4070-8c85-2956eda1b466", "SignatureVersion": "1.0",
    "TemplateCode": "SMS_71390007", "TemplateParam": '{"customer":"test"}', "Timestamp": "2017-07-12T02:42:19Z",
    "Version": "2017-05-25",
}


def test_aliyun_signature_matches_the_published_sms_example():
    assert string_to_sign(ALIYUN_SMS_EXAMPLE).startswith(
        "GET&%2F&AccessKeyId%3DtestId%26Action%3DSendSms%26Format%3DXML%26OutId%3D123%26PhoneNumbers%3D15300000001"
        "%26RegionId%3Dcn-hangzhou%26SignName%3D%25E9%2598%25BF%25E9%2587%258C")
    assert string_to_sign(ALIYUN_SMS_EXAMPLE).endswith(
        "%26TemplateParam%3D%257B%2522customer%2522%253A%2522test%2522%257D%26Timestamp%3D2017-07-12T02%253A42%253A19Z"
        "%26Version%3D2017-05-25")
    assert signature(ALIYUN_SMS_EXAMPLE, "testSecret") == "zJDF+Lrzhj/ThnlvIToysFRq6t4="
    assert signature({**ALIYUN_SMS_EXAMPLE, "Signature": "stale"}, "testSecret") == "zJDF+Lrzhj/ThnlvIToysFRq6t4="


def test_aliyun_signature_matches_the_published_rpc_example():
    """The RPC signature document's DescribeRegions example."""
    params = {"Format": "XML", "AccessKeyId": "testid", "Action": "DescribeRegions", "SignatureMethod": "HMAC-SHA1",
              "SignatureNonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf", "SignatureVersion": "1.0",
              "Version": "2014-05-26", "Timestamp": "2016-02-23T12:46:24Z"}
    assert signature(params, "testsecret") == "OLeaidS1JvxuMvnyHOwuJ+uX5qY="


def test_percent_encoding_follows_aliyuns_rules():
    assert percent_encode("a b*c~d-e_f.g") == "a%20b%2Ac~d-e_f.g"
    assert percent_encode("/=&+:") == "%2F%3D%26%2B%3A"
    assert percent_encode("众") == "%E4%BC%97"


class FakeDysmsapi:
    """A local HTTP server speaking Dysmsapi's SendSms: it re-derives the signature by the documented steps,
    refuses a bad one like Aliyun does, and answers `answer` otherwise."""

    def __init__(self, secret):
        self.secret, self.requests, self.answer = secret, [], {"Code": "OK", "Message": "OK", "BizId": "900619746"}
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                outer.requests.append(self.path)
                params = dict(parse_qsl(urlsplit(self.path).query, keep_blank_values=True))
                status, body = outer.check(params)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json;charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @staticmethod
    def encode(text):
        # Written from the documentation, not from the adapter: RFC 3986 by hand.
        out = []
        for byte in text.encode("utf-8"):
            char = chr(byte)
            out.append(char if char.isascii() and (char.isalnum() or char in "-_.~") else f"%{byte:02X}")
        return "".join(out)

    def check(self, params):
        given = params.pop("Signature", "")
        canonical = "&".join(f"{self.encode(k)}={self.encode(v)}" for k, v in sorted(params.items()))
        to_sign = "GET&" + self.encode("/") + "&" + self.encode(canonical)
        expected = base64.b64encode(hmac.new((self.secret + "&").encode(), to_sign.encode(), hashlib.sha1).digest())
        required = {"AccessKeyId", "Action", "Format", "PhoneNumbers", "SignName", "SignatureMethod", "SignatureNonce",
                    "SignatureVersion", "TemplateCode", "TemplateParam", "Timestamp", "Version"}
        if not required <= params.keys():
            return 400, {"Code": "MissingParameter", "Message": sorted(required - params.keys())}
        if given != expected.decode():
            return 400, {"Code": "SignatureDoesNotMatch", "Message": "Specified signature is not matched"}
        self.last = params
        return 200, self.answer

    def stop(self):
        self.server.shutdown()


@pytest.fixture
def dysmsapi():
    server = FakeDysmsapi("s3cret-key")
    yield server
    server.stop()


def aliyun(server, secret="s3cret-key"):
    return AliyunProvider("LTAI-test", secret, "众筹平台", "SMS_123456", endpoint=server.url, timeout=3)


def test_aliyun_sends_a_request_the_server_can_verify(dysmsapi):
    assert aliyun(dysmsapi).send(PHONE, "verification_code", {"code": "042917"}) == "900619746"
    sent = dysmsapi.last
    assert sent["Action"] == "SendSms" and sent["Version"] == "2017-05-25" and sent["Format"] == "JSON"
    assert sent["PhoneNumbers"] == "13800138000" and sent["SignName"] == "众筹平台"
    assert sent["TemplateCode"] == "SMS_123456" and json.loads(sent["TemplateParam"]) == {"code": "042917"}
    assert sent["SignatureMethod"] == "HMAC-SHA1" and sent["SignatureVersion"] == "1.0"
    assert datetime.strptime(sent["Timestamp"], "%Y-%m-%dT%H:%M:%SZ")
    # Every value in the URL is percent-encoded the Aliyun way (no "+" for spaces, nothing left raw).
    assert "+" not in dysmsapi.requests[0] and "%E4%BC%97" in dysmsapi.requests[0]


def test_aliyun_nonce_differs_per_request(dysmsapi):
    provider = aliyun(dysmsapi)
    provider.send(PHONE, "verification_code", {"code": "1"})
    first = dysmsapi.last["SignatureNonce"]
    provider.send(PHONE, "verification_code", {"code": "1"})
    assert dysmsapi.last["SignatureNonce"] != first


def test_aliyun_refusals_become_sms_errors_with_words_for_people(dysmsapi, app):
    dysmsapi.answer = {"Code": "isv.BUSINESS_LIMIT_CONTROL", "Message": "触发小时级流控Permits:5", "RequestId": "x"}
    with pytest.raises(sms.SmsError) as refused:
        aliyun(dysmsapi).send(PHONE, "verification_code", {"code": "1"})
    assert refused.value.code == "isv.BUSINESS_LIMIT_CONTROL"
    with app.test_request_context():
        assert refused.value.user_message == "这个号码近期收到的验证码太多，请稍后再试。"
    with pytest.raises(sms.SmsError) as bad_signature:
        aliyun(dysmsapi, secret="wrong").send(PHONE, "verification_code", {"code": "1"})
    assert bad_signature.value.code == "SignatureDoesNotMatch"


def test_aliyun_unreachable_or_unconfigured_is_an_sms_error():
    closed = AliyunProvider("id", "secret", "签名", "SMS_1", endpoint="http://127.0.0.1:9/", timeout=1)
    with pytest.raises(sms.SmsError) as unreachable:
        closed.send(PHONE, "verification_code", {"code": "1"})
    assert unreachable.value.code == "unreachable"
    with pytest.raises(sms.SmsError) as missing:
        AliyunProvider("", "", "", "").send(PHONE, "verification_code", {"code": "1"})
    assert missing.value.code == "not_configured"


def test_a_refused_message_saves_no_code(make_app, dysmsapi, make_user):
    app = make_app(SMS_PROVIDER="aliyun", ALIYUN_SMS_ACCESS_KEY_ID="LTAI-test", ALIYUN_SMS_ACCESS_KEY_SECRET="s3cret-key",
                   ALIYUN_SMS_SIGN_NAME="众筹平台", ALIYUN_SMS_TEMPLATE_CODE="SMS_123456", ALIYUN_SMS_ENDPOINT=dysmsapi.url)
    with app.app_context():
        phones.send_code(PHONE, "login", now=NOW)
        assert db.session.scalar(select(func.count(SmsCode.id))) == 1
        dysmsapi.answer = {"Code": "isv.BUSINESS_LIMIT_CONTROL", "Message": "flow control"}
        with pytest.raises(sms.SmsError):
            phones.send_code(PHONE, "login", now=NOW)
        assert db.session.scalar(select(func.count(SmsCode.id))) == 1


def test_production_uses_aliyun_and_refuses_the_dev_provider(monkeypatch, tmp_path):
    from crowdfund.config import Config, ConfigError

    monkeypatch.setenv("CROWDFUND_ENV", "production")
    monkeypatch.setenv("PAYMENT_SANDBOX", "0")
    monkeypatch.setenv("SECRET_KEY", "k" * 40)
    monkeypatch.setenv("DATABASE_URL", "postgresql://db/x")
    assert Config(tmp_path).finish(tmp_path).SMS_PROVIDER == "aliyun"
    monkeypatch.setenv("SMS_PROVIDER", "dev")
    with pytest.raises(ConfigError):
        Config(tmp_path).finish(tmp_path)
    monkeypatch.delenv("CROWDFUND_ENV")
    monkeypatch.delenv("SMS_PROVIDER")
    assert Config(tmp_path).SMS_PROVIDER == "dev"


def sent_code(app, phone=PHONE):
    """The code the dev provider 'sent' to the number."""
    return next(m["params"]["code"] for m in sms.provider(app).latest() if m["phone"] == phone)


def test_codes_are_six_random_digits_stored_only_as_an_hmac(app):
    with app.app_context():
        row = phones.send_code(PHONE, "login", now=NOW)
        code = sent_code(app)
        assert len(code) == 6 and code.isdigit()
        assert code not in row.code_hash and len(row.code_hash) == 64
        key = app.config["SECRET_KEY"].encode()
        assert row.code_hash == hmac.new(key, f"{PHONE}|login|{code}".encode(), hashlib.sha256).hexdigest()
        assert row.expires_at == NOW + timedelta(minutes=5)


def test_a_code_expires_after_five_minutes(app):
    with app.app_context():
        phones.send_code(PHONE, "login", now=NOW)
        with pytest.raises(phones.CodeRejected) as late:
            phones.check_code(PHONE, "login", sent_code(app), now=NOW + timedelta(minutes=5))
        assert late.value.reason == "expired"
        phones.send_code(PHONE, "login", now=NOW)
        phones.check_code(PHONE, "login", sent_code(app), now=NOW + timedelta(minutes=4, seconds=59))


def test_five_wrong_tries_kill_the_code(app):
    with app.app_context():
        phones.send_code(PHONE, "login", now=NOW)
        code = sent_code(app)
        wrong = "000000" if code != "000000" else "111111"
        for remaining in (4, 3, 2, 1):
            with pytest.raises(phones.CodeRejected) as refused:
                phones.check_code(PHONE, "login", wrong, now=NOW)
            assert (refused.value.reason, refused.value.remaining) == ("wrong", remaining)
        with pytest.raises(phones.CodeRejected) as fifth:
            phones.check_code(PHONE, "login", wrong, now=NOW)
        assert fifth.value.reason == "attempts"
        with pytest.raises(phones.CodeRejected) as dead:
            phones.check_code(PHONE, "login", code, now=NOW)  # even the right code, now
        assert dead.value.reason == "attempts"


def test_a_new_code_supersedes_the_old_and_codes_are_single_use(app):
    with app.app_context():
        phones.send_code(PHONE, "login", now=NOW)
        old = sent_code(app)
        phones.send_code(PHONE, "login", now=NOW + timedelta(seconds=61))
        new = sent_code(app)
        if old != new:
            with pytest.raises(phones.CodeRejected):
                phones.check_code(PHONE, "login", old, now=NOW + timedelta(seconds=62))
        phones.check_code(PHONE, "login", new, now=NOW + timedelta(seconds=63))
        with pytest.raises(phones.CodeRejected) as reused:
            phones.check_code(PHONE, "login", new, now=NOW + timedelta(seconds=64))
        assert reused.value.reason == "none"


def test_codes_are_bound_to_their_purpose(app):
    with app.app_context():
        phones.send_code(PHONE, "bind", now=NOW)
        with pytest.raises(phones.CodeRejected):
            phones.check_code(PHONE, "login", sent_code(app), now=NOW)


def test_codes_are_compared_in_constant_time(app, monkeypatch):
    compared = []
    real = hmac.compare_digest

    def spy(a, b):
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(phones.hmac, "compare_digest", spy)
    with app.app_context():
        row = phones.send_code(PHONE, "login", now=NOW)
        stored = row.code_hash
        phones.check_code(PHONE, "login", sent_code(app), now=NOW)
    assert compared and compared[-1][0] == stored


def test_numbers_are_normalized_and_only_mainland_mobiles_accepted():
    for raw in ("13800138000", "138 0013 8000", "138-0013-8000", "+86 138 0013 8000", "+8613800138000",
                "8613800138000", "0086 13800138000"):
        assert phones.normalize(raw) == PHONE
    for raw in ("12800138000", "1380013800", "138001380001", "+1 415 555 0100", "abc", "", "+85261234567"):
        with pytest.raises(phones.InvalidPhone):
            phones.normalize(raw)
    assert phones.mask(PHONE) == "138****8000"


def test_bind_change_and_remove(app, make_user):
    uid = make_user(phone=None)
    with app.app_context():
        user = db.session.get(User, uid)
        phones.send_code(PHONE, "bind", user=user, now=NOW)
        phones.bind(user, PHONE, sent_code(app), now=NOW)
        assert (user.phone, user.phone_verified_at) == (PHONE, NOW)
        new = "+8613900139000"
        phones.send_code(new, "bind", user=user, now=NOW)
        with pytest.raises(phones.WrongPassword):
            phones.bind(user, new, sent_code(app, new), password="not it", now=NOW)
        phones.bind(user, new, sent_code(app, new), password="correct horse 1", now=NOW)
        assert user.phone == new
        with pytest.raises(phones.WrongPassword):
            phones.remove(user, "wrong")
        phones.remove(user, "correct horse 1")
        assert user.phone is None and user.phone_verified_at is None


def test_a_code_for_someone_elses_account_does_not_bind(app, make_user):
    ann, bob = make_user(phone=None), make_user(phone=None)
    with app.app_context():
        phones.send_code(PHONE, "bind", user=db.session.get(User, ann), now=NOW)
        with pytest.raises(phones.CodeRejected):
            phones.bind(db.session.get(User, bob), PHONE, sent_code(app), now=NOW)
