"""Sending channels behind one interface: `channel_for(name).send(message) -> provider id`.

- e-mail: Django's mail (SMTP from the environment; a file backend in the demo)
- SMS: a provider backend chosen by LOANCRM_SMS_BACKEND: "dev" records messages in a file (the
  default: nothing leaves the machine), "aliyun" calls Alibaba Cloud's SendSms HTTP API
- WeCom: a group robot's webhook (企业微信群机器人)

A channel raises SendError; `retry=False` marks a failure that trying again cannot fix (a malformed
number, a template the provider does not know) so the delivery fails at once instead of backing off.
"""

import base64
import hashlib
import hmac
import json
import os
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings

TIMEOUT_SECONDS = 10


class SendError(Exception):
    def __init__(self, message: str, *, retry: bool = True):
        super().__init__(message)
        self.retry = retry


@dataclass
class Message:
    recipient: str
    body: str
    subject: str = ""
    provider_template: str = ""
    params: dict = field(default_factory=dict)
    attachments: list[tuple[str, bytes, str]] = field(default_factory=list)  # (name, content, mimetype)


class Channel:
    name = ""

    def send(self, message: Message) -> str:
        raise NotImplementedError


# --- e-mail ---------------------------------------------------------------------------------------------


class EmailChannel(Channel):
    name = "email"

    def send(self, message: Message) -> str:
        from email.utils import make_msgid

        from django.core.mail import EmailMessage
        from django.core.mail.utils import DNS_NAME

        # A header cannot hold a line break (Django raises BadHeaderError): a subject taken from the
        # body, or rendered from a template, is put on one line.
        subject = " ".join((message.subject or message.body[:40]).split())
        # Our own Message-ID, so that the delivery log can show the id the message really carries.
        email = EmailMessage(
            subject=subject,
            body=message.body,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[message.recipient],
            headers={"Message-ID": make_msgid(domain=DNS_NAME)},
        )
        for name, content, mimetype in message.attachments:
            email.attach(name, content, mimetype)
        try:
            email.send(fail_silently=False)
        except (OSError, ValueError) as e:  # smtplib's errors are OSErrors
            raise SendError(f"{type(e).__name__}: {e}") from e
        return email.extra_headers.get("Message-ID", "")


# --- SMS ------------------------------------------------------------------------------------------------


class DevSmsChannel(Channel):
    """Records each message as one JSON line in <data dir>/sms/outbox.jsonl (demo and tests)."""

    name = "sms"

    def __init__(self, directory: Path | None = None):
        self.path = Path(directory or Path(settings.DATA_DIR) / "sms") / "outbox.jsonl"

    def send(self, message: Message) -> str:
        if not (message.recipient.isascii() and message.recipient.isdigit()):
            raise SendError("invalid phone number", retry=False)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        message_id = uuid.uuid4().hex
        line = json.dumps(
            {
                "id": message_id,
                "at": datetime.now(UTC).isoformat(),
                "to": message.recipient,
                "template": message.provider_template,
                "params": message.params,
                "text": message.body,
            },
            ensure_ascii=False,
        )
        # One write() of a line to an O_APPEND file: two workers never interleave their lines.
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, (line + "\n").encode())
        finally:
            os.close(fd)
        return message_id


def _aliyun_quote(value: str) -> str:
    # RFC 3986, as Alibaba Cloud's signature v1 wants: space %20, * %2A, ~ kept.
    return urllib.parse.quote(value, safe="~")


