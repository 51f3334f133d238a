"""cProfile of the hot paths the benchmarks time, run in-process (no gunicorn, no worker) so every frame of
our code is visible: a batch request, single emits, and sealing. Writes `bench/out/<name>.prof` and prints
the top functions by cumulative and by own time.

Run with `python -m bench.profiles [--quick]`; the checkpoint profile lives in `bench.checkpoint --profile`.
"""

from __future__ import annotations

import cProfile
import io
import json
import pstats
from collections.abc import Callable

from bench.support import OUT_DIR, bench_database, log, parse_args, seal_queue_purge, setup_django, tenant_with_key

TOP = 30
OUR_CODE = r"/(records|pacspace|webhooks)/"


def profile(name: str, fn: Callable[[], object]) -> str:
    """Run fn under cProfile; save the stats and return the printable top lists."""
    OUT_DIR.mkdir(exist_ok=True)
    profiler = cProfile.Profile()
    profiler.enable()
    fn()
    profiler.disable()
    path = OUT_DIR / f"{name}.prof"
    profiler.dump_stats(path)
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    out.write(f"===== {name}: our code by cumulative time =====\n")
    stats.sort_stats("cumulative").print_stats(OUR_CODE, TOP)
    stats.strip_dirs()
    out.write(f"===== {name}: everything by own time =====\n")
    stats.sort_stats("tottime").print_stats(TOP)
    (OUT_DIR / f"{name}.txt").write_text(out.getvalue())
    return out.getvalue()


def _client(key: str):
    from django.test import Client

    return Client(HTTP_HOST="127.0.0.1", HTTP_X_API_KEY=key)


def run(*, quick: bool) -> None:
    from pacspace.celery import app
    from records.models import Delta
    from records.services.sealing import seal_until_idle

    from bench.ingest import batch_payloads, delta_item

    app.conf.task_always_eager = False  # seal_log messages go to the bench Redis db and are purged below
    batches = 2 if quick else 10
    emits = 100 if quick else 500
    with bench_database():
        tenant_id, key = tenant_with_key("profile")
        client = _client(key)
        bodies = [json.dumps({"deltas": b}) for c in batch_payloads(batches) for b in c]
        client.post("/api/v1/balance/delta/batch", bodies[0], content_type="application/json")  # warm imports

        def post_batches():
            for body in bodies[1:]:
                assert client.post("/api/v1/balance/delta/batch", body, content_type="application/json").status_code == 200

        log(f"profiling {len(bodies) - 1} batch requests")
        print(profile("batch_request", post_batches))
        queued = Delta.objects.filter(tenant_id=tenant_id, status="QUEUED").count()
        log(f"profiling seal_until_idle of {queued} deltas")
        print(profile("seal", lambda: seal_until_idle(tenant_id=tenant_id, environment="sandbox")))

        for n in range(20):  # customers exist, as in steady state
            client.post("/api/v1/balance/delta", json.dumps(delta_item(f"emit-cust-{n}", n, "warm")),
                        content_type="application/json")

        def post_emits():
            for n in range(emits):
                body = json.dumps(delta_item(f"emit-cust-{n % 20}", n, "emit"))
                assert client.post("/api/v1/balance/delta", body, content_type="application/json").status_code == 201

        log(f"profiling {emits} single emits")
        print(profile("emit_request", post_emits))

        def seal_each():  # what the worker does under emit load: small claims, one seal run each
            for n in range(emits // 5):
                body = json.dumps(delta_item(f"emit-cust-{n % 20}", n, "trickle"))
                client.post("/api/v1/balance/delta", body, content_type="application/json")
                seal_until_idle(tenant_id=tenant_id, environment="sandbox")

        log(f"profiling {emits // 5} emits each sealed at once (emit + seal_until_idle)")
        print(profile("emit_then_seal", seal_each))
        seal_queue_purge()


def main() -> None:
    args = parse_args("cProfile of batch, emit and seal, in-process")
    setup_django()
    run(quick=args.quick)


if __name__ == "__main__":
    main()
