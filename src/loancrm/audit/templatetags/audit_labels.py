from django import template

from .. import labels

register = template.Library()

register.filter("object_type_label", labels.object_type_label)
register.filter("extra_items", labels.extra_items)
register.filter("actor_label", labels.actor_label)
register.filter("change_items", labels.change_items)
