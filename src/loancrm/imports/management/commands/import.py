"""`loancrm import customers FILE --as USERNAME …`: the same import as the web wizard, run here and now."""

import json
import shutil
import sys
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from loancrm.accounts.models import User
from loancrm.imports.models import OnDuplicate, OnError
from loancrm.imports.services import import_batch_configure, import_batch_create, import_batch_run

DUPLICATE_CHOICES = {
    "skip": OnDuplicate.SKIP,
    "update": OnDuplicate.UPDATE_EMPTY,
    "overwrite": OnDuplicate.OVERWRITE,
}
KEYS = ["total", "created", "updated", "skipped_duplicates", "failed", "blank", "flagged"]


class Command(BaseCommand):
    help = "导入客户表格（.xlsx/.xls/.csv）。退出码：0 运行完成（含出错的行），2 文件无法读取。"

    def add_arguments(self, parser):
        parser.add_argument("what", choices=["customers"])
        parser.add_argument("file")
        parser.add_argument("--as", dest="username", required=True, help="以该用户的身份和权限导入")
        parser.add_argument("--dry-run", action="store_true", help="只校验，不写入")
        parser.add_argument("--on-duplicate", choices=list(DUPLICATE_CHOICES), default="skip")
        parser.add_argument("--all-or-nothing", action="store_true", help="有任何一行出错就全部不导入")
        parser.add_argument("--owner", help="默认所属业务员（用户名）；表格中“所属业务员”列优先")
        parser.add_argument("--errors-out", help="把未导入的行写入这个 .xlsx 文件")
        parser.add_argument("--json", action="store_true", help="最后一行输出 JSON 统计")

    def handle(self, *args, what, file, username, dry_run, on_duplicate, all_or_nothing, owner, errors_out,
               json: bool, **options):  # fmt: skip
        as_json = json
        user = User.objects.filter(username=username, is_active=True).first()
        if user is None:
            raise CommandError(f"没有在职用户 {username}")
        default_owner = user
        if owner:
            default_owner = User.objects.filter(username=owner, is_active=True).first()
            if default_owner is None:
                raise CommandError(f"没有在职用户 {owner}")
        path = Path(file)
        if not path.is_file():
            self._unreadable(f"找不到文件 {file}", as_json)
        try:
            batch = import_batch_create(
                by=user, file=path, original_name=path.name, max_bytes=None, run_here=True
            )
            batch = import_batch_configure(
                by=user,
                batch=batch,
                mapping=batch.mapping,
                on_duplicate=DUPLICATE_CHOICES[on_duplicate],
                on_error=OnError.ALL_OR_NOTHING if all_or_nothing else OnError.SKIP_ROWS,
                use_owner_column=True,
                default_owner=default_owner,
            )
        except ValidationError as exc:
            messages = [m for ms in exc.message_dict.values() for m in ms]
            if "file" in exc.message_dict:
                self._unreadable("；".join(messages), as_json)
            raise CommandError("；".join(messages)) from None
        batch = import_batch_run(batch_id=batch.pk, dry_run=dry_run)
        counts = {k: int(batch.counts.get(k, 0)) for k in KEYS}
        if batch.status == "failed":
            self._unreadable(batch.message, as_json)
        if errors_out and batch.errors_path:
            shutil.copyfile(batch.errors_path, errors_out)
        for sample in batch.errors_sample[:20]:
            where = f"第 {sample['row']} 行" + (f" {sample['field']}" if sample["field"] else "")
            self.stderr.write(f"{where}：{sample['message']}")
        summary = (
            f"批次 #{batch.pk} {batch.get_status_display()}：共 {counts['total']} 行，新建 {counts['created']}，"
            f"更新 {counts['updated']}，重复跳过 {counts['skipped_duplicates']}，出错 {counts['failed']}，"
            f"空行 {counts['blank']}，待映射 {counts['flagged']}"
        )
        self.stdout.write(summary)
        if as_json:
            self.stdout.write(_json({**counts, "batch": batch.pk, "status": batch.status}))

    def _unreadable(self, message: str, as_json: bool):
        self.stderr.write(message)
        if as_json:
            self.stdout.write(_json({"error": message}))
        sys.exit(2)


def _json(data) -> str:
    return json.dumps(data, ensure_ascii=False)
