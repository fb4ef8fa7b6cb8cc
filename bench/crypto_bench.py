"""How fast field encryption is: encrypt + decrypt of 11-digit phone numbers, and blind indexes.

    .venv/bin/python bench/crypto_bench.py [--n 100000]

Prints µs per operation for encrypt_str, decrypt_str, the round trip and blind_index, with a key file in
a throwaway data directory (never a real key).
"""

import argparse
import os
import random
import shutil
import tempfile
import time

os.environ["LOANCRM_DATA_DIR"] = tempfile.mkdtemp(prefix="lc-bench-crypto-")
os.environ.pop("LOANCRM_FIELD_KEY", None)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "loancrm.settings")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100_000)
    n = parser.parse_args().n
    import django

    django.setup()
    from loancrm.core.crypto import blind_index, decrypt_str, encrypt_str, get_keyring

    get_keyring()  # create the key file outside the timing
    rng = random.Random(7)
    phones = [f"1{rng.randrange(3, 10)}{rng.randrange(10**9):09d}" for _ in range(n)]

    t0 = time.perf_counter()
    tokens = [encrypt_str(p) for p in phones]
    t1 = time.perf_counter()
    plain = [decrypt_str(t) for t in tokens]
    t2 = time.perf_counter()
    indexes = [blind_index(p) for p in phones]
    t3 = time.perf_counter()
    assert plain == phones and len(indexes) == n

    us = 1e6 / n
    print(f"{n:,} phone numbers ({len(tokens[0])}-char tokens)")
    print(f"  encrypt_str   {(t1 - t0) * us:6.2f} µs/op")
    print(f"  decrypt_str   {(t2 - t1) * us:6.2f} µs/op")
    print(f"  round trip    {(t2 - t0) * us:6.2f} µs/op  ({t2 - t0:.2f} s total)")
    print(f"  blind_index   {(t3 - t2) * us:6.2f} µs/op")


if __name__ == "__main__":
    try:
        main()
    finally:
        shutil.rmtree(os.environ["LOANCRM_DATA_DIR"], ignore_errors=True)
