"""`loancrm export customers --as USERNAME --format xlsx|csv -o FILE [--reveal] [--filter key=value …]`:
the same export as the customer list's buttons, written here and now (no background job)."""

import time
from pathlib import Path

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError

from loancrm.accounts.models import User
from loancrm.exports.services import FILTER_KEYS, export_customers_to_file


class Command(BaseCommand):
    help = (
        "导出客户（与客户列表的“导出”相同：按该用户的数据范围和筛选条件）。"
        f"--filter 可用的键：{', '.join(FILTER_KEYS)}（与客户列表网址中的参数相同）。"
    )

    def add_arguments(self, parser):
        parser.add_argument("what", choices=["customers"])
        parser.add_argument("--as", dest="username", required=True, help="以该用户的身份、权限和数据范围导出")
        parser.add_argument("--format", dest="fmt", choices=["xlsx", "csv"], help="默认按输出文件的扩展名")
        parser.add_argument("-o", "--output", required=True, help="输出文件")
        parser.add_argument(
            "--reveal", action="store_true", help="含完整敏感信息（需“查看完整敏感信息”权限，记入审计）"
        )
        parser.add_argument(
            "--filter", dest="filters", action="append", default=[], metavar="KEY=VALUE",
            help="筛选条件，可重复，如 --filter stage=contacted --filter owner=5",
        )  # fmt: skip

    def handle(self, *args, what, username, fmt, output, reveal, filters, **options):
        user = User.objects.filter(username=username, is_active=True).first()
        if user is None:
            raise CommandError(f"没有在职用户 {username}")
        path = Path(output)
        fmt = fmt or path.suffix.lower().lstrip(".")
        if fmt not in ("xlsx", "csv"):
            raise CommandError("请用 --format xlsx 或 --format csv 指定格式")
        if not path.parent.is_dir():
            raise CommandError(f"目录不存在：{path.parent}")
        params: dict[str, str] = {}
        for item in filters:
            key, sep, value = item.partition("=")
            if not sep or key not in FILTER_KEYS:
                raise CommandError(f"无法识别的筛选条件 {item!r}；可用的键：{', '.join(FILTER_KEYS)}")
            params[key] = value
        start = time.perf_counter()
        try:
            rows = export_customers_to_file(by=user, filters=params, fmt=fmt, reveal=reveal, path=path)
        except PermissionDenied as exc:
            raise CommandError(f"{username} 没有权限：{exc}") from None
        except ValidationError as exc:
            raise CommandError("；".join(exc.messages)) from None
        seconds = time.perf_counter() - start
        masked = "含完整敏感信息" if reveal else "敏感信息已脱敏"
        self.stdout.write(
            f"已导出 {rows} 位客户到 {path}（{fmt}，{masked}，{path.stat().st_size:,} 字节，{seconds:.1f} 秒）"
        )
