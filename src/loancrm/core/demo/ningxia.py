"""Realistic Ningxia customer data: names, addresses and valid mainland mobile numbers."""

import random

# Weighted: 马 is the most common surname in Ningxia (large Hui population), then the national top names.
SURNAMES = (
    ["马"] * 12
    + ["王"] * 8
    + ["李"] * 7
    + ["张"] * 7
    + ["杨"] * 5
    + ["刘"] * 5
    + ["丁"] * 3
    + ["田"] * 3
    + ["海"] * 2
    + ["金"] * 2
    + list("赵陈周吴苏何郭冯韩罗白高拜纳撒哈余米虎黑孙朱胡徐")
)
# Given names as people in Ningxia actually carry them, across generations (two characters mostly).
GIVEN_TWO = [
    "建国",
    "建军",
    "志强",
    "志刚",
    "秀英",
    "桂兰",
    "玉梅",
    "海燕",
    "明亮",
    "文华",
    "永红",
    "学军",
    "丽娟",
    "俊杰",
    "晓东",
    "雪梅",
    "春花",
    "德福",
    "金花",
    "宝山",
    "忠义",
    "淑珍",
    "国庆",
    "建华",
    "秀兰",
    "玉兰",
    "凤英",
    "桂英",
    "永强",
    "海军",
    "红梅",
    "丽华",
    "晓燕",
    "建平",
    "文斌",
    "志勇",
    "学文",
    "德明",
    "国华",
    "成林",
    "浩然",
    "子涵",
    "梓轩",
    "欣怡",
    "佳琪",
    "宇航",
    "思远",
    "一诺",
    "雨萱",
    "嘉怡",
    "浩宇",
    "晨阳",
    "天佑",
    "瑞雪",
    "若曦",
    "俊豪",
    "子墨",
    "思雨",
    "梦瑶",
    "家豪",
    "文博",
    "小龙",
    "小燕",
    "小军",
    "伟东",
    "海涛",
    "鹏飞",
    "静怡",
    "美玲",
    "晓峰",
    "春燕",
    "彦军",
    "宏伟",
    "艳萍",
    "玉霞",
    "福军",
    "占海",
    "学礼",
    "金山",
    "有福",
]
GIVEN_ONE = list("伟芳敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂英华燕鹏辉玲斌宁涵")
CITIES = {
    "银川": [
        ("银川市兴庆区", ["解放东街", "文化东街", "新华东街", "丽景街", "掌政镇"]),
        ("银川市金凤区", ["北京中路", "正源北街", "宁安大街", "黄河东路", "万寿路"]),
        ("银川市西夏区", ["怀远路", "文昌北街", "朔方路", "贺兰山西路", "同心路"]),
        ("银川市永宁县", ["杨和镇", "望远镇"]),
        ("银川市贺兰县", ["习岗镇", "金贵镇"]),
    ],
    "石嘴山": [
        ("石嘴山市大武口区", ["朝阳西街", "世纪大道", "游艺街"]),
        ("石嘴山市惠农区", ["南街", "北街"]),
        ("石嘴山市平罗县", ["城关镇", "黄渠桥镇"]),
    ],
    "吴忠": [
        ("吴忠市利通区", ["利宁街", "明珠路", "裕民西街"]),
        ("吴忠市青铜峡市", ["小坝镇", "汉渠街"]),
        ("吴忠市同心县", ["豫海镇"]),
    ],
    "固原": [
        ("固原市原州区", ["政府街", "文化街", "六盘山路"]),
        ("固原市西吉县", ["吉强镇"]),
        ("固原市隆德县", ["城关镇"]),
    ],
    "中卫": [
        ("中卫市沙坡头区", ["鼓楼东街", "应理北街", "文萃路"]),
        ("中卫市中宁县", ["宁安镇", "枸杞大道"]),
        ("中卫市海原县", ["海城镇"]),
    ],
}
# County-level division codes (GB/T 2260) of Ningxia, for demo ID numbers.
REGION_CODES = [
    "640104", "640105", "640106", "640121", "640122", "640181", "640202", "640205", "640221",
    "640302", "640303", "640323", "640324", "640381", "640402", "640422", "640423", "640424",
    "640425", "640502", "640521", "640522",
]  # fmt: skip
COMMUNITIES = ["花园", "佳苑", "小区", "新村", "家园", "名居", "公寓", "雅苑"]
# Mobile number segments of China Mobile, Unicom, Telecom and Broadnet in use today.
MOBILE_PREFIXES = [
    "130", "131", "132", "133", "134", "135", "136", "137", "138", "139",
    "150", "151", "152", "153", "155", "156", "157", "158", "159",
    "166", "173", "175", "176", "177", "178",
    "180", "181", "182", "183", "184", "185", "186", "187", "188", "189",
    "191", "193", "195", "198", "199",
]  # fmt: skip


def person_name(rng: random.Random) -> str:
    given = rng.choice(GIVEN_TWO) if rng.random() < 0.8 else rng.choice(GIVEN_ONE)
    return rng.choice(SURNAMES) + given


def address(rng: random.Random, city: str | None = None) -> str:
    city = city if city in CITIES else rng.choice(list(CITIES))
    district, streets = rng.choice(CITIES[city])
    street = rng.choice(streets)
    if street.endswith("镇"):
        return f"{district}{street}{rng.choice(['东', '西', '南', '北', '新'])}村{rng.randint(1, 12)}组{rng.randint(1, 99)}号"
    return (
        f"{district}{street}{rng.randint(1, 399)}号"
        f"{rng.choice(['金', '银', '华', '康', '福', '安', '和'])}{rng.choice(COMMUNITIES)}"
        f"{rng.randint(1, 30)}号楼{rng.randint(1, 6)}单元{rng.randint(1, 28)}0{rng.randint(1, 4)}室"
    )


def mobile(index: int, seed: int) -> str:
    """Unique for distinct indexes (< 10^8) of one seed: an affine bijection of the last eight digits."""
    prefix = MOBILE_PREFIXES[(index * 31 + seed) % len(MOBILE_PREFIXES)]
    return f"{prefix}{(index * 7_919_393 + seed * 104_729 + 12_345_678) % 100_000_000:08d}"
