"""Two `loancrm rules run --send` processes started together, on the demo data, as an operator would
run them: every reminder is acted on and delivered exactly once; a third run fires nothing new.

Runs against the suite's database engine (a fresh SQLite file, or a fresh PostgreSQL database when
DATABASE_URL is set) and, where Redis answers (always in CI), with the Huey queue on Redis.
"""

import json
import os
import socket
import subprocess
import sys
import uuid
from datetime import datetime, timedelta
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo

import pytest

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _redis_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture
def fresh_env(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "LOANCRM_DATA_DIR": str(tmp_path), "LOANCRM_SMS_BACKEND": "dev"}
    url = os.environ.get("DATABASE_URL", "")
    dbname = None
    if url:
        import psycopg

        dbname = f"loancrm_rules_{uuid.uuid4().hex[:8]}"
        parts = urlsplit(url)
        admin_url = urlunsplit(parts._replace(path="/postgres"))
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{dbname}"')
        env["DATABASE_URL"] = urlunsplit(parts._replace(path=f"/{dbname}"))
    redis_db = None
    if os.environ.get("CI") == "true" or _redis_up():
        redis_db = 13
        env["REDIS_URL"] = f"redis://127.0.0.1:6379/{redis_db}"
    yield env
    if redis_db is not None:
        import redis

        redis.Redis(host="127.0.0.1", port=6379, db=redis_db).flushdb()
    if dbname:
        import psycopg

        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


def loancrm(env, *args, timeout=300) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "loancrm", *args], env=env, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


CHECK = r"""
import json
from collections import Counter
from loancrm.notifications.models import Delivery, Notification, Todo
from loancrm.rules.models import RuleFire
d = Counter((x.rule_id, x.customer_id, x.user_id, x.channel, x.body) for x in Delivery.objects.exclude(rule=None))
n = Counter(Notification.objects.values_list("user_id", "rule_id", "title"))
t = Counter(Todo.objects.values_list("user_id", "rule_id", "title"))
print(json.dumps({
    "deliveries": sum(d.values()), "duplicate_deliveries": sum(v - 1 for v in d.values()),
    "notifications": sum(n.values()), "duplicate_notifications": sum(v - 1 for v in n.values()),
    "todos": sum(t.values()), "duplicate_todos": sum(v - 1 for v in t.values()),
    "fires": RuleFire.objects.count(),
    "sent_sms": list(Delivery.objects.filter(channel="sms", status="sent").values_list("provider_id", flat=True)),
    "sent": Delivery.objects.filter(status="sent").count(),
    "channels": sorted(set(Delivery.objects.exclude(rule=None).values_list("channel", flat=True))),
}))
"""


def test_two_runs_at_once_deliver_each_reminder_once(fresh_env, tmp_path):
    loancrm(fresh_env, "migrate", "--no-input", "-v", "0")
    loancrm(fresh_env, "demo-data", "--customers", "1500", "--password", "Demo#pass2026")
    # Tomorrow 10:30 (local): the daily rules are open, the demo's newest leads are over 2 hours old,
    # and it is outside the quiet hours, so customer messages go at once.
    now = (datetime.now(SHANGHAI) + timedelta(days=1)).replace(hour=10, minute=30)
    args = ["rules", "run", "--now", now.strftime("%Y-%m-%dT%H:%M"), "--send"]
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "loancrm", *args], env=fresh_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]  # fmt: skip
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-3000:]
        outs.append(json.loads(out.strip().splitlines()[-1]))
    fired = outs[0]["fired"] + outs[1]["fired"]
    assert fired >= 10, outs
    assert not outs[0]["errors"] and not outs[1]["errors"], outs

    third = json.loads(loancrm(fresh_env, *args).strip().splitlines()[-1])
    assert third["fired"] == 0 and third["skipped_already_done"] >= fired, third

    state = json.loads(loancrm(fresh_env, "shell", "-v", "0", "-c", CHECK).strip().splitlines()[-1])
    assert state["fires"] == fired
    assert (
        state["duplicate_deliveries"] == 0
        and state["duplicate_notifications"] == 0
        and state["duplicate_todos"] == 0
    )
    assert state["notifications"] > 0 and state["todos"] > 0 and state["deliveries"] > 0
    assert {"sms", "email"} <= set(state["channels"])
    # Each SMS the two senders took is in the development outbox exactly once.
    lines = [json.loads(x) for x in (tmp_path / "sms" / "outbox.jsonl").read_text().splitlines()]
    ids = [x["id"] for x in lines]
    assert len(ids) == len(set(ids))
    assert sorted(state["sent_sms"]) == sorted(ids)
    assert state["sent"] >= len(ids) > 0
