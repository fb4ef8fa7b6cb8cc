"""The enumerations admins can edit (数据字典), with the items each starts with.

Code stores item codes, so renaming a label never touches customer rows; an item is deactivated, never
deleted, so old records keep their meaning.
"""

from django.utils.translation import gettext_lazy as _

# kind: (name, [(code, label), ...])
KINDS: dict[str, tuple] = {
    "channel": (
        _("客户来源渠道"),
        [
            ("walk_in", "门店到访"),
            ("referral", "老客户转介绍"),
            ("agent", "中介合作"),
            ("douyin", "抖音"),
            ("wechat", "微信/朋友圈"),
            ("forum", "本地论坛"),
            ("phone", "电话营销"),
            ("bank", "银行推荐"),
            ("other", "其他"),
        ],
    ),
    "stage": (
        _("当前阶段"),
        [
            ("new", "新线索"),
            ("contacted", "初步接洽"),
            ("collecting", "资料收集中"),
            ("reviewing", "待审批"),
            ("approved", "已批准"),
            ("disbursed", "已放款"),
            ("repaying", "还款中"),
            ("settled", "已结清"),
            ("lost", "已流失"),
        ],
    ),
    "marital_status": (
        _("婚姻状况"),
        [("unmarried", "未婚"), ("married", "已婚"), ("divorced", "离异"), ("widowed", "丧偶")],
    ),
    "education": (
        _("学历"),
        [
            ("primary", "小学及以下"),
            ("junior", "初中"),
            ("senior", "高中/中专"),
            ("college", "大专"),
            ("bachelor", "本科"),
            ("master", "硕士及以上"),
        ],
    ),
    "social_security": (
        _("社保/公积金缴纳情况"),
        [
            ("both", "社保和公积金"),
            ("social_only", "仅社保"),
            ("fund_only", "仅公积金"),
            ("none", "均未缴纳"),
        ],
    ),
    "loan_type": (
        _("贷款类型"),
        [
            ("credit", "信贷"),
            ("mortgage", "抵押贷"),
            ("car", "车贷"),
            ("business", "企业贷"),
            ("consumer", "消费贷"),
        ],
    ),
    "industry": (
        _("行业"),
        [
            ("agriculture", "农业/枸杞种植"),
            ("manufacturing", "制造业"),
            ("construction", "建筑业"),
            ("trade", "批发零售"),
            ("catering", "餐饮住宿"),
            ("transport", "交通运输"),
            ("energy", "能源化工"),
            ("tourism", "文化旅游"),
            ("services", "服务业"),
            ("other", "其他"),
        ],
    ),
    "follow_up_way": (
        _("跟进方式"),
        [("phone", "电话"), ("wechat", "微信"), ("meeting", "面谈"), ("visit", "上门")],
    ),
    "relation": (
        _("关系"),
        [
            ("spouse", "配偶"),
            ("guarantor", "担保人"),
            ("emergency", "紧急联系人"),
            ("parent", "父母"),
            ("child", "子女"),
            ("colleague", "同事"),
            ("friend", "朋友"),
        ],
    ),
    "asset_kind": (
        _("资产类型"),
        [("house", "房产"), ("vehicle", "车辆"), ("deposit", "存款/理财"), ("other", "其他资产")],
    ),
    "attachment_kind": (
        _("附件类型"),
        [
            ("id_card", "身份证正反面"),
            ("credit_report", "征信报告"),
            ("bank_statement", "银行流水"),
            ("income_proof", "收入证明"),
            ("house_deed", "房产证"),
            ("vehicle_license", "行驶证/车辆登记证"),
            ("business_license", "营业执照"),
            ("contract", "合同"),
            ("other", "其他"),
        ],
    ),
    "product_preference": (
        _("产品偏好"),
        [
            ("low_rate", "低利率"),
            ("fast", "放款快"),
            ("long_term", "期限长"),
            ("flexible", "随借随还"),
            ("no_collateral", "免抵押"),
        ],
    ),
}
