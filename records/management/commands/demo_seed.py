from records.management.base import JsonCommand
from records.services.demo import demo_seed


class Command(JsonCommand):
    help = "Create the demo middleware tenant with sealed history (prints a fresh sandbox key)."

    def add_command_arguments(self, parser) -> None:
        parser.add_argument("--reset", action="store_true", help="delete and recreate the demo tenant")

    def run(self, *, reset: bool, **_) -> dict:
        return demo_seed(reset=reset)

    def human(self, result: dict) -> str:
        lines = [
            f"Demo tenant {result['tenantId']} (Demo Middleware)",
            f"API key (sandbox, shown once): {result['apiKey']}",
        ]
        if result["sharedRecordUrl"]:
            lines.append(f"Shared Record of acct-1001: {result['sharedRecordUrl']}  access code: {result['accessCode']}")
        vendor = result["vendorAccountIds"][0]
        lines += [
            "Try:",
            f"  curl -s -H 'X-Api-Key: {result['apiKey']}' http://127.0.0.1:8000/api/v1/balance/customers",
            f"  curl -s -H 'X-Api-Key: {result['apiKey']}' -H 'X-Vendor-Account-Id: {vendor}' "
            "http://127.0.0.1:8000/api/v1/balance/derive/acct-1001",
            f"  curl -s -H 'X-Api-Key: {result['apiKey']}' -H 'Content-Type: application/json' "
            f"-d '{{\"customerId\":\"acct-1001\",\"delta\":-1.25,\"reason\":\"usage\",\"vendorAccountId\":\"{vendor}\"}}' "
            "http://127.0.0.1:8000/api/v1/balance/delta",
        ]
        return "\n".join(lines)
