from records.management.base import JsonCommand
from records.services.tenants import api_key_create, tenant_create


class Command(JsonCommand):
    help = "Create a tenant and one API key in the given environment."

    def add_command_arguments(self, parser) -> None:
        parser.add_argument("--name", required=True)
        parser.add_argument("--kind", required=True, choices=["direct", "middleware"])
        parser.add_argument("--environment", default="test", choices=["test", "live"])

    def run(self, *, name: str, kind: str, environment: str, **_) -> dict:
        tenant = tenant_create(name=name, kind=kind)
        _key, plaintext = api_key_create(tenant=tenant, environment=environment, name="created by tenant_create")
        return {"tenantId": tenant.id, "apiKey": plaintext}
