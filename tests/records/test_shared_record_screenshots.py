"""The Shared Record pages in a real browser: headless Chromium against a live server, at a desktop
and a phone width. Each screenshot must be a real, non-trivial PNG of the requested size.

Skipped only when no Chromium binary exists (CI installs `chromium`). Set SHARED_RECORD_SCREENSHOT_DIR
to keep the PNGs (plus full-length versions) for a look.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.records.shared_record_support import build_scenario, roomy_public_rate_limit  # noqa: F401

CHROMIUM = next((p for p in (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")) if p), None)
WIDTHS = {"desktop": (1280, 900), "phone": (390, 844)}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MIN_BYTES = 12_000

pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary on PATH (apt-get install chromium)"),
    pytest.mark.django_db(transaction=True),
]


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from the IHDR chunk, which must come first (PNG spec §5.3)."""
    assert data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def screenshot(url: str, path: Path, width: int, height: int) -> bytes:
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(  # noqa: S603 - a fixed binary and fixed flags; the URL is our live server
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--hide-scrollbars", f"--user-data-dir={profile}", f"--window-size={width},{height}",
             f"--screenshot={path}", url],
            check=True, capture_output=True, timeout=90,
        )
    return path.read_bytes()


def test_pages_render_as_real_screenshots(live_server, middleware_tenant, vendor_a, vendor_b, tmp_path):
    s = build_scenario(middleware_tenant, vendor_a, vendor_b)
    keep = os.environ.get("SHARED_RECORD_SCREENSHOT_DIR")
    out = Path(keep) if keep else tmp_path
    out.mkdir(parents=True, exist_ok=True)
    checkpoint = s.checkpoints[s.p1]
    stages = [  # (policy of `main`, pages shot under it)
        ("TWO_TIER", {"landing-two-tier": s.page(), "not-found": "/c/cus_aaaaaaaaaaaaaaaaaaaa",
                      "step-up": s.page(suffix="/activity")}),
        ("GATED", {"landing-gated": s.page()}),
        ("OPEN", {"landing-open": s.page(), "activity": s.page(suffix=f"/activity?period={s.p1}"),
                  "periods": s.page(suffix="/periods"), "period": s.page(suffix=f"/periods/{checkpoint.id}"),
                  "compare": s.page(suffix=f"/compare?from={s.p1}&to={s.p2}"),
                  "verify": f"/verify/{checkpoint.proof_root}?source=both"}),
    ]
    for policy, pages in stages:
        s.set_policy(policy)
        for name, path in pages.items():
            for label, (width, height) in WIDTHS.items():
                data = screenshot(live_server.url + path, out / f"{name}-{label}.png", width, height)
                assert png_size(data) == (width, height), name
                assert len(data) > MIN_BYTES, (name, label, len(data))
                if keep:
                    screenshot(live_server.url + path, out / f"{name}-{label}-full.png", width, 2200)
