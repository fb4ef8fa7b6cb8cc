from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers


@extend_schema_field({"type": "string", "minLength": 1, "pattern": "^[^\\u0000]+$"})
class TextField(serializers.CharField):
    """A CharField whose schema says what DRF enforces: non-empty and no NUL characters."""
