from pacspace.errors import DomainError
from records.management.base import JsonCommand
from records.models import Tenant
from records.services.tenants import api_key_create


class Command(JsonCommand):
    help = "Issue an API key for a tenant (shown once)."

    def add_command_arguments(self, parser) -> None:
        parser.add_argument("--tenant", required=True)
        parser.add_argument("--environment", required=True, choices=["test", "live"])
        parser.add_argument("--name", default="")

    def run(self, *, tenant: str, environment: str, name: str, **_) -> dict:
        owner = Tenant.objects.filter(pk=tenant).first()
        if owner is None:
            raise DomainError("NOT_FOUND", f"No tenant {tenant}")
        _key, plaintext = api_key_create(tenant=owner, environment=environment, name=name)
        return {"apiKey": plaintext}