class AliyunSmsChannel(Channel):
    """Alibaba Cloud SMS (dysmsapi 2017-05-25, SendSms) over its public RPC HTTP API, signature v1."""

    name = "sms"
    # Codes that another attempt cannot fix (the message or the account is wrong, not the moment).
    PERMANENT = {
        "isv.MOBILE_NUMBER_ILLEGAL",
        "isv.SMS_TEMPLATE_ILLEGAL",
        "isv.SMS_SIGNATURE_ILLEGAL",
        "isv.TEMPLATE_MISSING_PARAMETERS",
        "isv.INVALID_PARAMETERS",
        "isv.PARAM_LENGTH_LIMIT",
        "isv.BLACK_KEY_CONTROL_LIMIT",
        "isv.MOBILE_COUNT_OVER_LIMIT",
        "InvalidAccessKeyId.NotFound",
        "SignatureDoesNotMatch",
    }

    def __init__(self, *, access_key_id: str, access_key_secret: str, sign_name: str, endpoint: str):
        self.access_key_id = access_key_id
        self.access_key_secret = access_key_secret
        self.sign_name = sign_name
        self.endpoint = endpoint.rstrip("/") + "/"

    def signed_query(self, params: dict[str, str]) -> str:
        canonical = "&".join(f"{_aliyun_quote(k)}={_aliyun_quote(v)}" for k, v in sorted(params.items()))
        to_sign = f"GET&{_aliyun_quote('/')}&{_aliyun_quote(canonical)}"
        digest = hmac.new(f"{self.access_key_secret}&".encode(), to_sign.encode(), hashlib.sha1).digest()
        signature = base64.b64encode(digest).decode()
        return f"Signature={_aliyun_quote(signature)}&{canonical}"

    def send(self, message: Message) -> str:
        if not message.provider_template:
            raise SendError("no SMS template code (短信平台模板代码) on this message's template", retry=False)
        params = {
            "AccessKeyId": self.access_key_id,
            "Action": "SendSms",
            "Format": "JSON",
            "PhoneNumbers": message.recipient,
            "RegionId": "cn-hangzhou",
            "SignName": self.sign_name,
            "SignatureMethod": "HMAC-SHA1",
            "SignatureNonce": uuid.uuid4().hex,
            "SignatureVersion": "1.0",
            "TemplateCode": message.provider_template,
            "TemplateParam": json.dumps(message.params, ensure_ascii=False),
            "Timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Version": "2017-05-25",
        }
        url = f"{self.endpoint}?{self.signed_query(params)}"
        try:
            with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:
                data = json.loads(response.read().decode() or "{}")
        except urllib.error.HTTPError as e:
            try:
                data = json.loads(e.read().decode() or "{}")
            except ValueError:
                raise SendError(f"HTTP {e.code}", retry=e.code >= 500 or e.code == 429) from e
        except (OSError, ValueError) as e:
            raise SendError(f"{type(e).__name__}: {e}") from e
        code = data.get("Code", "")
        if code == "OK":
            return data.get("BizId", "")
        raise SendError(f"{code}: {data.get('Message', '')}"[:400], retry=code not in self.PERMANENT)


# --- WeCom group robot -----------------------------------------------------------------------------------


class WeComChannel(Channel):
    """POST {"msgtype": "markdown"|"text", ...} to the robot's webhook; errcode 0 is success."""

    name = "wecom"
    RETRY_CODES = {-1, 45009, 45033}  # system busy, API rate limit, too many concurrent calls

    def send(self, message: Message) -> str:
        if not message.recipient.startswith(("http://", "https://")):
            raise SendError("webhook address must start with http:// or https://", retry=False)
        # The robot takes at most 4096 bytes of UTF-8 (a Chinese character is 3), not 4096 characters.
        content = message.body.encode()[:4096].decode(errors="ignore")
        payload = {"msgtype": "markdown", "markdown": {"content": content}}
        request = urllib.request.Request(
            message.recipient,
            data=json.dumps(payload, ensure_ascii=False).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
                data = json.loads(response.read().decode() or "{}")
        except urllib.error.HTTPError as e:
            raise SendError(f"HTTP {e.code}", retry=e.code >= 500 or e.code == 429) from e
        except (OSError, ValueError) as e:
            raise SendError(f"{type(e).__name__}: {e}") from e
        code = data.get("errcode")
        if code == 0:
            return ""
        raise SendError(f"errcode {code}: {data.get('errmsg', '')}"[:400], retry=code in self.RETRY_CODES)


def channel_for(name: str) -> Channel:
    if name == "email":
        return EmailChannel()
    if name == "wecom":
        return WeComChannel()
    if name == "sms":
        backend = settings.LOANCRM_SMS["backend"]
        if backend == "aliyun":
            conf = settings.LOANCRM_SMS
            return AliyunSmsChannel(
                access_key_id=conf["access_key_id"],
                access_key_secret=conf["access_key_secret"],
                sign_name=conf["sign_name"],
                endpoint=conf["endpoint"],
            )
        return DevSmsChannel(settings.LOANCRM_SMS.get("dev_dir"))
    raise ValueError(f"unknown channel {name}")
