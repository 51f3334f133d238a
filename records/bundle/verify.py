#!/usr/bin/env python3
"""Offline verifier for a PacSpace-compatible verified-records export bundle.

Usage:  python3 verify.py [BUNDLE_DIR]      (default: the directory holding this script)

Needs Python 3.9+ and nothing but the standard library. If the ``cryptography`` package is
installed, the Ed25519 signature of the log checkpoint is checked too; otherwise that check is
skipped. The checks, in the order they run:

manifest        Every file listed in manifest.json exists with the listed SHA-256 and size, every
                bundle file is listed, nothing else is in the directory, and the manifest's
                customer, identity and scope agree with records.json.
content-hashes  Each record's contentHash is keccak256("pacspace:item:v1:" + canonical JSON of its
                ``canonical`` object), and its amount, reason, referenceId, recordedAt (and
                customer) agree with ``canonical``. So the displayed rows are the hashed ones.
chain           Sealed records (non-null proofHash) carry consecutive chainIndex values (a period
                is a contiguous segment of the customer's chain, so it need not start at 0);
                chainIndex 0 has the all-zero previousProofHash; each previousProofHash is the
                preceding record's proofHash; each proofHash = keccak256("pacspace:proof:v1:" +
                previousProofHash + contentHash). Records still ``recording`` have no proof yet.
proof-root      (checkpoint bundles) The PacSpace Merkle root over the contentHashes equals the
                checkpoint's proofRoot, and its record count and totals recompute. Not applicable
                to live bundles, which have no checkpoint.
inclusion       proofs.json names the same log head as checkpoint.txt, covers exactly the sealed
                records, and every leafHash = SHA-256(0x00 + contentHash) with an audit path that
                leads to the signed root (RFC 9162 section 2.1.3.2); each verificationReference
                names a head that covers its leaf. So every sealed record is in the append-only
                transparency log.
log-key         log-key.pub names the checkpoint's origin, its key ID recomputes from the public
                key, and it is the key the checkpoint claims to be signed with.
signature       The checkpoint's Ed25519 signature verifies with the key in log-key.pub.

All of this proves consistency with the key in log-key.pub; compare that key with the one the
service publishes (VERIFY.md says where) to know it is the vendor's.

Output: one line per check (PASS / FAIL <check>: <reason> / SKIP <check>: <reason>), then
RESULT: PASS or RESULT: FAIL. Exit status 0 = no failure, 1 = a check failed, 2 = usage error or
unreadable bundle directory.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import sys
from decimal import Decimal

# --------------------------------------------------------------------------- keccak256
# Original Keccak-256 (Ethereum), not NIST SHA3-256: hashlib has no such function.

_RC = [
    0x0000000000000001, 0x0000000000008082, 0x800000000000808A, 0x8000000080008000,
    0x000000000000808B, 0x0000000080000001, 0x8000000080008081, 0x8000000000008009,
    0x000000000000008A, 0x0000000000000088, 0x0000000080008009, 0x000000008000000A,
    0x000000008000808B, 0x800000000000008B, 0x8000000000008089, 0x8000000000008003,
    0x8000000000008002, 0x8000000000000080, 0x000000000000800A, 0x800000008000000A,
    0x8000000080008081, 0x8000000000008080, 0x0000000080000001, 0x8000000080008008,
]
_ROT = [0, 1, 62, 28, 27, 36, 44, 6, 55, 20, 3, 10, 43, 25, 39, 41, 45, 15, 21, 8, 18, 2, 61, 56, 14]
_PI = [i // 5 + 5 * ((2 * (i % 5) + 3 * (i // 5)) % 5) for i in range(25)]  # (x, y) -> (y, 2x + 3y)
_CHI = [((i + 1) % 5 + i - i % 5, (i + 2) % 5 + i - i % 5) for i in range(25)]  # (x+1, y), (x+2, y)
_MASK = (1 << 64) - 1
_RATE = 136


def _keccak_f(a):
    """Keccak-f[1600] on 25 lanes, lane (x, y) at index x + 5*y."""
    for rc in _RC:
        c = [a[x] ^ a[x + 5] ^ a[x + 10] ^ a[x + 15] ^ a[x + 20] for x in range(5)]
        d = [c[(x - 1) % 5] ^ (((c[(x + 1) % 5] << 1) | (c[(x + 1) % 5] >> 63)) & _MASK) for x in range(5)]
        b = [0] * 25
        for i in range(25):  # theta, then rho (rotate) and pi (move)
            v, r = a[i] ^ d[i % 5], _ROT[i]
            b[_PI[i]] = ((v << r) | (v >> (64 - r))) & _MASK
        a = [b[i] ^ (~b[j] & b[k]) for i, (j, k) in enumerate(_CHI)]  # chi
        a[0] ^= rc  # iota
    return a


def keccak256(data: bytes) -> bytes:
    padded = bytearray(data) + b"\x01" + bytes(-(len(data) + 1) % _RATE)
    padded[-1] |= 0x80
    state = [0] * 25
    for off in range(0, len(padded), _RATE):
        for i in range(_RATE // 8):
            state[i] ^= int.from_bytes(padded[off + 8 * i:off + 8 * i + 8], "little")
        state = _keccak_f(state)
    return b"".join(lane.to_bytes(8, "little") for lane in state[:4])


_KECCAK_EMPTY = "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"

# --------------------------------------------------------------------------- exact JSON, canonical form


def _no_duplicates(pairs):
    obj = {}
    for key, value in pairs:
        if key in obj:
            raise ValueError("duplicate key %r" % key)
        obj[key] = value
    return obj


def _no_constant(name):
    raise ValueError("%s is not allowed" % name)


def load_json(raw: bytes):
    """Exact parse: decimals stay Decimal; duplicate keys and NaN/Infinity are refused."""
    return json.loads(raw.decode("utf-8"), parse_float=Decimal, parse_constant=_no_constant,
                      object_pairs_hook=_no_duplicates)


def normalize_decimal(d) -> str:
    """Decimal text of proofs.md 2.2: no exponent, no '+', no leading/trailing zeros, zero is 0."""
    if isinstance(d, bool) or not isinstance(d, (int, Decimal)) or not Decimal(d).is_finite():
        raise ValueError("not an exact finite number: %r" % (d,))
    sign, digits, exp = Decimal(d).as_tuple()
    n = int("".join(map(str, digits)) or "0")
    if n == 0:
        return "0"
    while n % 10 == 0:
        n, exp = n // 10, exp + 1
    s = str(n)
    if exp >= 0:
        body = s + "0" * exp
    else:
        k = -exp
        body = s[:-k] + "." + s[-k:] if len(s) > k else "0." + "0" * (k - len(s)) + s
    return ("-" if sign else "") + body


_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _canonical_string(s: str) -> str:
    if "\x00" in s:
        raise ValueError("U+0000 in a string")
    return '"' + "".join(_ESCAPES.get(c) or ("\\u%04x" % ord(c) if c < " " else c) for c in s) + '"'


def _canonical_text(v) -> str:
    if v is None or v is True or v is False:
        return {None: "null", True: "true", False: "false"}[v]
    if isinstance(v, str):
        return _canonical_string(v)
    if isinstance(v, (int, Decimal)):
        return normalize_decimal(v)
    if isinstance(v, list):
        return "[" + ",".join(_canonical_text(e) for e in v) + "]"
    if isinstance(v, dict):
        return "{" + ",".join(_canonical_string(k) + ":" + _canonical_text(v[k]) for k in sorted(v)) + "}"
    raise ValueError("not a JSON value: %r" % (v,))


def canonical_json(v) -> bytes:
    """Canonical JSON of proofs.md 2.1: sorted keys, no whitespace, normalized numbers."""
    return _canonical_text(v).encode("utf-8")


# --------------------------------------------------------------------------- hashes and proofs

ZERO = bytes(32)


def unhex(s) -> bytes:
    if not isinstance(s, str) or not re.fullmatch(r"0[xX][0-9a-fA-F]{64}", s):
        raise ValueError("not a 0x-prefixed 32-byte hex hash: %r" % (s,))
    return bytes.fromhex(s[2:])


def content_hash(item) -> bytes:
    return keccak256(b"pacspace:item:v1:" + canonical_json(item))


def proof_hash(previous: bytes, content: bytes) -> bytes:
    return keccak256(b"pacspace:proof:v1:" + previous + content)


def merkle_root(hashes) -> bytes:
    """PacSpace root (proofs.md 3.3): pair neighbours, an odd last value is paired with itself."""
    level = list(hashes)
    if not level:
        return ZERO
    while len(level) > 1:
        if len(level) % 2:
            level.append(level[-1])
        level = [keccak256(b"pacspace:node:v1:" + level[i] + level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


def leaf_hash(content: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + content).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def verify_inclusion(index: int, size: int, leaf: bytes, path, root: bytes) -> bool:
    """RFC 9162 section 2.1.3.2."""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = _node(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = _node(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root


def key_id(name: str, public_key: bytes) -> bytes:
    """C2SP key ID: first 4 bytes of SHA-256(key name + 0x0A + 0x01 + public key)."""
    return hashlib.sha256(name.encode("utf-8") + b"\n\x01" + public_key).digest()[:4]


def parse_note(raw: bytes):
    """C2SP signed note -> (signed text bytes, origin, tree size, root, [(name, key ID, signature)])."""
    text, sep, sigs = raw.decode("utf-8").partition("\n\n")
    lines = text.split("\n")
    if not sep or len(lines) != 3 or not re.fullmatch(r"0|[1-9][0-9]*", lines[1]):
        raise ValueError("checkpoint.txt is not a three-line signed note")
    root = base64.b64decode(lines[2], validate=True)
    if len(root) != 32 or not sigs.endswith("\n"):
        raise ValueError("checkpoint.txt has a malformed root hash or signature block")
    signatures = []
    for line in sigs[:-1].split("\n"):
        fields = line.split(" ")
        blob = base64.b64decode(fields[-1], validate=True) if len(fields) == 3 else b""
        if fields[0] != "\u2014" or len(blob) != 68:
            raise ValueError("checkpoint.txt has a malformed signature line")
        signatures.append((fields[1], blob[:4], blob[4:]))
    return (text + "\n").encode("utf-8"), lines[0], int(lines[1]), root, signatures


def parse_verifier_key(raw: bytes):
    """'<name>+<8 hex key ID>+<base64(0x01 + key)>' -> (name, key ID, 32-byte key)."""
    parts = raw.decode("utf-8").rstrip("\n").split("+", 2)  # the base64 part may contain '+'
    if len(parts) != 3 or not re.fullmatch(r"[0-9a-fA-F]{8}", parts[1]) or "\n" in parts[2]:
        raise ValueError("log-key.pub is not a '<name>+<key ID>+<key>' line")
    blob = base64.b64decode(parts[2], validate=True)
    if len(blob) != 33 or blob[0] != 1:
        raise ValueError("log-key.pub does not hold an Ed25519 key")
    return parts[0], bytes.fromhex(parts[1]), blob[1:]


# --------------------------------------------------------------------------- the checks


class Fail(Exception):
    """A check failed; the message is the reason printed after 'FAIL <check>: '."""


class Skip(Exception):
    """A check does not apply; the message is printed after 'SKIP <check>: '."""


BUNDLE_FILES = ["records.json", "records.csv", "statement.pdf", "proofs.json", "checkpoint.txt",
                "log-key.pub", "VERIFY.md", "verify.py"]


class Bundle:
    def __init__(self, directory: str) -> None:
        self.dir = directory
        self._cache = {}

    def raw(self, name: str) -> bytes:
        with open(os.path.join(self.dir, name), "rb") as f:
            return f.read()

    def load(self, name: str, parse):
        """Parsed file, cached; any problem reading or parsing it fails the calling check."""
        if name not in self._cache:
            try:
                self._cache[name] = (True, parse(self.raw(name)))
            except (OSError, ValueError) as exc:  # UnicodeDecodeError and JSONDecodeError too
                self._cache[name] = (False, "%s: %s" % (name, exc))
        ok, value = self._cache[name]
        if not ok:
            raise Fail(value)
        return value

    def records_doc(self):
        return self.load("records.json", load_json)

    def records(self):
        return self.records_doc()["records"]

    def sealed(self):
        """Records with a proof (state recorded/verified), in file order = chainIndex order."""
        return [r for r in self.records() if r.get("proofHash") is not None]

    def note(self):
        return self.load("checkpoint.txt", parse_note)


def check_manifest(b: Bundle) -> None:
    manifest = b.load("manifest.json", load_json)
    if manifest.get("schema") != "pacspace-bundle-manifest/v1":
        raise Fail("manifest.json has an unknown schema")
    listed = [entry["path"] for entry in manifest["files"]]
    missing = [name for name in BUNDLE_FILES if name not in listed]
    if missing or len(set(listed)) != len(listed):
        raise Fail("manifest.json does not list each bundle file exactly once (%s)" % ", ".join(missing))
    for entry in manifest["files"]:
        name = entry["path"]
        if name not in BUNDLE_FILES:
            raise Fail("manifest.json lists an unexpected file %r" % name)
        try:
            data = b.raw(name)
        except OSError:
            raise Fail("%s is missing" % name) from None
        if len(data) != entry["size"] or hashlib.sha256(data).hexdigest() != entry["sha256"]:
            raise Fail("%s does not match its SHA-256/size in manifest.json" % name)
    extra = sorted(set(os.listdir(b.dir)) - set(listed) - {"manifest.json"})
    if extra:
        raise Fail("unlisted file(s) in the bundle: %s" % ", ".join(extra))
    doc = b.records_doc()
    for key, expected in [("identity", doc["identity"]), ("scope", doc["scope"])] + [
            (k, doc["customer"][k]) for k in ("customerId", "externalCustomerId", "vendorAccountId")]:
        if manifest.get(key) != expected:
            raise Fail("manifest.json %s differs from records.json" % key)


def check_content_hashes(b: Bundle) -> None:
    customer = b.records_doc()["customer"]
    for r in b.records():
        rid, item = r.get("recordId"), r["canonical"]
        if sorted(item) != ["adjusts", "createdAt", "customerId", "delta", "metadata", "reason",
                            "referenceId", "vendorAccountId"]:
            raise Fail("%s: canonical does not have exactly the eight hashed fields" % rid)
        if content_hash(item) != unhex(r["contentHash"]):
            raise Fail("%s: contentHash does not match the canonical fields" % rid)
        if normalize_decimal(r["amount"]) != item["delta"]:
            raise Fail("%s: amount %s differs from the hashed delta %s" % (rid, r["amount"], item["delta"]))
        for shown, hashed in [("reason", "reason"), ("referenceId", "referenceId"),
                              ("recordedAt", "createdAt"), ("metadata", "metadata"), ("adjusts", "adjusts")]:
            if shown in r and canonical_json(r[shown]) != canonical_json(item[hashed]):
                raise Fail("%s: %s differs from the hashed %s" % (rid, shown, hashed))
        if (item["customerId"], item["vendorAccountId"]) != (
                customer.get("externalCustomerId", item["customerId"]), customer["vendorAccountId"]):
            raise Fail("%s: hashed customer differs from the bundle's customer" % rid)


def check_chain(b: Bundle) -> None:
    previous = None
    for r in b.records():
        rid, sealed = r.get("recordId"), r.get("proofHash") is not None
        if sealed == (r.get("state") == "recording"):
            raise Fail("%s: state %r contradicts its proof fields" % (rid, r.get("state")))
        if not sealed:
            continue
        index, prev_hash = r["chainIndex"], unhex(r["previousProofHash"])
        if previous is not None and index != previous["chainIndex"] + 1:
            raise Fail("%s: chainIndex %s does not follow %s" % (rid, index, previous["chainIndex"]))
        if index == 0 and prev_hash != ZERO:
            raise Fail("%s: chainIndex 0 must have the zero previousProofHash" % rid)
        if previous is not None and prev_hash != unhex(previous["proofHash"]):
            raise Fail("%s: previousProofHash is not the preceding record's proofHash" % rid)
        if proof_hash(prev_hash, unhex(r["contentHash"])) != unhex(r["proofHash"]):
            raise Fail("%s: proofHash does not recompute" % rid)
        previous = r


def check_proof_root(b: Bundle) -> None:
    doc = b.records_doc()
    checkpoint, basis = doc["checkpoint"], doc["scope"].get("basis")
    if checkpoint is None and basis == "live":
        raise Skip("live basis bundle has no checkpoint, so there is no proof root (not applicable)")
    if checkpoint is None or basis != "checkpoint":
        raise Fail("scope basis %r does not match the checkpoint object" % basis)
    records, sealed = b.records(), b.sealed()
    if len(sealed) != len(records):
        rid = next(r.get("recordId") for r in records if r.get("proofHash") is None)
        raise Fail("%s: a checkpoint covers only sealed records" % rid)
    if merkle_root(unhex(r["contentHash"]) for r in records) != unhex(checkpoint["proofRoot"]):
        raise Fail("Merkle root of the contentHashes differs from checkpoint.proofRoot")
    amounts = [Decimal(r["amount"]) for r in records]
    credits, debits = sum(a for a in amounts if a > 0), sum(a for a in amounts if a < 0)
    totals = doc["totals"]
    if not checkpoint["recordCount"] == totals["recordCount"] == len(records):
        raise Fail("recordCount differs from the %d records" % len(records))
    if (totals["credits"], totals["debits"], totals["netChange"]) != (credits, debits, credits + debits):
        raise Fail("totals do not recompute (credits %s, debits %s)" % (credits, debits))
    summary = b.load("proofs.json", load_json)["checkpoint"] or {}
    if any(summary.get(k) != checkpoint[k] for k in ("checkpointId", "proofRoot", "recordCount")):
        raise Fail("proofs.json checkpoint differs from records.json")


def check_inclusion(b: Bundle) -> None:
    proofs = b.load("proofs.json", load_json)
    _, origin, size, root, signatures = b.note()
    log = proofs["log"]
    named = [(name, kid.hex()) for name, kid, _ in signatures]
    if (log["origin"], log["treeSize"], unhex(log["rootHash"])) != (origin, size, root) or (
            log["keyName"], log["keyId"]) not in named:
        raise Fail("proofs.json log fields do not match checkpoint.txt")
    sealed = {r["recordId"]: r for r in b.sealed()}
    for p in proofs["records"]:
        rid = p.get("recordId")
        r = sealed.pop(rid, None)
        if r is None:
            raise Fail("%s: in proofs.json but not a sealed record of records.json" % rid)
        for k in ("contentHash", "proofHash", "previousProofHash", "chainIndex", "leafIndex"):
            if p[k] != r[k]:
                raise Fail("%s: proofs.json %s differs from records.json" % (rid, k))
        leaf = unhex(p["leafHash"])
        if leaf != leaf_hash(unhex(p["contentHash"])):
            raise Fail("%s: leafHash is not SHA-256(0x00 || contentHash)" % rid)
        if not verify_inclusion(p["leafIndex"], size, leaf, [unhex(h) for h in p["inclusionPath"]], root):
            raise Fail("%s: inclusion path does not lead to the root of tree size %d" % (rid, size))
        if not _covers(r.get("verificationReference"), p["leafIndex"], size, root):
            raise Fail("%s: verificationReference is not a head covering its leaf" % rid)
    if sealed:
        raise Fail("%s: sealed record has no inclusion proof in proofs.json" % next(iter(sealed)))
    checkpoint = b.records_doc()["checkpoint"]
    last_leaf = max([r["leafIndex"] for r in b.sealed()], default=-1)
    if checkpoint is not None and not _covers(checkpoint["verificationReference"], last_leaf, size, root):
        raise Fail("checkpoint verificationReference is not a head covering its records")


def _covers(reference, leaf_index: int, size: int, root: bytes) -> bool:
    """A '<treeSize>:0x<root>' head that includes the leaf and is consistent with the signed head
    (same root when it has the same size; never larger)."""
    ref = re.fullmatch(r"(0|[1-9][0-9]*):(0x[0-9a-f]{64})", reference or "")
    return bool(ref) and leaf_index < int(ref[1]) <= size and (int(ref[1]) < size or unhex(ref[2]) == root)


def check_log_key(b: Bundle) -> None:
    name, kid, public_key = b.load("log-key.pub", parse_verifier_key)
    _, origin, _, _, signatures = b.note()
    if name != origin:
        raise Fail("key name %r is not the checkpoint origin %r" % (name, origin))
    if key_id(name, public_key) != kid:
        raise Fail("key ID %s does not recompute from the public key" % kid.hex())
    if (name, kid) not in [(n, k) for n, k, _ in signatures]:
        raise Fail("checkpoint.txt is not signed by key %s (it names %s)"
                   % (kid.hex(), ", ".join(k.hex() for _, k, _ in signatures)))


def check_signature(b: Bundle) -> None:
    try:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    except ImportError:
        raise Skip("the 'cryptography' package is not installed (pip install cryptography)") from None
    name, kid, public_key = b.load("log-key.pub", parse_verifier_key)
    text, _, _, _, signatures = b.note()
    matching = [sig for n, k, sig in signatures if (n, k) == (name, kid)]
    if not matching:
        raise Fail("checkpoint.txt has no signature by the key in log-key.pub")
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(matching[0], text)
    except InvalidSignature:
        raise Fail("Ed25519 signature does not verify with the key in log-key.pub") from None


CHECKS = [("manifest", check_manifest), ("content-hashes", check_content_hashes),
          ("chain", check_chain), ("proof-root", check_proof_root), ("inclusion", check_inclusion),
          ("log-key", check_log_key), ("signature", check_signature)]


def run(directory: str, out=None) -> int:
    """Run every check on an unpacked bundle, print one line each; return 0 (pass) or 1 (fail)."""
    bundle, failed, out = Bundle(directory), False, out or sys.stdout
    for name, check in CHECKS:
        try:
            check(bundle)
            line = "PASS %s" % name
        except Skip as exc:
            line = "SKIP %s: %s" % (name, exc)
        except Fail as exc:
            line, failed = "FAIL %s: %s" % (name, exc), True
        except (KeyError, TypeError, ValueError, ArithmeticError, AttributeError, IndexError) as exc:
            # Missing or mistyped fields: a structurally broken (or tampered) file.
            line, failed = "FAIL %s: malformed bundle data (%s: %s)" % (name, type(exc).__name__, exc), True
        print(line, file=out)
    print("RESULT: FAIL" if failed else "RESULT: PASS", file=out)
    return 1 if failed else 0


USAGE = "usage: python3 verify.py [BUNDLE_DIR]   (default: the directory of verify.py)"


def main(argv) -> int:
    if argv in (["-h"], ["--help"]):
        print(USAGE)
        return 0
    if len(argv) > 1 or (argv and argv[0].startswith("-")):
        print(USAGE, file=sys.stderr)
        return 2
    if keccak256(b"").hex() != _KECCAK_EMPTY:
        print("verify.py: the built-in keccak256 failed its self-test", file=sys.stderr)
        return 2
    directory = argv[0] if argv else os.path.dirname(os.path.abspath(__file__))
    try:
        os.listdir(directory)
    except OSError as exc:
        print("verify.py: cannot read bundle directory %s: %s" % (directory, exc.strerror), file=sys.stderr)
        return 2
    return run(directory)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
