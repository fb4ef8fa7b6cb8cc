"""How long the offline OCR takes and how much memory it holds, on the synthetic documents of the tests.

    .venv/bin/python bench/ocr_bench.py [--rounds 3]

Prints the engine's load time, the median seconds per recognition for each document kind, whether every
field came back right, and the process's resident memory before, after loading and at the end. The
baseline in the same run is the engine's raw text detection + recognition of the same image (what the
parsers and validators add on top is the difference).
"""

import argparse
import datetime
import os
import resource
import statistics
import tempfile
import time

os.environ["LOANCRM_DATA_DIR"] = tempfile.mkdtemp(prefix="lc-bench-ocr-")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "loancrm.settings")


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    rounds = parser.parse_args().rounds
    import django

    django.setup()
    from loancrm.intake.ocr import recognise, synthetic
    from loancrm.intake.ocr.engine import get_engine, read_lines

    birth = datetime.date(1990, 3, 7)
    id_number = synthetic.fictional_id_number(birth, male=True)
    card = synthetic.fictional_bank_card()
    uscc = synthetic.fictional_uscc()
    docs = {
        "id_front": (
            synthetic.id_card_front(
                "马晓东", "男", "回", birth, "宁夏回族自治区银川市兴庆区解放东街88号", id_number
            ),
            {
                "name": "马晓东",
                "gender": "male",
                "ethnicity": "回",
                "birth_date": "1990-03-07",
                "id_number": id_number,
            },
        ),
        "id_back": (
            synthetic.id_card_back(
                "银川市公安局兴庆区分局", datetime.date(2016, 3, 5), datetime.date(2036, 3, 5)
            ),
            {
                "id_issuer": "银川市公安局兴庆区分局",
                "id_valid_from": "2016-03-05",
                "id_valid_until": "2036-03-05",
            },
        ),
        "bank_card": (synthetic.bank_card(card, "中国工商银行"), {"bank_account": card}),
        "business_licence": (
            synthetic.business_licence(
                "宁夏塞上枸杞商贸有限公司",
                uscc,
                "马建国",
                datetime.date(2018, 6, 1),
                "银川市金凤区北京中路166号",
                "伍佰万元整",
            ),
            {"name": "宁夏塞上枸杞商贸有限公司", "uscc": uscc, "legal_representative": "马建国"},
        ),
    }
    before = rss_mb()
    t0 = time.perf_counter()
    get_engine()
    load = time.perf_counter() - t0
    loaded = rss_mb()
    print(f"engine load: {load:.2f} s; RSS {before:.0f} MB → {loaded:.0f} MB")
    print(f"{'kind':<18}{'raw OCR s':>10}{'full s':>9}{'parsing +':>10}  fields right")
    for kind, (image, expected) in docs.items():
        raw, full, ok = [], [], True
        for _ in range(rounds):
            t = time.perf_counter()
            read_lines(image)
            raw.append(time.perf_counter() - t)
            t = time.perf_counter()
            result = recognise(kind, image)
            full.append(time.perf_counter() - t)
            got = {f.key: f.value for f in result.fields}
            ok = ok and all(got.get(k) == v for k, v in expected.items())
        r, f = statistics.median(raw), statistics.median(full)
        print(f"{kind:<18}{r:>10.2f}{f:>9.2f}{(f - r) / r:>+10.0%}  {'yes' if ok else 'NO'}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"RSS at the end {rss_mb():.0f} MB, peak {peak:.0f} MB ({os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
