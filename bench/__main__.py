"""`python -m bench [--quick] [--profile]`: every balance benchmark (ingest, then checkpoint), one table.

Each benchmark creates and drops its own database; full runs append a dated section to bench/RESULTS.md.
bench/webhooks.py is run on its own (`python -m bench.webhooks`).
"""

from __future__ import annotations

from bench.support import log, parse_args, report, setup_django


def main() -> None:
    args = parse_args("All balance benchmarks: batch ingest, single emit, verification latency, checkpoint")
    setup_django()
    from bench import checkpoint, ingest

    rows, details = [], []
    for name, run in (("ingest", lambda: ingest.run(quick=args.quick)),
                      ("checkpoint", lambda: checkpoint.run(quick=args.quick, profile=args.profile))):
        log(f"== {name}")
        part_rows, part_details = run()
        rows += part_rows
        details += part_details
    if args.profile:
        from bench import profiles

        profiles.run(quick=args.quick)
        details.append("cProfile of batch, seal and emit: bench/out/{batch_request,seal,emit_request}.{prof,txt}")
    report("Balance benchmarks", rows, quick=args.quick, record=args.should_record, details=details)


if __name__ == "__main__":
    main()
