"""Field encryption: tokens, keyring sources, rotation, blind indexes, the model field and the command."""

import base64
import json
import os
import stat
from io import StringIO

import pytest
from django.core.exceptions import FieldError, ImproperlyConfigured
from django.core.management import call_command
from django.db import connection, models
from django.test.utils import isolate_apps
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from loancrm.core import crypto
from loancrm.core.crypto import (
    EncryptedTextField,
    blind_index,
    decrypt_str,
    encrypt_str,
    get_keyring,
    reencrypt_token,
    reset_keyring_cache,
    rotate_key,
    token_version,
)
from loancrm.core.management.commands import rotate_field_key

ENV_KEY = base64.urlsafe_b64encode(bytes(range(32))).decode()


@pytest.fixture(autouse=True)
def keyring_in_tmp(tmp_path, settings, monkeypatch):
    """Every test gets its own key file in a temporary DATA_DIR and never sees a real key."""
    monkeypatch.delenv(crypto.ENV_VAR, raising=False)
    settings.DATA_DIR = tmp_path
    reset_keyring_cache()
    yield tmp_path
    reset_keyring_cache()


def key_file(tmp_path):
    return tmp_path / "field_key.json"


def with_env(monkeypatch, value):
    monkeypatch.setenv(crypto.ENV_VAR, value)
    reset_keyring_cache()


# --- tokens -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["13912345678", "张三", "宁夏回族自治区银川市兴庆区 640104199001011234", "a", " "]
)
def test_round_trip(text):
    token = encrypt_str(text)
    assert token.startswith("v1:")
    assert len(text) < 5 or text not in token  # (a short string can occur in base64 by chance)
    assert decrypt_str(token) == text


@hsettings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text())
def test_round_trip_any_text(text):
    assert decrypt_str(encrypt_str(text)) == text


def test_empty_stays_empty():
    assert encrypt_str("") == "" and decrypt_str("") == "" and blind_index("") == ""


def test_same_plaintext_different_tokens():
    tokens = {encrypt_str("13912345678") for _ in range(50)}
    assert len(tokens) == 50
    assert {decrypt_str(t) for t in tokens} == {"13912345678"}


def test_token_shape():
    token = encrypt_str("x")
    version, payload = token.split(":")
    assert version == "v1"
    assert len(base64.urlsafe_b64decode(payload)) == 12 + 1 + 16  # nonce + ciphertext + tag


def flip(token: str, index: int) -> str:
    head, payload = token.split(":")
    raw = bytearray(base64.urlsafe_b64decode(payload))
    raw[index] ^= 0x01
    return f"{head}:{base64.urlsafe_b64encode(bytes(raw)).decode()}"


@pytest.mark.parametrize("index", [0, 11, 12, -1])  # nonce, ciphertext, tag
def test_tampered_token_raises(index):
    with pytest.raises(ValueError, match="failed authentication"):
        decrypt_str(flip(encrypt_str("13912345678"), index))


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("13912345678", "Not an encrypted field token"),
        ("x1:abc", "Not an encrypted field token"),
        ("v:abc", "Not an encrypted field token"),
        ("v9:AAAA", "unknown key version 9"),
        ("v1:!!!!", "not valid base64"),
        ("v1:AAAA", "too short"),
    ],
)
def test_malformed_tokens_raise_value_error(token, message):
    encrypt_str("load the keyring")
    with pytest.raises(ValueError, match=message):
        decrypt_str(token)


def test_token_from_another_keyring_does_not_decrypt(tmp_path, settings):
    token = encrypt_str("13912345678")
    settings.DATA_DIR = tmp_path / "other"
    settings.DATA_DIR.mkdir()
    reset_keyring_cache()
    with pytest.raises(ValueError, match="failed authentication"):
        decrypt_str(token)


# --- keyring sources --------------------------------------------------------------------------------


