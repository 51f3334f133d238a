"""Shared shape of the ops commands (operations.md §3): `--json` prints exactly one object on stdout."""

from __future__ import annotations

import json
import sys
from typing import Any

from django.core.management.base import BaseCommand

from pacspace.errors import DomainError


class JsonCommand(BaseCommand):
    """Subclasses implement `run(**options) -> dict` and `human(result) -> str`."""

    def add_arguments(self, parser) -> None:
        parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
        self.add_command_arguments(parser)

    def add_command_arguments(self, parser) -> None:
        """Command-specific arguments."""

    def run(self, **options: Any) -> dict[str, Any]:
        raise NotImplementedError

    def human(self, result: dict[str, Any]) -> str:
        return json.dumps(result, indent=2)

    def handle(self, *args: Any, **options: Any) -> None:
        as_json = options["json"]
        try:
            result = self.run(**options)
        except DomainError as error:
            if as_json:
                sys.stdout.write(json.dumps({"error": {"code": error.code, "message": error.message}}) + "\n")
            else:
                self.stderr.write(f"{error.code}: {error.message}")
            sys.exit(1)
        if as_json:
            sys.stdout.write(json.dumps(result) + "\n")
        else:
            self.stdout.write(self.human(result))
