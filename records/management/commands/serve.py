"""`make run`: migrate, seed a demo when the database is empty, then serve on one address.

In the embedded default (no broker) the periodic jobs run in a daemon thread of this process.
"""

from __future__ import annotations

import threading

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from records.models import Tenant


class Command(BaseCommand):
    help = "Run the service for development and single-host use."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--addr", default="127.0.0.1:8000")

    def handle(self, *args, addr: str, **options) -> None:
        call_command("migrate", "--noinput", verbosity=0)
        if not Tenant.objects.exists():
            self.stdout.write("Empty database: seeding the demo tenant")
            call_command("demo_seed")
        if settings.EMBEDDED_MODE:
            self.stdout.write("Embedded mode: SQLite or local database, tasks in-process, periodic jobs in a thread")
            threading.Thread(
                target=call_command, args=("run_periodic_jobs",), daemon=True, name="periodic-jobs"
            ).start()
        else:
            self.stdout.write(
                "Broker configured: start `celery -A pacspace worker -Q seal,exports,webhooks` "
                "and `celery -A pacspace beat` (or use docker-compose)"
            )
        call_command("runserver", addr, use_reloader=False)
