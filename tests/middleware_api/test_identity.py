"""The parent middleware's name never reaches a buyer-facing payload (api.md §1.12 acceptance test):
every middleware route's answer, a receipt, the json/csv exports, the files of a rendered bundle and
every webhook body are searched for the marker in the middleware tenant's name."""

from __future__ import annotations

import io
import zipfile

from records.models import ExportJob
from records.services.exports import export_render
from tests.conftest import MIDDLEWARE_NAME_MARKER
from tests.middleware_api.conftest import BASE, content_of, data_of
from webhooks.models import Event


def _rendered_bundle(export_id: str) -> list[bytes]:
    """Render a bundle job as the exports worker would: its file name, member names and members."""
    assert export_render(export_id=export_id) is None
    job = ExportJob.objects.get(pk=export_id)
    assert job.status == "READY", job.error_message
    archive = zipfile.ZipFile(io.BytesIO(bytes(job.content)))
    names = archive.namelist()
    return [job.filename.encode(), *(name.encode() for name in names), *(archive.read(name) for name in names)]


def test_middleware_name_appears_in_no_output(scenario):
    api, r = scenario.api, scenario.records
    a1, b1 = f"{BASE}/customers/{r['a1'].id}", f"{BASE}/customers/{r['b1'].id}"
    checkpoint = scenario.checkpoints[("a1", scenario.p1)].id
    close_package = api.get(f"{a1}/close-package", period=scenario.p1)
    export = api.get(f"{a1}/export", format="pdf", period=scenario.p1)
    answers = [
        (api.get(f"{BASE}/vendors/acme/customers/acct-1/record"), 200),
        (api.get(f"{BASE}/readiness"), 200),
        (api.get(f"{BASE}/readiness", period=scenario.p1), 200),
        (api.get(f"{a1}/live"), 200),
        (api.get(f"{a1}/periods"), 200),
        (api.get(f"{a1}/periods/{checkpoint}"), 200),
        (api.get(f"{a1}/period/{checkpoint}"), 200),
        (close_package, 200),
        (api.get(f"{b1}/close-package", period=scenario.p2), 409),
        (api.get(f"{a1}/access-link"), 200),
        (api.patch(f"{a1}/access-link", {"policy": "GATED"}), 200),
        (api.post(f"{a1}/access-link/rotate-code"), 200),
        (api.post(f"{a1}/access-link/revoke"), 200),
        (api.post(f"{a1}/access-link/reissue", {"rotateCode": True}), 200),
        (api.post(f"{a1}/compare", {"fromPeriod": scenario.p1, "toPeriod": scenario.p2}), 200),
        (api.post(f"{a1}/compare", {"fromPeriod": scenario.p1}), 400),
        (api.get(f"{a1}/export", format="json", period=scenario.p1), 200),
        (api.get(f"{a1}/export", format="csv"), 200),
        (export, 202),
        (api.get(f"{BASE}/exports/{data_of(export, 202)['exportId']}"), 200),
        (api.get(f"{BASE}/customers/cus_{'2' * 20}/live"), 404),
        (api.get(f"/api/v1/balance/receipt/{r['a1'].id}"), 200),
        (api.get(f"/api/v1/balance/receipt/{r['b1'].id}", period=scenario.p2), 200),
    ]
    outputs = []
    for response, status in answers:
        assert response.status_code == status, (response.status_code, content_of(response)[:300])
        outputs.append(content_of(response))
    outputs += _rendered_bundle(data_of(close_package)["bundle"]["exportId"])
    events = [bytes(body) for body in Event.objects.filter(tenant=scenario.tenant).values_list("body", flat=True)]
    assert {"customer.created", "checkpoint.verified", "customer.compare_run", "customer.export_downloaded",
            "export.ready"} <= set(Event.objects.filter(tenant=scenario.tenant).values_list("type", flat=True))
    outputs += events

    marker = MIDDLEWARE_NAME_MARKER.encode()
    assert [index for index, output in enumerate(outputs) if marker in output] == []
    # The vendor's name stands where the middleware's would.
    assert b'"displayName":"Acme Inference"' in outputs[0]
    assert any(b'"displayName":"Nimbus Models"' in output for output in outputs)
