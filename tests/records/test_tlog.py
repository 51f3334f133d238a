"""Golden vectors of proofs.md §8.5–§8.7 and cross-checks of records.tlog against an independent
RFC 6962 implementation written here (recursive over a plain list, with its own verifiers in the
style of transparency-dev/merkle rather than the RFC 9162 step lists tlog.py follows)."""

from __future__ import annotations

import base64
import hashlib
import random
from collections.abc import Callable

import pytest

from records import tlog
from records.tlog import (
    EMPTY_ROOT,
    NoteError,
    NoteSigner,
    consistency_coords,
    consistency_proof,
    format_reference,
    inclusion_coords,
    inclusion_path,
    leaf_hash,
    new_subtrees,
    open_note,
    parse_reference,
    parse_verifier_key,
    root,
    root_coords,
    verify_bundle_ref,
    verify_consistency,
    verify_inclusion,
)

L1 = bytes.fromhex("64db74c7b75196b5e6b5d8b0bfaa50b2bab775179bc3ff8ccaa0dea8d9b22de3")
L2 = bytes.fromhex("fb1052c48bc67d1963d116d9abef99234ac75a55621f5939aaa417717b717d80")
L3 = bytes.fromhex("22fc0969e609e25346d01875f887b7433d19fe1d04eb9725414f80cf9e1e686a")
SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
ORIGIN = "records.example.com/tnt_m3n5p7q2r4s6t3v5w7x2/production"
VERIFIER = (
    "records.example.com/tnt_m3n5p7q2r4s6t3v5w7x2/production"
    "+21fd5c4b+AddamAGCsQq31Uv+08lkBzoO4XLz2qYjJa8CGmj3B1Ea"
)
NOTE = (
    "records.example.com/tnt_m3n5p7q2r4s6t3v5w7x2/production\n"
    "3\n"
    "eYu8KEAarfLv1XmFK+KAKpcSSdeOSARd0pPrtgoOgdg=\n"
    "\n"
    "\u2014 records.example.com/tnt_m3n5p7q2r4s6t3v5w7x2/production "
    "If1cS8veaAmiGP/HneaRy9XglAO3QTQrpsyd8b/hgFko9FxnYA9CxaCYRWV2ar/wqt++0f4lc2c4LaJyEhVJrB1IPAU=\n"
)
Nodes = dict[tuple[int, int], bytes]


def _rng(seed: int) -> random.Random:
    return random.Random(seed)  # noqa: S311 - reproducible test data, not secrets


# ----------------------------------------------------------------------------- independent RFC 6962


def ref_leaf(data: bytes) -> bytes:
    return hashlib.sha256(bytes([0]) + data).digest()


def ref_node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(bytes([1]) + left + right).digest()


def ref_k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(leaves: list[bytes]) -> bytes:
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = ref_k(len(leaves))
    return ref_node(ref_mth(leaves[:k]), ref_mth(leaves[k:]))


def ref_path(m: int, leaves: list[bytes]) -> list[bytes]:
    if len(leaves) == 1:
        return []
    k = ref_k(len(leaves))
    if m < k:
        return ref_path(m, leaves[:k]) + [ref_mth(leaves[k:])]
    return ref_path(m - k, leaves[k:]) + [ref_mth(leaves[:k])]


