"""OpenAPI schema generation (kept apart from core.api: drf-spectacular imports DRF's generics)."""

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from rest_framework.permissions import AllowAny

_DETAIL = {"type": "object", "properties": {"detail": {"type": "string"}}, "required": ["detail"]}
_FIELD_ERRORS = {
    "type": "object",
    "description": "字段名 → 错误信息列表（中文）；请求体无法解析时为 detail",
    "additionalProperties": {"oneOf": [{"type": "array", "items": {"type": "string"}}, {"type": "string"}]},
}


class AutoSchema(SpectacularAutoSchema):
    """drf-spectacular's schema, plus the error answers every endpoint can give."""

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)

        def add(code: str, description: str, schema: dict) -> None:
            responses.setdefault(
                code, {"content": {"application/json": {"schema": schema}}, "description": description}
            )

        add("400", "请求参数有误", _FIELD_ERRORS)
        if not any(isinstance(p, AllowAny) for p in self.view.get_permissions()):
            add("401", "未登录或令牌无效", _DETAIL)
            add("403", "无权执行此操作", _DETAIL)
        if self.method in ("POST", "PUT", "PATCH"):
            add("415", "不支持的请求格式（Content-Type）", _DETAIL)
        if "{" in self.path or "list" not in self.get_operation_id().lower():
            add("404", "记录不存在或无权查看", _DETAIL)
        else:
            add("404", "页码超出范围", _DETAIL)
        return responses
