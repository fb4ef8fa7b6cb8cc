"""Log-in, lock-out, idle timeout, two-factor, passwords: and the audit trail each leaves."""

import pytest
from django.conf import settings
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from loancrm.audit.models import Action, AuditEntry
from loancrm.conftest import PASSWORD, login

pytestmark = pytest.mark.django_db
LOGIN = "/accounts/login/"


def post_login(client, username, password):
    return client.post(LOGIN, {"username": username, "password": password})


def test_production_hasher_is_argon2():
    import importlib

    prod = importlib.import_module("loancrm.settings")
    assert prod.PASSWORD_HASHERS[0] == "django.contrib.auth.hashers.Argon2PasswordHasher"


def test_argon2_hash_is_stored(users, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.Argon2PasswordHasher"]
    user = users["sales1"]
    user.set_password("Another@2026")
    user.save()
    assert user.password.startswith("argon2$")


def test_login_success_is_audited(client, users):
    resp = post_login(client, "sales1", PASSWORD)
    assert resp.status_code == 302 and resp.url == "/"
    entry = AuditEntry.objects.filter(action=Action.LOGIN_SUCCESS).latest("id")
    assert entry.actor == users["sales1"] and entry.ip == "127.0.0.1"


def test_wrong_password_shows_chinese_error(client, users):
    resp = post_login(client, "sales1", "wrong")
    assert resp.status_code == 200
    assert "用户名或密码错误" in resp.content.decode()
    assert AuditEntry.objects.filter(action=Action.LOGIN_FAILURE, actor_username="sales1").count() == 1


def test_sixth_attempt_is_locked_and_audited(client, users):
    for _ in range(5):
        post_login(client, "sales1", "wrong-password")
    # Account now locked: even the right password is refused, with a Chinese message.
    resp = post_login(client, "sales1", PASSWORD)
    assert resp.status_code == 403
    body = resp.content.decode()
    assert "账户已锁定" in body and "15 分钟" in body
    assert "_auth_user_id" not in client.session
    resp = post_login(client, "sales1", "wrong-again")
    assert resp.status_code == 403
    assert AuditEntry.objects.filter(action=Action.LOGIN_FAILURE, actor_username="sales1").count() >= 5
    assert AuditEntry.objects.filter(action=Action.LOGIN_LOCKED, actor_username="sales1").exists()
    # Another user is unaffected.
    assert post_login(client, "sales2", PASSWORD).status_code == 302


def test_lock_expires_after_cooloff(client, users):
    from datetime import timedelta

    from axes.models import AccessAttempt

    for _ in range(5):
        post_login(client, "sales1", "wrong-password")
    AccessAttempt.objects.update(
        attempt_time=AccessAttempt.objects.first().attempt_time - timedelta(minutes=16)
    )
    assert post_login(client, "sales1", PASSWORD).status_code == 302


def test_admin_unlocks(client, users):
    for _ in range(5):
        post_login(client, "sales1", "wrong-password")
    login(client, users["admin"])
    resp = client.post(reverse("accounts:user_action", args=[users["sales1"].pk, "unlock"]))
    assert resp.status_code == 302
    assert AuditEntry.objects.filter(action=Action.USER_UNLOCK).exists()
    client.logout()
    assert post_login(client, "sales1", PASSWORD).status_code == 302


def test_api_token_lockout(api_client, users):
    for _ in range(5):
        r = api_client.post("/api/v1/auth/token/", {"username": "sales1", "password": "nope"}, format="json")
        assert r.status_code in (401, 403)
    r = api_client.post("/api/v1/auth/token/", {"username": "sales1", "password": PASSWORD}, format="json")
    assert r.status_code == 403
    assert "锁定" in r.json()["detail"]


def test_idle_timeout_is_30_minutes_sliding(client, users):
    from django.contrib.sessions.models import Session

    assert settings.SESSION_COOKIE_AGE == 30 * 60
    login(client, users["sales1"])
    client.get("/")
    first = Session.objects.get().expire_date
    # Activity a minute later moves the expiry forward (the session slides).
    session = client.session
    session["_touched"] -= 61
    session.save()
    client.get("/")
    assert Session.objects.get().expire_date > first


def test_idle_session_expires(client, users):
    from datetime import timedelta

    from django.contrib.sessions.models import Session
    from django.utils import timezone

    login(client, users["sales1"])
    assert client.get("/").status_code == 200
    Session.objects.update(expire_date=timezone.now() - timedelta(seconds=1))
    resp = client.get("/")
    assert resp.status_code == 302 and resp.url.startswith(LOGIN)


def test_logout_is_post_and_audited(client, users):
    login(client, users["sales1"])
    resp = client.post(reverse("accounts:logout"))
    assert resp.status_code == 302
    assert AuditEntry.objects.filter(action=Action.LOGOUT).exists()


def _current_token(device: TOTPDevice) -> str:
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"


def test_totp_enrol_then_required_at_login(client, users):
    user = users["sales1"]
    login(client, user)
    resp = client.get(reverse("accounts:otp_enrol"))
    assert resp.status_code == 200 and b"<svg" in resp.content
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    resp = client.post(
        reverse("accounts:otp_enrol"), {"token": "000000" if _current_token(device) != "000000" else "111111"}
    )
    assert "验证码错误" in resp.content.decode()
    device.refresh_from_db()
    device.throttle_reset()  # django-otp slows down retries after a wrong code
    resp = client.post(reverse("accounts:otp_enrol"), {"token": _current_token(device)})
    assert resp.status_code == 302
    assert AuditEntry.objects.filter(action=Action.OTP_ENROL, actor=user).exists()

    client.logout()
    assert post_login(client, "sales1", PASSWORD).status_code == 302
    resp = client.get("/")
    assert resp.status_code == 302 and resp.url.startswith(reverse("accounts:otp_verify"))
    device.refresh_from_db()
    # A used token cannot be replayed, so move the device's last step back for the test.
    device.last_t = -1
    device.save()
    resp = client.post(
        reverse("accounts:otp_verify") + "?next=/customers/", {"token": _current_token(device)}
    )
    assert resp.status_code == 302 and resp.url == "/customers/"
    assert client.get("/").status_code == 200


def test_role_can_make_2fa_mandatory(client, users):
    role = users["risk1"].role
    role.require_2fa = True
    role.save()
    login(client, users["risk1"])
    resp = client.get("/customers/")
    assert resp.status_code == 302 and resp.url == reverse("accounts:otp_enrol")
    page = client.get(resp.url)
    assert "您的角色要求启用双因素认证" in page.content.decode()
    # Other roles are not affected.
    login(client, users["sales1"])
    assert client.get("/customers/").status_code == 200


def test_password_change(client, users):
    login(client, users["sales1"])
    resp = client.post(
        reverse("accounts:password_change"),
        {"old_password": PASSWORD, "password1": "Brand#New2026", "password2": "Brand#New2026"},
    )
    assert resp.status_code == 302
    users["sales1"].refresh_from_db()
    assert users["sales1"].check_password("Brand#New2026")
    assert AuditEntry.objects.filter(action=Action.PASSWORD_CHANGE).exists()


def test_password_change_wrong_old_keeps_form(client, users):
    login(client, users["sales1"])
    resp = client.post(
        reverse("accounts:password_change"),
        {"old_password": "bad", "password1": "Brand#New2026", "password2": "Brand#New2026"},
    )
    assert resp.status_code == 200 and "当前密码不正确" in resp.content.decode()


def test_admin_resets_password(client, users):
    login(client, users["admin"])
    target = users["sales3"]
    resp = client.post(
        reverse("accounts:user_action", args=[target.pk, "reset-password"]),
        {"password1": "Reset#2026ok", "password2": "Reset#2026ok"},
    )
    assert resp.status_code == 302
    target.refresh_from_db()
    assert target.check_password("Reset#2026ok")
    assert AuditEntry.objects.filter(action=Action.PASSWORD_RESET, object_id=str(target.pk)).exists()


def test_deactivated_user_cannot_log_in(client, users):
    login(client, users["admin"])
    client.post(reverse("accounts:user_action", args=[users["sales2"].pk, "deactivate"]))
    client.logout()
    resp = post_login(client, "sales2", PASSWORD)
    assert resp.status_code == 200 and "_auth_user_id" not in client.session