def test_key_file_created_0600_and_reused(tmp_path):
    path = key_file(tmp_path)
    assert not path.exists()
    token = encrypt_str("13912345678")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    data = json.loads(path.read_text())
    assert data["current"] == 1 and set(data["keys"]) == {"1"}
    assert len(base64.urlsafe_b64decode(data["keys"]["1"])) == 32
    assert len(base64.urlsafe_b64decode(data["index_key"])) == 32
    first = get_keyring()
    reset_keyring_cache()
    assert get_keyring().keys == first.keys and get_keyring().index_key == first.index_key
    assert path.read_text() == json.dumps(data, indent=2) + "\n"
    assert decrypt_str(token) == "13912345678"


def test_keyring_is_cached(tmp_path):
    assert get_keyring() is get_keyring()
    assert get_keyring().source == "file" and get_keyring().path == key_file(tmp_path)


def test_keyring_repr_hides_keys():
    keyring = get_keyring()
    assert base64.urlsafe_b64encode(keyring.keys[1]).decode() not in repr(keyring)
    assert str(list(keyring.keys[1])) not in repr(keyring)


def test_existing_key_file_is_read_not_replaced(tmp_path):
    path = key_file(tmp_path)
    key, index_key = os.urandom(32), os.urandom(32)
    path.write_text(
        json.dumps(
            {
                "current": 1,
                "keys": {"1": base64.b64encode(key).decode()},  # standard base64 is accepted too
                "index_key": base64.b64encode(index_key).decode(),
            }
        )
    )
    assert get_keyring().keys == {1: key} and get_keyring().index_key == index_key


def test_malformed_key_file_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(crypto.time, "sleep", lambda s: None)
    key_file(tmp_path).write_text('{"current": 2, "keys": {"1": "' + ENV_KEY + '"}, "index_key": "x"}')
    with pytest.raises(ImproperlyConfigured, match="field_key.json"):
        get_keyring()


def test_env_key_used_and_no_file_created(tmp_path, monkeypatch):
    with_env(monkeypatch, ENV_KEY)
    token = encrypt_str("13912345678")
    assert token.startswith("v1:") and decrypt_str(token) == "13912345678"
    assert not key_file(tmp_path).exists()
    keyring = get_keyring()
    assert keyring.source == "env" and keyring.keys == {1: bytes(range(32))}
    assert keyring.index_key != keyring.keys[1] and len(keyring.index_key) == 32


def test_env_key_standard_base64_and_unpadded_give_same_keyring(monkeypatch):
    key = bytes([251] * 32)  # encodes with '+' / '/' in standard base64
    with_env(monkeypatch, base64.b64encode(key).decode())
    standard = get_keyring()
    with_env(monkeypatch, base64.urlsafe_b64encode(key).decode().rstrip("="))
    assert get_keyring().keys == standard.keys == {1: key}
    assert get_keyring().index_key == standard.index_key


@pytest.mark.parametrize("value", ["not base64 at all!", base64.b64encode(b"short").decode(), "{not json"])
def test_bad_env_key_is_a_clear_error(monkeypatch, value):
    with_env(monkeypatch, value)
    with pytest.raises(ImproperlyConfigured, match="LOANCRM_FIELD_KEY"):
        get_keyring()


def test_env_json_keyring(monkeypatch):
    k1, k2 = os.urandom(32), os.urandom(32)
    with_env(monkeypatch, ENV_KEY)
    index_from_single_key = blind_index("13912345678")
    old_token = encrypt_str("old")
    env_keyring = {
        "current": 2,
        "keys": {"1": ENV_KEY, "2": base64.urlsafe_b64encode(k2).decode()},
    }  # no index_key: derived from key 1, as in the single-key form
    with_env(monkeypatch, json.dumps(env_keyring))
    assert get_keyring().current_version == 2
    assert encrypt_str("new").startswith("v2:") and decrypt_str(old_token) == "old"
    assert blind_index("13912345678") == index_from_single_key
    with_env(monkeypatch, json.dumps({**env_keyring, "index_key": base64.b64encode(k1).decode()}))
    assert get_keyring().index_key == k1


