"""The `loancrm` command: every Django management command, plus friendly aliases."""

import os
import sys

# Hyphenated names people type, mapped to the management command modules behind them.
ALIASES = {"pool-sweep": "pool_sweep", "demo-data": "demo_data", "rotate-field-key": "rotate_field_key"}


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "loancrm.settings")
    from django.core.management import execute_from_command_line

    argv = list(sys.argv)
    argv[0] = "loancrm"
    if len(argv) > 1 and argv[1] in ALIASES:
        argv[1] = ALIASES[argv[1]]
    execute_from_command_line(argv)


if __name__ == "__main__":
    main()
