from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Action(models.TextChoices):
    LOGIN_SUCCESS = "login.success", _("登录成功")
    LOGIN_FAILURE = "login.failure", _("登录失败")
    LOGIN_LOCKED = "login.locked", _("账户锁定")
    LOGOUT = "logout", _("退出登录")
    OTP_ENROL = "otp.enrol", _("绑定双因素认证")
    OTP_REMOVE = "otp.remove", _("解除双因素认证")
    OTP_FAILURE = "otp.failure", _("双因素验证失败")
    PERMISSION_DENIED = "permission.denied", _("权限拒绝")
    PASSWORD_CHANGE = "password.change", _("修改密码")
    PASSWORD_RESET = "password.reset", _("重置密码")
    USER_CREATE = "user.create", _("新建用户")
    USER_UPDATE = "user.update", _("修改用户")
    USER_DEACTIVATE = "user.deactivate", _("停用用户")
    USER_ACTIVATE = "user.activate", _("启用用户")
    USER_UNLOCK = "user.unlock", _("解锁用户")
    DEPARTMENT_CREATE = "department.create", _("新建部门")
    DEPARTMENT_UPDATE = "department.update", _("修改部门")
    ROLE_UPDATE = "role.update", _("修改角色")
    CUSTOMER_CREATE = "customer.create", _("新建客户")
    CUSTOMER_UPDATE = "customer.update", _("修改客户")
    CUSTOMER_REVEAL = "reveal", _("查看完整信息")
    CUSTOMER_ASSIGN = "customer.assign", _("分配/转移客户")
    CUSTOMER_TAG = "customer.tag", _("客户打标签")
    CUSTOMER_POOL = "customer.pool", _("退回公海")
    CUSTOMER_CLAIM = "customer.claim", _("认领公海客户")
    CUSTOMER_DUPLICATE = "customer.duplicate", _("撞单拦截")
    CUSTOMER_IMPORT = "customer.import", _("导入客户")
    CUSTOMER_IMPORT_UNDO = "customer.import_undo", _("撤销导入")
    IMPORT_FILE_DOWNLOAD = "customer.import_download", _("下载导入文件")
    EXPORT = "customer.export", _("导出客户")
    EXPORT_DOWNLOAD = "customer.export_download", _("下载导出文件")
    CUSTOMER_PRINT = "customer.print", _("打印/导出客户档案")
    FOLLOW_UP_CREATE = "followup.create", _("新增跟进记录")
    RELATED_PERSON_UPDATE = "related.update", _("修改关联人")
    ATTACHMENT_UPLOAD = "attachment.upload", _("上传附件")
    ATTACHMENT_DOWNLOAD = "attachment.download", _("下载附件")
    ATTACHMENT_DELETE = "attachment.delete", _("删除附件")
    APPLICATION_CREATE = "application.create", _("新建进件")
    APPLICATION_ACTION = "application.action", _("进件流转")
    APPLICATION_REASSIGN = "application.reassign", _("改派业务员")
    APPLICATION_UPDATE = "application.update", _("修改进件")
    MATERIAL_UPLOAD = "material.upload", _("上传进件材料")
    MATERIAL_REVIEW = "material.review", _("审核进件材料")
    OCR_APPLY = "ocr.apply", _("确认 OCR 识别结果")
    LINK_CREATE = "link.create", _("生成客户链接")
    LINK_REVOKE = "link.revoke", _("作废客户链接")
    LINK_UPLOAD = "link.upload", _("客户通过链接上传")
    SURVEY_SUBMIT = "survey.submit", _("客户提交满意度调查")
    PROBLEM_CREATE = "problem.create", _("登记客户问题")
    PROBLEM_RESOLVE = "problem.resolve", _("解决客户问题")
    WORKFLOW_PUBLISH = "workflow.publish", _("发布审批流程新版本")
    PRODUCT_UPDATE = "product.update", _("修改产品与材料清单")
    ASSIGNMENT_RULE_UPDATE = "assignment.update", _("修改线索分配规则")
    LOAN_CREATE = "loan.create", _("登记放款")
    LOAN_OVERDUE = "loan.overdue", _("逾期状态变化")
    LOAN_WRITE_OFF = "loan.write_off", _("核销贷款")
    REPAYMENT_RECORD = "repayment.record", _("登记还款")
    SERVICE_FEE_RECEIVE = "service_fee.receive", _("登记服务费收款")
    COLLECTION_ATTEMPT = "collection.attempt", _("催收记录")
    POST_LOAN_VISIT = "loan.visit", _("贷后回访")
    LOAN_SETTINGS_UPDATE = "loan.settings", _("修改资金方、贷款条款或账龄")
    DICTIONARY_UPDATE = "dictionary.update", _("修改数据字典")
    SETTING_UPDATE = "setting.update", _("修改系统设置")
    TOKEN_CREATE = "token.create", _("签发 API 令牌")
    RULE_UPDATE = "rule.update", _("修改自动化规则")
    RULE_FIRE = "rule.fire", _("自动化规则执行")
    TEMPLATE_UPDATE = "template.update", _("修改消息模板")
    DELIVERY_RETRY = "delivery.retry", _("重发消息")
    REPORT_SAVE = "report.save", _("保存报表")
    REPORT_EXPORT = "report.export", _("导出报表")
    DEMO_DATA = "demo.data", _("生成演示数据")


class AuditEntry(models.Model):
    """One thing someone did. Append-only: nothing in the product updates or deletes these rows."""

    at = models.DateTimeField(_("时间"), auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("操作人"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # Kept as text too: a failed log-in names a user who may not exist.
    actor_username = models.CharField(_("用户名"), max_length=150, blank=True, db_index=True)
    ip = models.GenericIPAddressField(_("IP 地址"), null=True, blank=True)
    action = models.CharField(_("操作"), max_length=50, choices=Action.choices, db_index=True)
    object_type = models.CharField(_("对象类型"), max_length=50, blank=True)  # indexed with object_id
    object_id = models.CharField(_("对象 ID"), max_length=50, blank=True)
    object_repr = models.CharField(_("对象"), max_length=200, blank=True)
    changes = models.JSONField(_("变更"), default=dict, blank=True)
    extra = models.JSONField(_("附加信息"), default=dict, blank=True)

    class Meta:
        verbose_name = _("审计日志")
        verbose_name_plural = _("审计日志")
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["object_type", "object_id"])]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_username} {self.get_action_display()}"
