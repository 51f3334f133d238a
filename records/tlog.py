"""Transparency-log maths (RFC 6962 / RFC 9162) and C2SP signed notes (spec: proofs.md §4, §7.5).

Pure: no ORM, no settings. The storage model is the caller's: every leaf and every complete
subtree is kept as ``(level, index) -> hash`` where level 0 index i is leaf hash i and level L
index i covers leaves ``[i·2^L, (i+1)·2^L)``.

Reading works in two steps so the database layer can fetch in one query: ``*_coords()`` names the
complete subtrees a computation needs (at most O(log n)), then ``root`` / ``inclusion_path`` /
``consistency_proof`` combine exactly those. Every range in the RFC recursion starts at a
multiple of the next power of two at or above its length, so it is either a complete aligned
subtree (read) or split at the largest power of two below its length — nothing is recomputed
from the whole log.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

Coord = tuple[int, int]  # (level, index)
Range = tuple[int, int]  # leaves [start, end)

EMPTY_ROOT: bytes = hashlib.sha256(b"").digest()


def leaf_hash(content_hash: bytes) -> bytes:
    """RFC 6962 leaf hash of a 32-byte contentHash: SHA-256(0x00 ‖ x)."""
    if len(content_hash) != 32:
        raise ValueError("content hash must be 32 bytes")
    return hashlib.sha256(b"\x00" + content_hash).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 6962 interior node: SHA-256(0x01 ‖ left ‖ right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


# --------------------------------------------------------------------------- appending


def new_subtrees(
    tree_size: int, new_leaf_hashes: Sequence[bytes], get: Callable[[int, int], bytes]
) -> list[tuple[int, int, bytes]]:
    """Every (level, index, hash) created by appending ``new_leaf_hashes`` to a tree of
    ``tree_size`` leaves, leaves included, in creation order.

    ``get(level, index)`` is called only for complete subtrees that existed before (left
    siblings on the old tree's right edge — a subset of ``root_coords(tree_size)``).
    """
    created: dict[Coord, bytes] = {}
    result: list[tuple[int, int, bytes]] = []
    for offset, h in enumerate(new_leaf_hashes):
        level, index = 0, tree_size + offset
        created[(level, index)] = h
        result.append((level, index, h))
        while index & 1:  # a right child completes its parent
            sibling = created.get((level, index - 1))
            if sibling is None:
                sibling = get(level, index - 1)
            h = node_hash(sibling, h)
            level, index = level + 1, index >> 1
            created[(level, index)] = h
            result.append((level, index, h))
    return result


# --------------------------------------------------------------------------- ranges


def _split(length: int) -> int:
    """Largest power of two strictly below ``length`` (length ≥ 2)."""
    return 1 << ((length - 1).bit_length() - 1)


def subtrees_for_range(start: int, end: int) -> list[Coord]:
    """Complete aligned subtrees whose RFC 6962 combination is the hash of ``[start, end)``,
    left to right: the binary decomposition of the length, largest first. Only ranges the RFC
    recursion can produce are accepted (``start`` a multiple of the smallest power of two
    ≥ the length); others raise ``ValueError``.
    """
    length = end - start
    if start < 0 or length < 1 or start % (1 << (length - 1).bit_length()):
        raise ValueError(f"[{start}, {end}) is not an RFC 6962 subtree range")
    coords: list[Coord] = []
    for level in reversed(range(length.bit_length())):
        if length >> level & 1:
            coords.append((level, start >> level))
            start += 1 << level
    return coords


def _range_hash(start: int, end: int, nodes: Mapping[Coord, bytes]) -> bytes:
    parts = subtrees_for_range(start, end)
    try:
        h = nodes[parts[-1]]
        for coord in reversed(parts[:-1]):
            h = node_hash(nodes[coord], h)
    except KeyError as exc:
        raise KeyError(f"subtree {exc.args[0]} missing from nodes") from None
    return h


def _coords(ranges: Iterable[Range]) -> set[Coord]:
    return {coord for start, end in ranges for coord in subtrees_for_range(start, end)}


# RFC 9162 §2.1.3.1 PATH(m, D[n]) as the ranges whose hashes form the path, leaf upwards.
def _path_ranges(index: int, size: int) -> list[Range]:
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} outside tree of size {size}")
    ranges: list[Range] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
    ranges.reverse()  # collected root-down, the RFC lists them leaf-up
    return ranges


# RFC 9162 §2.1.4.1 SUBPROOF(m, D[n], true) as ranges, in proof order.
def _proof_ranges(m: int, n: int) -> list[Range]:
    if not 0 < m <= n:
        raise ValueError(f"no consistency proof from size {m} to {n}")
    ranges: list[Range] = []
    start, end, whole = 0, n, True  # whole: D[start:end] still contains the complete old tree
    while m != end - start:
        k = _split(end - start)
        if m <= k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            m, start, whole = m - k, start + k, False
    if not whole:
        ranges.append((start, end))
    ranges.reverse()  # the recursion appends on the way out
    return ranges


def root_coords(size: int) -> set[Coord]:
    """Subtrees :func:`root` reads (empty for size 0)."""
    return _coords([(0, size)]) if size else set()


def inclusion_coords(index: int, size: int) -> set[Coord]:
    """Subtrees :func:`inclusion_path` reads."""
    return _coords(_path_ranges(index, size))


def consistency_coords(m: int, n: int) -> set[Coord]:
    """Subtrees :func:`consistency_proof` reads."""
    return _coords(_proof_ranges(m, n))


def root(size: int, nodes: Mapping[Coord, bytes]) -> bytes:
    """MTH of the first ``size`` leaves; :data:`EMPTY_ROOT` for 0."""
    return _range_hash(0, size, nodes) if size else EMPTY_ROOT


def inclusion_path(index: int, size: int, nodes: Mapping[Coord, bytes]) -> list[bytes]:
    """RFC 9162 PATH(index, D[size]), from the leaf upwards."""
    return [_range_hash(a, b, nodes) for a, b in _path_ranges(index, size)]


def consistency_proof(m: int, n: int, nodes: Mapping[Coord, bytes]) -> list[bytes]:
    """RFC 9162 PROOF(m, D[n]) for 0 < m ≤ n (empty when m == n); the old root is included
    only when m is not a power of two, as SUBPROOF prescribes."""
    return [_range_hash(a, b, nodes) for a, b in _proof_ranges(m, n)]


# --------------------------------------------------------------------------- verification


def verify_inclusion(index: int, size: int, leaf: bytes, path: Sequence[bytes], root_hash: bytes) -> bool:
    """RFC 9162 §2.1.3.2, step for step."""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root_hash


def verify_consistency(m: int, n: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]) -> bool:
    """RFC 9162 §2.1.4.2, step for step. Beyond the RFC (which defines proofs for 0 < m < n):
    m == n is consistent iff the proof is empty and the roots are equal; m == 0 is refused
    because an empty tree is never signed (§4.1)."""
    if not 0 < m <= n:
        return False
    if m == n:
        return not proof and first_root == second_root
    if not proof:
        return False
    path = list(proof)
    if m & (m - 1) == 0:
        path.insert(0, first_root)
    fn, sn = m - 1, n - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return fr == first_root and sr == second_root and sn == 0


# --------------------------------------------------------------------------- references


def format_reference(size: int, root_hash: bytes) -> str:
    """§4.4 verificationReference ``"<size>:0x<64 hex>"``."""
    return f"{size}:0x{root_hash.hex()}"


_REFERENCE = re.compile(r"(0|[1-9][0-9]*):0[xX]([0-9a-fA-F]{64})")


def parse_reference(reference: str) -> tuple[int, bytes]:
    """Inverse of :func:`format_reference`; ``ValueError`` on anything else."""
    match = _REFERENCE.fullmatch(reference)
    if not match:
        raise ValueError("expected <treeSize>:0x<64 hex digits>")
    return int(match[1]), bytes.fromhex(match[2])


# --------------------------------------------------------------------------- signed notes


class NoteError(ValueError):
    """A note or verifier key is malformed, or its signature does not verify."""


_SIZE = re.compile(r"0|[1-9][0-9]*")
_SIG_PREFIX = "\u2014 "  # EM DASH + space opens every signature line


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise NoteError("invalid base64") from None


def _check_key_name(name: str) -> None:
    # C2SP: a key name is non-empty and has no whitespace or "+" (it delimits verifier keys).
    if not name or "+" in name or any(c.isspace() for c in name):
        raise NoteError(f"invalid key name {name!r}")


def note_text(origin: str, size: int, root_hash: bytes) -> str:
    """The three-line checkpoint body (each line ends in ``\\n``), the bytes that are signed."""
    if not origin or "\n" in origin:
        raise NoteError("origin must be one non-empty line")
    if size < 0 or len(root_hash) != 32:
        raise NoteError("tree size must be ≥ 0 and root 32 bytes")
    return f"{origin}\n{size}\n{_b64(root_hash)}\n"


def key_id(key_name: str, public_key: bytes) -> bytes:
    """4-byte C2SP key ID: SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)[:4]."""
    return hashlib.sha256(key_name.encode("utf-8") + b"\n\x01" + public_key).digest()[:4]


def verifier_key(key_name: str, public_key: bytes) -> str:
    """``<name>+<key ID hex>+<base64(0x01 ‖ public key)>``."""
    _check_key_name(key_name)
    encoded = _b64(b"\x01" + public_key)
    return f"{key_name}+{key_id(key_name, public_key).hex()}+{encoded}"


def parse_verifier_key(s: str) -> tuple[str, bytes, bytes]:
    """(name, key ID, 32-byte public key); the key ID must recompute. Splits at the first two
    ``+`` only because the base64 part may contain ``+``."""
    parts = s.strip().split("+", 2)
    if len(parts) != 3 or not re.fullmatch(r"[0-9a-fA-F]{8}", parts[1]):
        raise NoteError("verifier key must be <name>+<8 hex>+<base64>")
    name, kid, blob = parts[0], bytes.fromhex(parts[1]), _unb64(parts[2])
    _check_key_name(name)
    if len(blob) != 33 or blob[0] != 1:
        raise NoteError("verifier key is not an Ed25519 key")
    if key_id(name, blob[1:]) != kid:
        raise NoteError("verifier key ID does not match its key")
    return name, kid, blob[1:]


def _bundle_ref_message(export_id: str, sha256_hex: str) -> bytes:
    if not re.fullmatch(r"[0-9a-f]{64}", sha256_hex):
        raise ValueError("sha256 must be 64 lowercase hex digits")
    if not export_id or "\n" in export_id:
        raise ValueError("export id must be one non-empty line")
    return f"pacspace-bundle-ref/v1\n{export_id}\n{sha256_hex}\n".encode()


class NoteSigner:
    """The deployment's Ed25519 log key (one key signs every log; key name = each log's origin)."""

    def __init__(self, seed: bytes) -> None:
        if len(seed) != 32:
            raise ValueError("Ed25519 seed must be 32 bytes")
        self._key = Ed25519PrivateKey.from_private_bytes(seed)
        self.public_key: bytes = self._key.public_key().public_bytes_raw()

    @classmethod
    def generate(cls) -> NoteSigner:
        return cls(Ed25519PrivateKey.generate().private_bytes_raw())

    @classmethod
    def from_base64_seed(cls, text: str) -> NoteSigner:
        """``LOG_SIGNING_KEY`` form: standard base64 of the 32-byte seed."""
        try:
            return cls(base64.b64decode(text.strip(), validate=True))
        except binascii.Error:
            raise ValueError("signing key is not valid base64") from None

    @classmethod
    def from_pem(cls, pem: bytes) -> NoteSigner:
        """Unencrypted PKCS#8 PEM Ed25519 private key."""
        key = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(key, Ed25519PrivateKey):
            # A wrong key kind is a configuration value problem, reported like a bad seed.
            raise ValueError("PEM key is not Ed25519")  # noqa: TRY004
        return cls(key.private_bytes_raw())

    @classmethod
    def from_file_contents(cls, data: bytes) -> NoteSigner:
        """``LOG_SIGNING_KEY_FILE`` contents: PEM or base64 seed text."""
        if data.lstrip().startswith(b"-----BEGIN"):
            return cls.from_pem(data)
        return cls.from_base64_seed(data.decode("ascii"))

    def private_seed_base64(self) -> str:
        return _b64(self._key.private_bytes_raw())

    def public_key_base64(self) -> str:
        return _b64(self.public_key)

    def key_id(self, origin: str) -> bytes:
        return key_id(origin, self.public_key)

    def verifier_key(self, origin: str) -> str:
        return verifier_key(origin, self.public_key)

    def sign_note(self, origin: str, size: int, root_hash: bytes) -> str:
        """Full signed note: text, blank line, one ``— <origin> <base64(key ID ‖ sig)>`` line."""
        _check_key_name(origin)
        text = note_text(origin, size, root_hash)
        signature = self._key.sign(text.encode("utf-8"))
        return f"{text}\n{_SIG_PREFIX}{origin} {_b64(self.key_id(origin) + signature)}\n"

    def sign_bundle_ref(self, export_id: str, sha256_hex: str) -> str:
        """§7.5: base64 Ed25519 signature over ``pacspace-bundle-ref/v1\\n{id}\\n{sha256}\\n``."""
        return _b64(self._key.sign(_bundle_ref_message(export_id, sha256_hex)))


