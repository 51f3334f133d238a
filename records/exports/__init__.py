"""Export renderers (proofs.md §7, api.md §4.12): the files behind `records.services.exports`.

- `rows`: the scope's rows and totals in records.json order, read in one snapshot through a named cursor.
- `documents`: records.json and records.csv written row by row (no queries).
- `files`: the hashing spool every rendered file passes through, file names, and job file storage.
- `statement`: the PDF statement (WeasyPrint, `templates/exports/statement.html`).
- `bundle`: proofs.json with inclusion paths against the latest signed head, and the zip.
- `render`: one export from the database (sync records file, or a job's PDF / bundle).
- `metrics`: `exports_total`, `export_render_seconds`.
"""
