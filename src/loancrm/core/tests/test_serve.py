"""`loancrm serve` as `make demo` runs it: gunicorn answers, and static assets are served."""

import re
import socket
import subprocess
import sys
import time
import urllib.request


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
    finally:
        proc.terminate()
        proc.wait(timeout=10)
