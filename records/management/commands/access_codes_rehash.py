from django.db import transaction

from records.management.base import JsonCommand
from records.models import SharedRecord
from records.services.shared_records import access_code, code_hash


class Command(JsonCommand):
    help = "Recompute access-code hashes from their encrypted copies (after SECRET_KEY changes)."

    def run(self, **_) -> dict:
        count = 0
        with transaction.atomic():
            for shared in SharedRecord.objects.select_for_update().iterator(chunk_size=500):
                shared.access_code_hash = code_hash(shared.customer_record_id, access_code(shared))
                shared.save(update_fields=["access_code_hash"])
                count += 1
        return {"rehashed": count}