# --- blind index ------------------------------------------------------------------------------------


def test_blind_index_deterministic_and_distinct():
    a = blind_index("13912345678")
    assert a == blind_index("13912345678")
    assert len(a) == 32 and int(a, 16) >= 0
    assert a != blind_index("13912345679") and a != blind_index("张三")
    reset_keyring_cache()
    assert blind_index("13912345678") == a  # same key file, same index


@hsettings(max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(min_size=1), st.text(min_size=1))
def test_blind_index_differs_for_different_values(a, b):
    assert (blind_index(a) == blind_index(b)) == (a == b)


def test_blind_index_depends_on_the_key(tmp_path, settings):
    a = blind_index("13912345678")
    settings.DATA_DIR = tmp_path / "other"
    settings.DATA_DIR.mkdir()
    reset_keyring_cache()
    assert blind_index("13912345678") != a


# --- rotation ---------------------------------------------------------------------------------------


def test_rotation(tmp_path):
    old = encrypt_str("13912345678")
    index = blind_index("13912345678")
    assert rotate_key() == 2
    assert stat.S_IMODE(key_file(tmp_path).stat().st_mode) == 0o600
    new = encrypt_str("13912345678")
    assert token_version(old) == 1 and token_version(new) == 2
    assert decrypt_str(old) == decrypt_str(new) == "13912345678"
    assert blind_index("13912345678") == index
    reset_keyring_cache()  # and as read back from the file
    assert get_keyring().current_version == 2 and set(get_keyring().keys) == {1, 2}
    assert decrypt_str(old) == "13912345678" and blind_index("13912345678") == index
    assert rotate_key() == 3 and encrypt_str("x").startswith("v3:")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["field_key.json", "field_key.json.lock"]


def test_rotation_before_first_use_creates_the_file(tmp_path):
    assert rotate_key() == 2
    assert json.loads(key_file(tmp_path).read_text())["current"] == 2


def test_process_with_stale_keyring_reloads_for_newer_tokens(tmp_path):
    encrypt_str("load")
    stale = get_keyring()
    rotate_key()
    new_token = encrypt_str("13912345678")
    crypto._set_cache(stale)  # as in another process that loaded the file before the rotation
    assert decrypt_str(new_token) == "13912345678"
    assert get_keyring().current_version == 2


def test_rotation_refused_with_env_key(monkeypatch):
    with_env(monkeypatch, ENV_KEY)
    with pytest.raises(RuntimeError, match="LOANCRM_FIELD_KEY"):
        rotate_key()


def test_reencrypt_token():
    old = encrypt_str("张三")
    rotate_key()
    new = reencrypt_token(old)
    assert token_version(new) == 2 and decrypt_str(new) == "张三"
    assert reencrypt_token(new) is None and reencrypt_token("") is None


# --- the model field --------------------------------------------------------------------------------


def test_field_prep_and_from_db():
    field = EncryptedTextField()
    token = field.get_prep_value("13912345678")
    assert token.startswith("v1:")
    assert field.from_db_value(token, None, connection) == "13912345678"
    assert field.get_db_prep_save("张三", connection).startswith("v1:")
    assert field.get_prep_value("") == "" and field.from_db_value("", None, connection) == ""
    assert field.get_prep_value(None) is None and field.from_db_value(None, None, connection) is None
    assert field.get_prep_value(123).startswith("v1:")  # non-str values are stringified, then encrypted


def test_field_to_python_is_plaintext():
    field = EncryptedTextField()
    assert field.to_python("v1:looks-like-a-token") == "v1:looks-like-a-token"
    assert field.to_python(None) is None and field.to_python(5) == "5"


def test_field_never_double_encrypts_on_resave():
    field = EncryptedTextField()
    plain = field.from_db_value(field.get_prep_value("13912345678"), None, connection)
    assert field.from_db_value(field.get_prep_value(plain), None, connection) == "13912345678"