def verify_bundle_ref(public_key: bytes, export_id: str, sha256_hex: str, signature_b64: str) -> bool:
    """Check a §7.5 bundle reference signature."""
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(
            _unb64(signature_b64), _bundle_ref_message(export_id, sha256_hex)
        )
    except (InvalidSignature, ValueError):
        return False
    return True


def _parse_text(text: str) -> tuple[str, int, bytes]:
    lines = text.split("\n")
    if len(lines) != 4 or lines[3] != "":
        raise NoteError("note text must be exactly three lines")
    origin, size_text, root_text = lines[:3]
    if not origin or not _SIZE.fullmatch(size_text):
        raise NoteError("malformed origin or tree size")
    root_hash = _unb64(root_text)
    if len(root_hash) != 32:
        raise NoteError("root hash must be 32 bytes")
    return origin, int(size_text), root_hash


def _signature_by(signatures: str, name: str, kid: bytes) -> bytes:
    for line in signatures.split("\n")[:-1]:
        if not line.startswith(_SIG_PREFIX):
            raise NoteError("malformed signature line")
        fields = line[len(_SIG_PREFIX) :].split(" ")
        if len(fields) != 2:
            raise NoteError("malformed signature line")
        blob = _unb64(fields[1])
        if fields[0] == name and blob[:4] == kid and len(blob) == 68:
            return blob[4:]
    raise NoteError("no signature by this key")


def open_note(note: str, verifier: str) -> tuple[str, int, bytes]:
    """Verify a signed note against a verifier key string; return (origin, size, root).

    The caller compares the origin with the log it expects: a valid signature only proves the
    key holder signed this text.
    """
    name, kid, public_key = parse_verifier_key(verifier)
    text, sep, signatures = note.partition("\n\n")
    if not sep or not signatures.endswith("\n"):
        raise NoteError("note has no signature block")
    text += "\n"  # the first "\n" of the separator ends the text's last line
    signature = _signature_by(signatures, name, kid)
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, text.encode("utf-8"))
    except InvalidSignature:
        raise NoteError("signature does not verify") from None
    return _parse_text(text)
