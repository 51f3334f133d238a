from records.models import VendorAccount

URL = "/api/v1/middleware/vendor-accounts"


def _snapshot(tenant):
    return list(VendorAccount.objects.filter(tenant=tenant).order_by("id").values())


def test_list_returns_the_tenants_accounts_only(middleware_tenant, other_tenant, vendor_a, vendor_b):
    body = middleware_tenant.api.get(URL).json()
    assert body["success"] is True
    data = body["data"]
    assert (data["total"], data["limit"], data["offset"]) == (2, 50, 0)
    assert [item["id"] for item in data["items"]] == [vendor_a.id, vendor_b.id]
    assert data["items"][0] == {
        "id": vendor_a.id,
        "displayName": "Acme Inference",
        "externalId": "acme",
        "status": "active",
        "createdAt": vendor_a.created_at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{vendor_a.created_at.microsecond // 1000:03d}Z",
        "updatedAt": data["items"][0]["updatedAt"],
    }


def test_list_filters_by_status_and_external_id(middleware_tenant, vendor_a, vendor_b):
    VendorAccount.objects.filter(pk=vendor_b.pk).update(status="disabled")
    assert [i["id"] for i in middleware_tenant.api.get(URL, status="disabled").json()["data"]["items"]] == [vendor_b.id]
    assert [i["id"] for i in middleware_tenant.api.get(URL, externalId="acme").json()["data"]["items"]] == [vendor_a.id]
    bad = middleware_tenant.api.get(URL, status="sleeping")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "VALIDATION_ERROR"


def test_create_returns_201_and_the_account(middleware_tenant):
    response = middleware_tenant.api.post(URL, {"displayName": "Orbit AI", "externalId": "orbit", "ignored": 1})
    assert response.status_code == 201
    data = response.json()["data"]
    account = VendorAccount.objects.get(pk=data["id"])
    assert (account.tenant_id, account.display_name, account.external_id) == (
        middleware_tenant.tenant.id, "Orbit AI", "orbit")
    assert data["id"].startswith("cmw_") and len(data["id"]) == 24


def test_external_id_taken_is_409_with_holder(middleware_tenant, vendor_a):
    response = middleware_tenant.api.post(URL, {"displayName": "Dup", "externalId": "acme"})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "EXTERNAL_ID_TAKEN"
    assert response.json()["error"]["details"] == {"vendorAccountId": vendor_a.id}
    assert VendorAccount.objects.filter(tenant=middleware_tenant.tenant).count() == 2


def test_same_external_id_in_another_tenant_is_fine(middleware_tenant, other_tenant):
    assert middleware_tenant.api.post(URL, {"displayName": "X", "externalId": "shared"}).status_code == 201
    assert other_tenant.api.post(URL, {"displayName": "Y", "externalId": "shared"}).status_code == 201


def test_external_id_rules(middleware_tenant):
    for bad in ("cmw_abc", "has space", "x" * 129, 5):
        response = middleware_tenant.api.post(URL, {"displayName": "X", "externalId": bad})
        assert response.status_code == 400, bad
        assert list(response.json()["error"]["details"]["fields"]) == ["externalId"]


def test_patch_updates_fields(middleware_tenant, vendor_a):
    response = middleware_tenant.api.patch(f"{URL}/{vendor_a.id}", {"displayName": "Acme AI", "status": "disabled"})
    assert response.status_code == 200
    vendor_a.refresh_from_db()
    assert (vendor_a.display_name, vendor_a.status, vendor_a.external_id) == ("Acme AI", "disabled", "acme")


def test_retrieve(middleware_tenant, vendor_b):
    data = middleware_tenant.api.get(f"{URL}/{vendor_b.id}").json()["data"]
    assert (data["id"], data["displayName"], data["externalId"]) == (vendor_b.id, "Nimbus Models", "nimbus")


def test_other_tenant_gets_404_and_changes_nothing(middleware_tenant, other_tenant, vendor_a):
    before = _snapshot(middleware_tenant.tenant)
    for response in (
        other_tenant.api.get(f"{URL}/{vendor_a.id}"),
        other_tenant.api.patch(f"{URL}/{vendor_a.id}", {"displayName": "Hijacked"}),
    ):
        assert response.status_code == 404
        assert response.json() == {"success": False, "error": {"code": "NOT_FOUND", "message": "Not found"}}
    assert _snapshot(middleware_tenant.tenant) == before


def test_direct_tenant_is_forbidden_on_middleware_routes(direct_tenant):
    for response in (direct_tenant.api.get(URL), direct_tenant.api.post(URL, {"displayName": "X"})):
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "TENANT_KIND_FORBIDDEN"
    assert VendorAccount.objects.count() == 0


def test_unknown_id_is_404(middleware_tenant):
    assert middleware_tenant.api.get(f"{URL}/cmw_{'2' * 20}").status_code == 404