def ref_subproof(m: int, leaves: list[bytes], complete: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if complete else [ref_mth(leaves)]
    k = ref_k(n)
    if m <= k:
        return ref_subproof(m, leaves[:k], complete) + [ref_mth(leaves[k:])]
    return ref_subproof(m - k, leaves[k:], False) + [ref_mth(leaves[:k])]


def _chain_inner(seed: bytes, proof: list[bytes], index: int) -> bytes:
    for i, h in enumerate(proof):
        seed = ref_node(seed, h) if (index >> i) & 1 == 0 else ref_node(h, seed)
    return seed


def _chain_inner_right(seed: bytes, proof: list[bytes], index: int) -> bytes:
    for i, h in enumerate(proof):
        if (index >> i) & 1:
            seed = ref_node(h, seed)
    return seed


def _chain_border_right(seed: bytes, proof: list[bytes]) -> bytes:
    for h in proof:
        seed = ref_node(h, seed)
    return seed


def _decompose(index: int, size: int) -> tuple[int, int]:
    inner = (index ^ (size - 1)).bit_length()
    return inner, bin(index >> inner).count("1")


def ref_verify_inclusion(index: int, size: int, leaf: bytes, proof: list[bytes], root_hash: bytes) -> bool:
    if index >= size:
        return False
    inner, border = _decompose(index, size)
    if len(proof) != inner + border:
        return False
    calc = _chain_border_right(_chain_inner(leaf, proof[:inner], index), proof[inner:])
    return calc == root_hash


def ref_verify_consistency(size1: int, size2: int, root1: bytes, root2: bytes, proof: list[bytes]) -> bool:
    if size1 < 1 or size2 < size1:
        return False
    if size1 == size2:
        return not proof and root1 == root2
    if not proof:
        return False
    inner, border = _decompose(size1 - 1, size2)
    shift = (size1 & -size1).bit_length() - 1
    inner -= shift
    seed, start = (root1, 0) if size1 == 1 << shift else (proof[0], 1)
    if len(proof) != start + inner + border:
        return False
    rest = proof[start:]
    mask = (size1 - 1) >> shift
    hash1 = _chain_border_right(_chain_inner_right(seed, rest[:inner], mask), rest[inner:])
    hash2 = _chain_border_right(_chain_inner(seed, rest[:inner], mask), rest[inner:])
    return hash1 == root1 and hash2 == root2


# ----------------------------------------------------------------------------- helpers


def _recording_get(nodes: Nodes, asked: list[tuple[int, int]]) -> Callable[[int, int], bytes]:
    def get(level: int, index: int) -> bytes:
        asked.append((level, index))
        return nodes[(level, index)]

    return get


def _store(leaves: list[bytes], batches: list[int]) -> Nodes:
    """Append ``leaves`` through new_subtrees in the given batch sizes, like the seal worker."""
    nodes: Nodes = {}
    size = 0
    for count in batches:
        batch = leaves[size : size + count]
        asked: list[tuple[int, int]] = []
        created = new_subtrees(size, batch, _recording_get(nodes, asked))
        assert set(asked) <= root_coords(size), "get() asked for something not on the old right edge"
        for level, index, h in created:
            assert (level, index) not in nodes, "a subtree was created twice"
            nodes[(level, index)] = h
        size += count
    return nodes


def _uneven(total: int, rng: random.Random) -> list[int]:
    batches = []
    while total:
        step = min(total, rng.choice([1, 2, 3, 5, 8, 13]))
        batches.append(step)
        total -= step
    return batches


def _only(nodes: Nodes, coords: set[tuple[int, int]]) -> Nodes:
    return {c: nodes[c] for c in coords}


@pytest.fixture(scope="module")
def leaves70() -> list[bytes]:
    rng = _rng(9162)
    return [ref_leaf(rng.randbytes(32)) for _ in range(70)]


# ----------------------------------------------------------------------------- §8.5 vectors


def test_log_vectors() -> None:
    leaves = [leaf_hash(x) for x in (L1, L2, L3)]
    assert [h.hex() for h in leaves] == [
        "fa4f7855d725a82799cfdb2c94e31dcc46d6dd83fba34c423c15616615acfc15",
        "15c7994c392db4bc7e01039beda626030ae2e127ed703e021dba21f71ea9b5af",
        "a8849662d41288c63cd111589b4e8f195144fae2c65786a7769cee86e0e58acc",
    ]
    nodes = _store(leaves, [3])
    root2 = bytes.fromhex("6104285500c146297f79d10ad8eb0ce80a736e127e7d8071bb6fed9f8ff883ec")
    root3 = bytes.fromhex("798bbc28401aadf2efd579852be2802a971249d78e48045dd293ebb60a0e81d8")
    assert root(2, nodes) == root2
    assert root(3, nodes) == root3
    assert base64.b64encode(root3).decode() == "eYu8KEAarfLv1XmFK+KAKpcSSdeOSARd0pPrtgoOgdg="
    assert root(0, {}) == EMPTY_ROOT
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert inclusion_path(0, 3, nodes) == [leaves[1], leaves[2]]
    assert inclusion_path(1, 3, nodes) == [leaves[0], leaves[2]]
    assert inclusion_path(2, 3, nodes) == [root2]
    assert consistency_proof(1, 3, nodes) == [leaves[1], leaves[2]]
    assert consistency_proof(2, 3, nodes) == [leaves[2]]
    assert (
        format_reference(3, root3) == "3:0x798bbc28401aadf2efd579852be2802a971249d78e48045dd293ebb60a0e81d8"
    )
    assert parse_reference(format_reference(3, root3)) == (3, root3)


# ----------------------------------------------------------------------------- §8.6 / §8.7 notes


def test_signed_note_vectors() -> None:
    signer = NoteSigner.from_base64_seed("nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=")
    assert signer.public_key.hex() == "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
    assert signer.public_key_base64() == "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
    assert signer.private_seed_base64() == "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A="
    assert tlog.key_id(ORIGIN, signer.public_key).hex() == "21fd5c4b"
    assert signer.verifier_key(ORIGIN) == VERIFIER
    root3 = bytes.fromhex("798bbc28401aadf2efd579852be2802a971249d78e48045dd293ebb60a0e81d8")
    note = signer.sign_note(ORIGIN, 3, root3)
    assert note == NOTE
    note_sha = "1cda23da65caaa6b1265667613b0377152ff490619aafa4a628209b50b915e58"
    assert hashlib.sha256(note.encode()).hexdigest() == note_sha
    assert open_note(note, VERIFIER) == (ORIGIN, 3, root3)
    assert parse_verifier_key(VERIFIER) == (ORIGIN, bytes.fromhex("21fd5c4b"), signer.public_key)


def test_bundle_reference_vector() -> None:
    signer = NoteSigner(SEED)
    sha = hashlib.sha256(b"example bundle bytes").hexdigest()
    assert sha == "5312a06431420245deee27c571cf4265d174f30e9ba7ddd698e93b375f49fce3"
    signature = signer.sign_bundle_ref("exp_a2b3c4d5e6f7g2h3i4j5", sha)
    assert signature == (
        "TbLtgxgDI2lFnxTH9XJ9cO1iuAmVqnJVEU52ZNex9mp8UQEIgTw20qyCiCSU2gXwB/kvTPcMZ3BkwZXi4wzaCA=="
    )
    assert verify_bundle_ref(signer.public_key, "exp_a2b3c4d5e6f7g2h3i4j5", sha, signature)
    assert not verify_bundle_ref(signer.public_key, "exp_a2b3c4d5e6f7g2h3i4j6", sha, signature)


def test_signer_loads_pem_and_generates() -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    pem = Ed25519PrivateKey.from_private_bytes(SEED).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    assert NoteSigner.from_pem(pem).public_key == NoteSigner(SEED).public_key
    assert NoteSigner.from_file_contents(pem).public_key == NoteSigner(SEED).public_key
    assert NoteSigner.from_file_contents(b"nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=\n").public_key == (
        NoteSigner(SEED).public_key
    )
    fresh = NoteSigner.generate()
    assert NoteSigner.from_base64_seed(fresh.private_seed_base64()).public_key == fresh.public_key
    with pytest.raises(ValueError):
        NoteSigner.from_base64_seed("not base64!")


def test_open_note_rejects_tampering_and_wrong_keys() -> None:
    other = NoteSigner.generate()
    with pytest.raises(NoteError, match="no signature by this key"):
        open_note(NOTE, other.verifier_key(ORIGIN))
    # Same key, but a note for another origin is signed under another key name (and ID).
    with pytest.raises(NoteError, match="no signature by this key"):
        open_note(NOTE, NoteSigner(SEED).verifier_key("records.example.com/other/production"))
    tampered = NOTE.replace("\n3\n", "\n4\n")
    with pytest.raises(NoteError, match="does not verify"):
        open_note(tampered, VERIFIER)
    with pytest.raises(NoteError):
        open_note(NOTE.replace("\n\n", "\n"), VERIFIER)
    forged_id = VERIFIER.replace("+21fd5c4b+", "+21fd5c4c+")
    with pytest.raises(NoteError, match="key ID"):
        parse_verifier_key(forged_id)


def test_open_note_ignores_other_signers() -> None:
    extra = "\u2014 witness.example AAAAAAAA\n"
    assert open_note(NOTE + extra, VERIFIER)[1] == 3
    assert open_note(NOTE[: NOTE.index("\u2014")] + extra + NOTE[NOTE.index("\u2014") :], VERIFIER)[1] == 3


# ----------------------------------------------------------------------------- cross-checks


def test_inclusion_paths_match_independent_implementation(leaves70: list[bytes]) -> None:
    rng = _rng(1)
    one_by_one = _store(leaves70, [1] * 70)
    batched = _store(leaves70, _uneven(70, rng))
    assert one_by_one == batched
    for size in range(1, 71):
        expected_root = ref_mth(leaves70[:size])
        assert root(size, _only(batched, root_coords(size))) == expected_root
        for index in range(size):
            nodes = _only(batched, inclusion_coords(index, size))
            assert len(nodes) <= 2 * size.bit_length()
            path = inclusion_path(index, size, nodes)
            assert path == ref_path(index, leaves70[:size])
            assert verify_inclusion(index, size, leaves70[index], path, expected_root)
            assert ref_verify_inclusion(index, size, leaves70[index], path, expected_root)


def test_every_stored_subtree_is_the_independent_subtree_hash(leaves70: list[bytes]) -> None:
    nodes = _store(leaves70, _uneven(70, _rng(2)))
    assert len(nodes) == 2 * 70 - bin(70).count("1")  # every complete subtree, nothing else
    for (level, index), h in nodes.items():
        assert h == ref_mth(leaves70[index << level : (index + 1) << level])


def _check_consistency(m: int, n: int, leaves: list[bytes], nodes: Nodes) -> None:
    proof = consistency_proof(m, n, _only(nodes, consistency_coords(m, n)))
    assert proof == ref_subproof(m, leaves[:n], True)
    r1, r2 = ref_mth(leaves[:m]), ref_mth(leaves[:n])
    assert verify_consistency(m, n, r1, r2, proof)
    assert ref_verify_consistency(m, n, r1, r2, proof)


def test_consistency_proofs_all_pairs_up_to_40(leaves70: list[bytes]) -> None:
    nodes = _store(leaves70[:40], _uneven(40, _rng(3)))
    for n in range(1, 41):
        for m in range(1, n + 1):
            _check_consistency(m, n, leaves70, nodes)


def test_consistency_proofs_random_pairs_up_to_70(leaves70: list[bytes]) -> None:
    rng = _rng(4)
    nodes = _store(leaves70, _uneven(70, rng))
    for _ in range(400):
        n = rng.randint(1, 70)
        _check_consistency(rng.randint(1, n), n, leaves70, nodes)


def _flip(data: bytes) -> bytes:
    return bytes([data[0] ^ 1]) + data[1:]


def test_flipped_bytes_fail_both_verifiers(leaves70: list[bytes]) -> None:
    nodes = _store(leaves70, [70])
    for index, size in [(0, 1), (5, 6), (13, 70), (69, 70), (31, 64)]:
        path = inclusion_path(index, size, nodes)
        good = root(size, nodes)
        bad_paths = [[_flip(p) if i == j else p for i, p in enumerate(path)] for j in range(len(path))]
        for verify in (verify_inclusion, ref_verify_inclusion):
            assert not verify(index, size, _flip(leaves70[index]), path, good)
            assert not verify(index, size, leaves70[index], path, _flip(good))
            assert all(not verify(index, size, leaves70[index], p, good) for p in bad_paths)
            assert not verify(index, size, leaves70[index], path + [good], good)
            if index ^ 1 < size:
                assert not verify(index ^ 1, size, leaves70[index], path, good)
    for m, n in [(1, 2), (3, 7), (4, 9), (32, 70), (63, 64)]:
        proof = consistency_proof(m, n, nodes)
        r1, r2 = root(m, nodes), root(n, nodes)
        for verify_c in (verify_consistency, ref_verify_consistency):
            assert not verify_c(m, n, _flip(r1), r2, proof)
            assert not verify_c(m, n, r1, _flip(r2), proof)
            assert not verify_c(m, n, r1, r2, proof[:-1])
            assert all(
                not verify_c(m, n, r1, r2, [_flip(p) if i == j else p for i, p in enumerate(proof)])
                for j in range(len(proof))
            )


def test_range_arguments_are_checked() -> None:
    with pytest.raises(ValueError):
        inclusion_path(3, 3, {})
    with pytest.raises(ValueError):
        consistency_proof(0, 3, {})
    with pytest.raises(ValueError):
        consistency_proof(4, 3, {})
    with pytest.raises(ValueError):
        tlog.subtrees_for_range(1, 3)  # not a range the RFC recursion produces
    assert tlog.subtrees_for_range(8, 15) == [(2, 2), (1, 6), (0, 14)]
    assert consistency_proof(3, 3, {}) == []
    assert verify_consistency(3, 3, b"r" * 32, b"r" * 32, [])
    assert not verify_consistency(0, 3, EMPTY_ROOT, b"r" * 32, [])
