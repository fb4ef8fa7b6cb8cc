"""The sending channels against local fakes of their providers: Alibaba Cloud SMS (which checks the
signature the way the real service does), a WeCom group robot, the development SMS outbox and Django's
e-mail backend. Nothing here leaves 127.0.0.1."""

import base64
import hashlib
import hmac
import json
import socket
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, quote, urlsplit

import pytest
from django.core import mail

from loancrm.notifications.channels import (
    AliyunSmsChannel,
    DevSmsChannel,
    EmailChannel,
    Message,
    SendError,
    WeComChannel,
    channel_for,
)

ACCESS_KEY_ID = "LTAI-test-key"
ACCESS_KEY_SECRET = "test-secret/with+odd=chars"
SIGN_NAME = "贷款助手"


# --- local fake servers ---------------------------------------------------------------------------------


class _FakeServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, handler):
        super().__init__(("127.0.0.1", 0), handler)
        self.requests: list[dict] = []
        self.reply: dict | None = None  # what to answer instead of the normal answer
        self.status = 200
        self.raw_body: bytes | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/"


def _serve(handler):
    server = _FakeServer(handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    # The fakes are on this machine: never route them through a proxy from the environment.
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


def _aliyun_quote(value: str) -> str:
    return quote(value, safe="~")


def aliyun_signature(params: dict[str, str], secret: str) -> str:
    """Signature v1 as Alibaba Cloud recomputes it (written here independently of the channel)."""
    canonical = "&".join(
        f"{_aliyun_quote(k)}={_aliyun_quote(v)}" for k, v in sorted(params.items()) if k != "Signature"
    )
    to_sign = "GET&%2F&" + _aliyun_quote(canonical)
    digest = hmac.new((secret + "&").encode(), to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


class AliyunHandler(BaseHTTPRequestHandler):
    server: _FakeServer

    def log_message(self, *args):  # keep the test output clean
        pass

    def _answer(self, status: int, data: dict) -> None:
        body = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json;charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        parts = urlsplit(self.path)
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        params = dict(pairs)
        self.server.requests.append({"path": parts.path, "params": params, "raw_query": parts.query})
        if len(params) != len(pairs):
            return self._answer(400, {"Code": "InvalidParameter", "Message": "repeated parameter"})
        if parts.path != "/":
            return self._answer(404, {"Code": "InvalidAction.NotFound"})
        if params.get("AccessKeyId") != ACCESS_KEY_ID:
            return self._answer(404, {"Code": "InvalidAccessKeyId.NotFound"})
        if params.get("SignatureMethod") != "HMAC-SHA1" or params.get("SignatureVersion") != "1.0":
            return self._answer(400, {"Code": "InvalidSignatureMethod"})
        stamp = datetime.strptime(params.get("Timestamp", ""), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        if abs(datetime.now(UTC) - stamp) > timedelta(minutes=15):
            return self._answer(400, {"Code": "InvalidTimeStamp.Expired"})
        expected = aliyun_signature(params, ACCESS_KEY_SECRET)
        if not hmac.compare_digest(params.get("Signature", ""), expected):
            return self._answer(
                400, {"Code": "SignatureDoesNotMatch", "Message": "Specified signature is not matched"}
            )
        if self.server.reply is not None:
            return self._answer(self.server.status, self.server.reply)
        if params.get("Action") != "SendSms" or params.get("Version") != "2017-05-25":
            return self._answer(400, {"Code": "InvalidAction"})
        return self._answer(200, {"Code": "OK", "Message": "OK", "BizId": "900619746936498440^0"})


@pytest.fixture
def aliyun():
    server, thread = _serve(AliyunHandler)
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


class WeComHandler(BaseHTTPRequestHandler):
    server: _FakeServer

    def log_message(self, *args):
        pass

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length)
        self.server.requests.append(
            {"path": self.path, "content_type": self.headers.get("Content-Type"), "json": json.loads(raw)}
        )
        if self.server.raw_body is not None:
            body = self.server.raw_body
        else:
            body = json.dumps(self.server.reply or {"errcode": 0, "errmsg": "ok"}).encode()
        self.send_response(self.server.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def wecom():
    server, thread = _serve(WeComHandler)
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


def _closed_port_url() -> str:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}/"


def _sms(**kw) -> Message:
    defaults = {
        "recipient": "13812345678",
        "body": "【贷款助手】张三您好：您的申请已受理。",
        "provider_template": "SMS_123456789",
        "params": {"name": "张三", "no": "SQ2026-0001", "amount": "30,000.00"},
    }
    return Message(**{**defaults, **kw})


def _aliyun_channel(server, secret: str = ACCESS_KEY_SECRET) -> AliyunSmsChannel:
    return AliyunSmsChannel(
        access_key_id=ACCESS_KEY_ID, access_key_secret=secret, sign_name=SIGN_NAME, endpoint=server.url
    )


# --- Alibaba Cloud SMS ----------------------------------------------------------------------------------


def test_aliyun_signed_request_returns_biz_id(aliyun):
    biz_id = _aliyun_channel(aliyun).send(_sms())
    assert biz_id == "900619746936498440^0"
    [req] = aliyun.requests
    p = req["params"]
    assert p["Action"] == "SendSms" and p["Version"] == "2017-05-25" and p["Format"] == "JSON"
    assert p["PhoneNumbers"] == "13812345678"
    assert p["SignName"] == SIGN_NAME
    assert p["TemplateCode"] == "SMS_123456789"
    assert json.loads(p["TemplateParam"]) == {"name": "张三", "no": "SQ2026-0001", "amount": "30,000.00"}
    # RFC 3986 on the wire: no "+" for a space and nothing left unescaped that should not be.
    assert "+" not in req["raw_query"].replace("%2B", "")


def test_aliyun_through_channel_for(aliyun, settings):
    settings.LOANCRM_SMS = {
        "backend": "aliyun",
        "access_key_id": ACCESS_KEY_ID,
        "access_key_secret": ACCESS_KEY_SECRET,
        "sign_name": SIGN_NAME,
        "endpoint": aliyun.url,
    }
    channel = channel_for("sms")
    assert isinstance(channel, AliyunSmsChannel)
    assert channel.send(_sms(params={"text": "a b*c~d/e"})) == "900619746936498440^0"
    assert json.loads(aliyun.requests[0]["params"]["TemplateParam"]) == {"text": "a b*c~d/e"}


def test_aliyun_nonces_differ(aliyun):
    channel = _aliyun_channel(aliyun)
    channel.send(_sms())
    channel.send(_sms())
    nonces = {r["params"]["SignatureNonce"] for r in aliyun.requests}
    assert len(nonces) == 2


def test_aliyun_wrong_secret_is_a_permanent_failure(aliyun):
    with pytest.raises(SendError) as exc:
        _aliyun_channel(aliyun, secret="not-the-secret").send(_sms())
    assert exc.value.retry is False
    assert "SignatureDoesNotMatch" in str(exc.value)
    assert len(aliyun.requests) == 1  # it reached the server, which refused it


def test_aliyun_business_limit_is_retried(aliyun):
    aliyun.reply = {"Code": "isv.BUSINESS_LIMIT_CONTROL", "Message": "触发分钟级流控"}
    with pytest.raises(SendError) as exc:
        _aliyun_channel(aliyun).send(_sms())
    assert exc.value.retry is True
    assert "isv.BUSINESS_LIMIT_CONTROL" in str(exc.value)


def test_aliyun_illegal_number_is_permanent(aliyun):
    aliyun.reply = {"Code": "isv.MOBILE_NUMBER_ILLEGAL", "Message": "非法手机号"}
    with pytest.raises(SendError) as exc:
        _aliyun_channel(aliyun).send(_sms())
    assert exc.value.retry is False


def test_aliyun_server_error_is_retried(aliyun):
    aliyun.reply, aliyun.status = {"Code": "ServiceUnavailable"}, 503
    with pytest.raises(SendError) as exc:
        _aliyun_channel(aliyun).send(_sms())
    assert exc.value.retry is True


def test_aliyun_unreachable_endpoint_is_retried():
    channel = AliyunSmsChannel(
        access_key_id=ACCESS_KEY_ID,
        access_key_secret=ACCESS_KEY_SECRET,
        sign_name=SIGN_NAME,
        endpoint=_closed_port_url(),
    )
    with pytest.raises(SendError) as exc:
        channel.send(_sms())
    assert exc.value.retry is True


def test_aliyun_missing_template_code_fails_before_calling(aliyun):
    with pytest.raises(SendError) as exc:
        _aliyun_channel(aliyun).send(_sms(provider_template=""))
    assert exc.value.retry is False
    assert aliyun.requests == []


# --- WeCom group robot ----------------------------------------------------------------------------------


def _robot(server) -> str:
    return server.url + "cgi-bin/webhook/send?key=693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"


def test_wecom_posts_markdown(wecom):
    assert WeComChannel().send(Message(recipient=_robot(wecom), body="**逾期提醒**\n3 笔贷款逾期")) == ""
    [req] = wecom.requests
    assert req["path"].startswith("/cgi-bin/webhook/send?key=")
    assert req["content_type"] == "application/json"
    assert req["json"] == {"msgtype": "markdown", "markdown": {"content": "**逾期提醒**\n3 笔贷款逾期"}}


def test_wecom_long_chinese_body_fits_the_byte_limit(wecom):
    WeComChannel().send(Message(recipient=_robot(wecom), body="逾期" * 3000))
    content = wecom.requests[0]["json"]["markdown"]["content"]
    assert len(content.encode()) <= 4096 and content.startswith("逾期逾期")


@pytest.mark.parametrize(
    ("errcode", "retry"),
    [(45009, True), (-1, True), (93000, False), (40058, False)],
)
def test_wecom_errcodes(wecom, errcode, retry):
    wecom.reply = {"errcode": errcode, "errmsg": "whatever"}
    with pytest.raises(SendError) as exc:
        WeComChannel().send(Message(recipient=_robot(wecom), body="hi"))
    assert exc.value.retry is retry
    assert str(errcode) in str(exc.value)


def test_wecom_http_500_is_retried(wecom):
    wecom.status, wecom.raw_body = 500, b"Internal Server Error"
    with pytest.raises(SendError) as exc:
        WeComChannel().send(Message(recipient=_robot(wecom), body="hi"))
    assert exc.value.retry is True and "500" in str(exc.value)


def test_wecom_unreachable_is_retried():
    with pytest.raises(SendError) as exc:
        WeComChannel().send(Message(recipient=_closed_port_url() + "send?key=x", body="hi"))
    assert exc.value.retry is True


def test_wecom_bad_address_is_permanent():
    with pytest.raises(SendError) as exc:
        WeComChannel().send(Message(recipient="ftp://example.com/x", body="hi"))
    assert exc.value.retry is False


# --- development SMS outbox -----------------------------------------------------------------------------


def test_dev_sms_writes_one_json_line(tmp_path):
    message_id = DevSmsChannel(tmp_path).send(_sms())
    [line] = (tmp_path / "outbox.jsonl").read_text(encoding="utf-8").splitlines()
    row = json.loads(line)
    assert row["id"] == message_id and row["to"] == "13812345678"
    assert row["template"] == "SMS_123456789" and row["params"]["name"] == "张三"
    assert row["text"] == "【贷款助手】张三您好：您的申请已受理。"


def test_dev_sms_default_directory_is_in_the_data_dir(tmp_path, settings):
    settings.DATA_DIR = tmp_path
    channel = channel_for("sms")
    assert isinstance(channel, DevSmsChannel)
    channel.send(_sms())
    assert (tmp_path / "sms" / "outbox.jsonl").exists()


def test_dev_sms_directory_from_the_setting(tmp_path, settings):
    settings.LOANCRM_SMS = {"backend": "dev", "dev_dir": tmp_path / "outbox"}
    channel_for("sms").send(_sms())
    assert len((tmp_path / "outbox" / "outbox.jsonl").read_text(encoding="utf-8").splitlines()) == 1


def test_dev_sms_refuses_a_malformed_number(tmp_path):
    with pytest.raises(SendError) as exc:
        DevSmsChannel(tmp_path).send(_sms(recipient="138-1234"))
    assert exc.value.retry is False
    assert not (tmp_path / "outbox.jsonl").exists()


def test_dev_sms_two_threads_never_interleave(tmp_path):
    channel = DevSmsChannel(tmp_path)
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            start.wait()
            for i in range(50):
                channel.send(_sms(recipient=f"1380000{n}{i:03d}", body="长" * 500 + f"{n}-{i}"))
        except BaseException as e:  # surfaced by the assertion below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(n,)) for n in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    lines = (tmp_path / "outbox.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 100
    rows = [json.loads(line) for line in lines]
    assert len({r["id"] for r in rows}) == 100
    assert {r["text"].lstrip("长") for r in rows} == {f"{n}-{i}" for n in (1, 2) for i in range(50)}


# --- e-mail ---------------------------------------------------------------------------------------------


@pytest.fixture
def locmem(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.DEFAULT_FROM_EMAIL = "crm@example.cn"


def test_email_subject_body_attachment(locmem):
    xlsx = b"PK\x03\x04 not really a workbook"
    message_id = channel_for("email").send(
        Message(
            recipient="manager1@example.cn",
            subject="日报 2026-03-10",
            body="今日新增客户 3 位。",
            attachments=[("日报-2026-03-10.xlsx", xlsx, "application/vnd.ms-excel")],
        )
    )
    [email] = mail.outbox
    assert email.subject == "日报 2026-03-10"
    assert email.body == "今日新增客户 3 位。"
    assert email.to == ["manager1@example.cn"] and email.from_email == "crm@example.cn"
    assert email.attachments == [("日报-2026-03-10.xlsx", xlsx, "application/vnd.ms-excel")]
    # The provider id is the Message-ID the message really carries.
    assert message_id.startswith("<") and email.message()["Message-ID"] == message_id


def test_email_without_subject_uses_the_body_on_one_line(locmem):
    EmailChannel().send(Message(recipient="a@example.cn", body="您好：\n您的申请已受理。\n\n谢谢"))
    [email] = mail.outbox
    assert email.subject == "您好： 您的申请已受理。 谢谢"


def test_email_backend_failure_is_a_send_error(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 1, 2
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    with pytest.raises(SendError) as exc:
        EmailChannel().send(Message(recipient="a@example.cn", subject="s", body="b"))
    assert exc.value.retry is True


def test_unknown_channel():
    with pytest.raises(ValueError):
        channel_for("fax")
