"""Run the beat schedule in-process (embedded mode), or each job once with --once."""

from __future__ import annotations

import time

from records.management.base import JsonCommand


def _jobs() -> dict:
    from pacspace.celery import app

    app.loader.import_default_modules()  # autodiscovery is lazy; the task registry must be filled here
    return {name: (entry["task"], float(entry["schedule"])) for name, entry in app.conf.beat_schedule.items()}


class Command(JsonCommand):
    help = "Run the periodic jobs of the beat schedule in this process."

    def add_command_arguments(self, parser) -> None:
        parser.add_argument("--once", action="store_true", help="run each job once and exit")

    def run(self, *, once: bool, **_) -> dict:
        from pacspace.celery import app

        jobs = _jobs()
        if once:
            for task, _interval in jobs.values():
                app.tasks[task].apply(throw=False)
            return {"ran": sorted(jobs)}
        due = {name: 0.0 for name in jobs}
        while True:  # a daemon thread of `serve`; ends with the process
            now = time.monotonic()
            for name, (task, interval) in jobs.items():
                if now >= due[name]:
                    app.tasks[task].apply(throw=False)  # a failing job must not stop the others
                    due[name] = now + interval
            time.sleep(1)