def test_field_deconstructs():
    field = EncryptedTextField(blank=True, null=True, verbose_name="手机号")
    name, path, args, kwargs = field.deconstruct()
    assert path == "loancrm.core.crypto.EncryptedTextField"
    assert args == [] and kwargs == {"blank": True, "null": True, "verbose_name": "手机号"}
    rebuilt = EncryptedTextField(*args, **kwargs)
    assert rebuilt.deconstruct()[1:] == (path, args, kwargs)


@isolate_apps("loancrm.core")
def test_field_lookups_and_checks():
    class Secret(models.Model):
        phone = EncryptedTextField(blank=True)
        bad = EncryptedTextField(unique=True, db_index=True)

        class Meta:
            app_label = "core"

        def __str__(self):
            return str(self.pk)

    qs = Secret.objects.filter(phone="")
    assert "v1:" not in str(qs.query)
    str(Secret.objects.filter(phone__isnull=True).query)
    str(Secret.objects.filter(phone=None).query)
    with pytest.raises(FieldError, match="blind"):
        Secret.objects.filter(phone="13912345678")
    for lookup in ("icontains", "startswith", "in", "lower", "gt"):
        with pytest.raises(FieldError):
            Secret.objects.filter(**{f"phone__{lookup}": "1"})
    assert Secret._meta.get_field("phone").check() == []
    assert {e.id for e in Secret._meta.get_field("bad").check()} == {"loancrm.E101", "loancrm.W101"}


# --- the command ------------------------------------------------------------------------------------


@pytest.fixture
def secret_model(db):
    """A throwaway model with encrypted fields and its table (rolled back with the test's transaction)."""
    with isolate_apps("loancrm.core") as registry:

        class Secret(models.Model):
            id = models.IntegerField(primary_key=True)
            phone = EncryptedTextField(blank=True)
            id_number = EncryptedTextField(null=True, blank=True)
            note = models.TextField(blank=True)

            class Meta:
                app_label = "core"
                db_table = "test_crypto_secret"

            def __str__(self):
                return str(self.pk)

        with connection.cursor() as cursor:
            cursor.execute(
                "CREATE TABLE test_crypto_secret "
                "(id integer PRIMARY KEY, phone text NOT NULL, id_number text NULL, note text NOT NULL)"
            )
        yield Secret, registry


def raw_rows(column):
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, {column} FROM test_crypto_secret ORDER BY id")
        return dict(cursor.fetchall())


def test_field_through_the_orm(secret_model):
    Secret, _ = secret_model
    Secret.objects.create(id=1, phone="13912345678", id_number="640104199001011234")
    Secret.objects.bulk_create([Secret(id=2, phone="13800000000"), Secret(id=3, phone="")])
    assert raw_rows("phone")[1].startswith("v1:") and raw_rows("phone")[2].startswith("v1:")
    assert raw_rows("phone")[3] == "" and raw_rows("id_number")[2] is None
    obj = Secret.objects.get(id=1)
    assert (obj.phone, obj.id_number) == ("13912345678", "640104199001011234")
    obj.save()  # re-saving plaintext from the database encrypts it once
    assert Secret.objects.get(id=1).phone == "13912345678"
    Secret.objects.filter(id=2).update(phone="张三的电话")
    assert raw_rows("phone")[2].startswith("v1:") and Secret.objects.get(id=2).phone == "张三的电话"
    Secret.objects.bulk_update([Secret(id=3, phone="13700000000", note="")], ["phone"])
    assert Secret.objects.get(id=3).phone == "13700000000"
    assert list(Secret.objects.filter(id_number__isnull=True).values_list("id", flat=True)) == [2, 3]
    assert Secret.objects.filter(phone="").count() == 0


def test_encrypted_fields_discovery(secret_model):
    Secret, registry = secret_model
    [(model, fields)] = rotate_field_key.encrypted_fields(registry)
    assert model is Secret and [f.name for f in fields] == ["phone", "id_number"]
    found = {m._meta.label: sorted(f.name for f in fs) for m, fs in rotate_field_key.encrypted_fields()}
    assert found["customers.Customer"] == ["backup_phone", "bank_account", "id_number", "phone"]


