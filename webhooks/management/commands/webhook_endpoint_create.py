from pacspace.errors import DomainError
from records.management.base import JsonCommand
from records.models import Tenant
from records.services.tenants import resolve_environment
from webhooks.services import endpoint_create


class Command(JsonCommand):
    help = "Register a webhook endpoint; prints its secret once."

    def add_command_arguments(self, parser) -> None:
        parser.add_argument("--tenant", required=True)
        parser.add_argument("--url", required=True)
        parser.add_argument("--environment", default="test", choices=["test", "live"])
        parser.add_argument("--description", default="")

    def run(self, *, tenant: str, url: str, environment: str, description: str, **_) -> dict:
        owner = Tenant.objects.filter(pk=tenant).first()
        if owner is None:
            raise DomainError("NOT_FOUND", f"No tenant {tenant}")
        endpoint, secret = endpoint_create(
            tenant=owner, environment=resolve_environment(environment), url=url, description=description
        )
        return {"id": endpoint.id, "secret": secret}
