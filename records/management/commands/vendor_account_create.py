from pacspace.errors import DomainError
from records.management.base import JsonCommand
from records.models import Tenant
from records.services.vendor_accounts import vendor_account_create


class Command(JsonCommand):
    help = "Create a vendor account for a BILLING_MIDDLEWARE tenant."

    def add_command_arguments(self, parser) -> None:
        parser.add_argument("--tenant", required=True)
        parser.add_argument("--name", required=True)
        parser.add_argument("--external-id", dest="external_id", default=None)

    def run(self, *, tenant: str, name: str, external_id: str | None, **_) -> dict:
        owner = Tenant.objects.filter(pk=tenant).first()
        if owner is None:
            raise DomainError("NOT_FOUND", f"No tenant {tenant}")
        account = vendor_account_create(tenant=owner, display_name=name, external_id=external_id)
        return {"vendorAccountId": account.id}