def test_reencrypt_model_in_batches(secret_model):
    Secret, _ = secret_model
    phones = {i: f"139{i:08d}" for i in range(1, 26)}
    Secret.objects.bulk_create(
        [Secret(id=i, phone=p, id_number=None if i % 3 else f"ID{i}") for i, p in phones.items()]
        + [Secret(id=99, phone="", id_number="")]
    )
    before = raw_rows("phone")
    rotate_key()
    Secret.objects.filter(id=5).update(phone="new since rotation")  # already under v2
    counts = rotate_field_key.reencrypt_model(
        Secret, [Secret._meta.get_field("phone"), Secret._meta.get_field("id_number")], batch_size=4
    )
    assert counts.rows == 26 and counts.raced == 0
    assert counts.values == 24 + 8  # 24 old phones + ID numbers of ids 3, 6, …, 24
    after_phone, after_id = raw_rows("phone"), raw_rows("id_number")
    assert all(token_version(t) == 2 for i, t in after_phone.items() if i != 99)
    assert after_phone[99] == "" and after_id[99] == "" and after_id[1] is None
    assert all(after_phone[i] != before[i] for i in phones)
    assert {o.id: o.phone for o in Secret.objects.exclude(id__in=[5, 99])} == {
        i: p for i, p in phones.items() if i != 5
    }
    again = rotate_field_key.reencrypt_model(Secret, [Secret._meta.get_field("phone")], batch_size=4)
    assert again.values == 0 and again.rows == 26  # idempotent


def test_rotate_command(secret_model, monkeypatch):
    Secret, _ = secret_model
    Secret.objects.bulk_create([Secret(id=i, phone=f"139{i:08d}") for i in range(1, 6)])
    monkeypatch.setattr(
        rotate_field_key,
        "encrypted_fields",
        lambda: [(Secret, [Secret._meta.get_field("phone"), Secret._meta.get_field("id_number")])],
    )
    out = StringIO()
    call_command("rotate_field_key", stdout=out)
    text = out.getvalue()
    assert "v2" in text and "core.Secret (phone, id_number)" in text and "重新加密 5 个值" in text
    assert all(token_version(t) == 2 for t in raw_rows("phone").values())
    assert [o.phone for o in Secret.objects.order_by("id")] == [f"139{i:08d}" for i in range(1, 6)]
    out = StringIO()
    call_command("rotate_field_key", "--no-rotate", stdout=out)
    assert "当前字段密钥版本 v2" in out.getvalue() and "重新加密 0 个值" in out.getvalue()


def test_rotate_command_refused_with_env_key(monkeypatch, db):
    from django.core.management.base import CommandError

    with_env(monkeypatch, ENV_KEY)
    with pytest.raises(CommandError, match="LOANCRM_FIELD_KEY"):
        call_command("rotate_field_key", stdout=StringIO())


def test_reencrypt_model_leaves_rows_changed_concurrently(secret_model, monkeypatch):
    Secret, _ = secret_model
    Secret.objects.bulk_create([Secret(id=1, phone="13900000001"), Secret(id=2, phone="13900000002")])
    rotate_key()
    real = rotate_field_key.reencrypt_token

    def racing(token):
        if decrypt_str(token) == "13900000001":  # someone saves row 1 between our read and our write
            Secret.objects.filter(id=1).update(phone="changed meanwhile")
        return real(token)

    monkeypatch.setattr(rotate_field_key, "reencrypt_token", racing)
    counts = rotate_field_key.reencrypt_model(Secret, [Secret._meta.get_field("phone")])
    assert (counts.rows, counts.values, counts.raced) == (2, 1, 1)
    assert [o.phone for o in Secret.objects.order_by("id")] == ["changed meanwhile", "13900000002"]
