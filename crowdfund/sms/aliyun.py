"""Aliyun SMS (Dysmsapi `SendSms`) over its documented RPC-style HTTP API, signed with signature version 1.0.

The request is a GET on the endpoint with every parameter in the query: the common ones (AccessKeyId, Action,
Format, SignatureMethod HMAC-SHA1, SignatureNonce, SignatureVersion 1.0, Timestamp in UTC ISO 8601, Version
2017-05-25) and SendSms's own (PhoneNumbers, SignName, TemplateCode, TemplateParam as JSON). The signature:

    canonical    = "&".join(percent_encode(k) + "=" + percent_encode(v) for k, v sorted by name)
    StringToSign = "GET&%2F&" + percent_encode(canonical)
    Signature    = base64(HMAC-SHA1(AccessKeySecret + "&", StringToSign))

percent_encode is RFC 3986 on UTF-8 (A-Z a-z 0-9 - _ . ~ unescaped; space is %20, `*` is %2A). The answer is
JSON: {"Code": "OK", "BizId": …} or an error code (e.g. isv.BUSINESS_LIMIT_CONTROL) with a Message.
"""
import base64
import hashlib
import hmac
import json
import logging
import uuid
from datetime import timezone
from urllib.error import HTTPError, URLError
from urllib.parse import quote
from urllib.request import Request, urlopen

from crowdfund.models.base import utcnow
from crowdfund.sms import SmsError, SmsProvider

log = logging.getLogger(__name__)
ENDPOINT = "https://dysmsapi.aliyuncs.com/"
VERSION = "2017-05-25"


def percent_encode(value):
    """Aliyun's percent-encoding: RFC 3986 unreserved characters stay, everything else is %XX of its UTF-8."""
    return quote(str(value), safe="")  # quote() keeps A-Z a-z 0-9 - _ . ~ only; space → %20, * → %2A


def string_to_sign(params, method="GET"):
    """The string Aliyun signs: method, the encoded path "/", the encoded canonical query (Signature left out)."""
    canonical = "&".join(f"{percent_encode(k)}={percent_encode(v)}"
                         for k, v in sorted(params.items()) if k != "Signature")
    return f"{method}&{percent_encode('/')}&{percent_encode(canonical)}"


def signature(params, secret, method="GET"):
    """Base64 of HMAC-SHA1 keyed with the secret plus "&" over the string to sign."""
    digest = hmac.new(f"{secret}&".encode(), string_to_sign(params, method).encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def national_number(phone):
    """Dysmsapi takes mainland numbers without the country code."""
    return phone[3:] if phone.startswith("+86") else phone


class AliyunProvider(SmsProvider):
    """Sends the one verification template configured in Aliyun (ALIYUN_SMS_TEMPLATE_CODE)."""

    def __init__(self, access_key_id, access_key_secret, sign_name, template_code, endpoint=None, timeout=5):
        self.access_key_id, self.access_key_secret = access_key_id, access_key_secret
        self.sign_name, self.template_code = sign_name, template_code
        self.endpoint, self.timeout = endpoint or ENDPOINT, timeout

    def signed_query(self, phone, params, nonce=None, now=None):
        """The request's parameters, Signature included."""
        query = {
            "AccessKeyId": self.access_key_id, "Action": "SendSms", "Format": "JSON", "Version": VERSION,
            "SignatureMethod": "HMAC-SHA1", "SignatureVersion": "1.0", "SignatureNonce": nonce or uuid.uuid4().hex,
            "Timestamp": (now or utcnow()).astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "PhoneNumbers": national_number(phone), "SignName": self.sign_name, "TemplateCode": self.template_code,
            "TemplateParam": json.dumps(params, ensure_ascii=False, separators=(",", ":")),
        }
        query["Signature"] = signature(query, self.access_key_secret)
        return query

    def send(self, phone, template, params):
        if not (self.access_key_id and self.access_key_secret and self.sign_name and self.template_code):
            raise SmsError("not_configured", "ALIYUN_SMS_* settings are missing")
        query = self.signed_query(phone, params)
        url = self.endpoint + "?" + "&".join(f"{percent_encode(k)}={percent_encode(v)}" for k, v in query.items())
        try:
            with urlopen(Request(url, headers={"Accept": "application/json"}), timeout=self.timeout) as response:
                body = response.read()
        except HTTPError as error:  # Aliyun answers signature and parameter errors with 4xx and a JSON body
            body = error.read()
        except (URLError, TimeoutError, OSError) as error:
            log.warning("Aliyun SMS unreachable: %s", error)
            raise SmsError("unreachable", str(error)) from None
        try:
            answer = json.loads(body)
        except ValueError:
            raise SmsError("bad_answer", body[:200].decode("utf-8", "replace")) from None
        code = answer.get("Code") if isinstance(answer, dict) else None
        if code != "OK":
            log.warning("Aliyun SMS refused: %s %s (request %s)", code, answer.get("Message") if isinstance(
                answer, dict) else "", answer.get("RequestId") if isinstance(answer, dict) else "")
            raise SmsError(code or "bad_answer", str(answer.get("Message", "")) if isinstance(answer, dict) else "")
        return answer.get("BizId")
