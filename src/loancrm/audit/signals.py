"""Sent after an audit entry is written (inside the writer's transaction): the hook that lets
automation rules react to record events without every service knowing about rules."""

from django.dispatch import Signal

recorded = Signal()  # kwargs: entry
