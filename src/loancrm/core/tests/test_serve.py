"""`loancrm serve` as `make demo` runs it: gunicorn answers, static assets are served, and a background
worker runs beside it (imports and exports would wait forever without one) and stops with it."""

import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_answers_health_and_static(tmp_path):
    port = _free_port()
    env = {"LOANCRM_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "loancrm", "serve", "--port", str(port), "--workers", "1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                health = urllib.request.urlopen(f"{base}/healthz", timeout=2)
                break
            except OSError:
                time.sleep(0.2)
        else:
            raise AssertionError("loancrm serve did not come up")
        assert health.status == 200
        page = urllib.request.urlopen(f"{base}/accounts/login/", timeout=5).read().decode()
        assets = re.findall(r'(?:href|src)="(/static/[^"]+)"', page)
        assert len(assets) >= 3
        for asset in assets:
            assert urllib.request.urlopen(base + asset, timeout=5).status == 200, asset
        workers = _children(proc.pid, "worker")
        assert len(workers) == 1
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    for _ in range(50):  # the server waits for its worker before it exits; allow for a slow machine
        if not any(_cmdline(pid).split()[-1:] == ["worker"] for pid in workers):
            break
        time.sleep(0.1)
    assert not any(_cmdline(pid).split()[-1:] == ["worker"] for pid in workers)


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _children(parent: int, word: str) -> list[int]:
    out = []
    for _ in range(50):
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == parent and _cmdline(int(stat.parent.name)).split()[-1:] == [word]:
                out.append(int(stat.parent.name))
        if out:
            return out
        time.sleep(0.1)
    return out
