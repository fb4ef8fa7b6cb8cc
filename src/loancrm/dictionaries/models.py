from django.db import models
from django.utils.translation import gettext_lazy as _

from .kinds import KINDS


class DictionaryItem(models.Model):
    kind = models.CharField(_("字典"), max_length=40, choices=[(k, v[0]) for k, v in KINDS.items()])
    code = models.SlugField(_("代码"), max_length=40)
    label = models.CharField(_("名称"), max_length=60)
    sort_order = models.PositiveIntegerField(_("排序"), default=0)
    is_active = models.BooleanField(_("启用"), default=True)

    class Meta:
        verbose_name = _("字典项")
        verbose_name_plural = _("字典项")
        ordering = ["kind", "sort_order", "id"]
        constraints = [models.UniqueConstraint(fields=["kind", "code"], name="dictionary_item_unique_code")]

    def __str__(self) -> str:
        return self.label


def _clear_cache(**kwargs) -> None:
    from django.db import transaction

    from .selectors import dictionary_cache_clear

    dictionary_cache_clear()
    transaction.on_commit(dictionary_cache_clear)  # and again once the change is visible to others


models.signals.post_save.connect(_clear_cache, sender=DictionaryItem)
models.signals.post_delete.connect(_clear_cache, sender=DictionaryItem)
