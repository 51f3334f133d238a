import base64

from records.management.base import JsonCommand
from records.tlog import NoteSigner


class Command(JsonCommand):
    help = "Generate an Ed25519 seed for LOG_SIGNING_KEY."

    def run(self, **_) -> dict:
        signer = NoteSigner.generate()
        return {"privateKey": signer.private_seed_base64(), "publicKey": base64.b64encode(signer.public_key).decode()}
