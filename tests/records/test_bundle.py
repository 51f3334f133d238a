"""Export bundle (proofs.md §7): the zip layout, the JSON writers, and the shipped verify.py run as a
customer would run it — on intact bundles (with and without ``cryptography``) and tampered copies.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import io
import json
import random
import shutil
import subprocess
import sys
import zipfile
from decimal import Decimal
from pathlib import Path
from types import ModuleType

import pytest

from records import proofs, tlog
from records.bundle import BUNDLE_ENTRIES, build_bundle, dumps_document, proofs_document, verify_script
from tests.records import bundle_fixtures as fx

VERIFY_PY = Path(__file__).resolve().parents[2] / "records" / "bundle" / "verify.py"
CHECKS = ["manifest", "content-hashes", "chain", "proof-root", "inclusion", "log-key", "signature"]
ALL_PASS = [f"PASS {c}" for c in CHECKS] + ["RESULT: PASS"]
LIVE_SKIP = "SKIP proof-root: live basis bundle has no checkpoint, so there is no proof root (not applicable)"
NO_CRYPTO = "SKIP signature: the 'cryptography' package is not installed (pip install cryptography)"


@pytest.fixture(scope="module")
def world() -> fx.World:
    return fx.make_world()


@pytest.fixture(scope="module")
def checkpoint_zip(world: fx.World) -> bytes:
    return fx.bundle_bytes(world, "checkpoint")


@pytest.fixture(scope="module")
def live_zip(world: fx.World) -> bytes:
    return fx.bundle_bytes(world, "live")


@pytest.fixture
def bundle(tmp_path: Path, checkpoint_zip: bytes) -> Path:
    return unpack(checkpoint_zip, tmp_path / "bundle")


@pytest.fixture
def live_bundle(tmp_path: Path, live_zip: bytes) -> Path:
    return unpack(live_zip, tmp_path / "live")


@pytest.fixture(scope="module")
def verify_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bundle_verify_under_test", VERIFY_PY)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --------------------------------------------------------------------------- helpers


def unpack(data: bytes, directory: Path) -> Path:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        archive.extractall(directory)
    return directory


def run_verify(*args: str, script: Path, env: dict[str, str] | None = None,
               cwd: Path | None = None) -> tuple[int, list[str], str]:
    proc = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, str(script), *args], capture_output=True, text=True, timeout=120, env=env, cwd=cwd,
    )
    return proc.returncode, proc.stdout.splitlines(), proc.stderr


def verify(directory: Path, **kwargs) -> tuple[int, list[str]]:
    code, lines, _ = run_verify(str(directory), script=directory / "verify.py", **kwargs)
    return code, lines


def expect(overrides: dict[str, str], *, live: bool = False) -> list[str]:
    """The full expected output: every check PASS except the given ``check -> line`` overrides."""
    lines = [overrides.get(c, f"PASS {c}") for c in CHECKS]
    if live and "proof-root" not in overrides:
        lines[3] = LIVE_SKIP
    failed = any(line.startswith("FAIL") for line in lines)
    return lines + ["RESULT: FAIL" if failed else "RESULT: PASS"]


def rewrite(directory: Path, name: str, data: bytes, *, update_manifest: bool = True) -> None:
    """Replace a bundle file; by default also re-list it in manifest.json so only later checks see it."""
    (directory / name).write_bytes(data)
    if update_manifest:
        path = directory / "manifest.json"
        manifest = json.loads(path.read_bytes())
        for entry in manifest["files"]:
            if entry["path"] == name:
                entry.update(sha256=hashlib.sha256(data).hexdigest(), size=len(data))
        path.write_bytes(dumps_document(manifest))


def replace_once(directory: Path, name: str, old: str, new: str, **kwargs) -> None:
    text = (directory / name).read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} must occur exactly once in {name}"
    rewrite(directory, name, text.replace(old, new).encode("utf-8"), **kwargs)


def edit_json(directory: Path, name: str, change) -> None:
    doc = json.loads((directory / name).read_bytes(), parse_float=Decimal)
    change(doc)
    rewrite(directory, name, dumps_document(doc))


# --------------------------------------------------------------------------- fixtures are the spec's data


def test_fixture_history_reproduces_the_spec_vectors(world: fx.World) -> None:
    d1, d2, d3 = (world.deltas[k] for k in ("d1", "d2", "d3"))
    assert proofs.canonical_json(d1.item).decode() == (
        '{"adjusts":null,"createdAt":"2026-04-01T23:59:58.120Z","customerId":"acct-9001","delta":"-12.5",'
        '"metadata":{"note":"café","tags":["gpu",true,null],"tokens":1250000},'
        '"reason":"daily_usage_flush:2026-04-01","referenceId":"usage:acct-9001:2026-04-01",'
        '"vendorAccountId":"cmw_k2m4q6s3u2w4y6a3c5e7"}'
    )
    assert [d.content.hex() for d in (d1, d2, d3)] == [
        "64db74c7b75196b5e6b5d8b0bfaa50b2bab775179bc3ff8ccaa0dea8d9b22de3",
        "fb1052c48bc67d1963d116d9abef99234ac75a55621f5939aaa417717b717d80",
        "22fc0969e609e25346d01875f887b7433d19fe1d04eb9725414f80cf9e1e686a",
    ]
    assert d3.proof.hex() == "18bef795b260cac0c5221889af2f97d6f988fc46a36a6516653e094734c8d129"
    # Other customers' leaves sit between ours, and May continues April's chain.
    assert [world.deltas[k].leaf_index for k in ("d1", "d2", "d3", "d4", "d5", "d6")] == [1, 3, 7, 8, 11, 12]
    assert [world.deltas[k].chain_index for k in ("d5", "d6")] == [4, 5]
    assert world.deltas["d7"].state == "recording"
    assert world.signer.verifier_key(fx.ORIGIN) == (
        "records.example.com/tnt_m3n5p7q2r4s6t3v5w7x2/production"
        "+21fd5c4b+AddamAGCsQq31Uv+08lkBzoO4XLz2qYjJa8CGmj3B1Ea"
    )


# --------------------------------------------------------------------------- zip layout (§7.1, §7.4)


def test_zip_has_the_spec_entries_in_order_with_fixed_dates(checkpoint_zip: bytes) -> None:
    with zipfile.ZipFile(io.BytesIO(checkpoint_zip)) as archive:
        infos = archive.infolist()
        assert [i.filename for i in infos] == list(BUNDLE_ENTRIES) == [
            "manifest.json", "records.json", "records.csv", "statement.pdf", "proofs.json",
            "checkpoint.txt", "log-key.pub", "VERIFY.md", "verify.py",
        ]
        assert all(i.date_time == (1980, 1, 1, 0, 0, 0) for i in infos)
        assert all(i.compress_type == zipfile.ZIP_DEFLATED for i in infos)
        assert not any(i.is_dir() or "/" in i.filename for i in infos)
        files = {i.filename: archive.read(i) for i in infos}
    manifest = json.loads(files["manifest.json"])
    assert list(manifest) == ["schema", "exportId", "generatedAt", "customerId", "externalCustomerId",
                              "vendorAccountId", "identity", "scope", "files"]
    assert manifest["schema"] == "pacspace-bundle-manifest/v1"
    assert manifest["customerId"] == fx.CUSTOMER["customerId"]
    assert manifest["files"] == [
        {"path": name, "sha256": hashlib.sha256(files[name]).hexdigest(), "size": len(files[name])}
        for name in BUNDLE_ENTRIES[1:]
    ]


def test_bundle_files_hold_the_head_key_and_verifier(world: fx.World, checkpoint_zip: bytes) -> None:
    with zipfile.ZipFile(io.BytesIO(checkpoint_zip)) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    assert files["checkpoint.txt"].decode() == world.log.note()
    assert files["log-key.pub"] == world.signer.verifier_key(fx.ORIGIN).encode() + b"\n"
    assert files["verify.py"] == verify_script() == VERIFY_PY.read_bytes()
    guide = files["VERIFY.md"].decode()
    assert ("https://records.example.com/api/v1/log/key?origin="
            "records.example.com/tnt_m3n5p7q2r4s6t3v5w7x2/production") in guide
    assert "https://records.example.com/api/v1/log/proof/consistency?first=" in guide
    assert "$" not in guide  # every placeholder was substituted
    proofs_json = json.loads(files["proofs.json"], parse_float=Decimal)
    assert proofs_json["log"] == {
        "origin": fx.ORIGIN, "treeSize": 17, "rootHash": proofs.to_hex(world.log.root()),
        "keyName": fx.ORIGIN, "keyId": "21fd5c4b",
    }


def test_build_is_byte_reproducible(world: fx.World, checkpoint_zip: bytes) -> None:
    assert fx.bundle_bytes(world, "checkpoint") == checkpoint_zip


# --------------------------------------------------------------------------- JSON writers


def test_dumps_document_matches_json_dumps_for_plain_documents() -> None:
    doc = {"b": [1, {"x": None, "y": True}, [], {}], "a": "café \u2028 \"q\" \\ \n\x01", "z": False, "n": -3}
    assert dumps_document(doc) == (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode()
    assert dumps_document({}) == b"{}\n"


def test_dumps_document_writes_decimals_as_normalized_numbers() -> None:
    doc = {"amount": Decimal("-12.50"), "big": Decimal("1.25E6"), "zero": Decimal("-0.000"),
           "tiny": Decimal("2.5E-3"), "items": [Decimal("1E+2"), 7]}
    text = dumps_document(doc).decode()
    assert '"amount": -12.5,' in text and '"big": 1250000,' in text and '"zero": 0,' in text
    assert '"tiny": 0.0025,' in text and "    100,\n    7\n" in text
    assert json.loads(text, parse_float=Decimal) == doc
    with pytest.raises(TypeError):
        dumps_document({"amount": 1.5})


def test_proofs_document_shape_and_recording_records_left_out(world: fx.World) -> None:
    doc = fx.proofs_for(world, "live")
    assert list(doc) == ["schema", "log", "checkpoint", "records"]
    assert doc["checkpoint"] is None
    d5 = world.deltas["d5"]
    assert [r["recordId"] for r in doc["records"]] == [d5.record_id, world.deltas["d6"].record_id]
    assert doc["records"][0] == {
        "recordId": d5.record_id,
        "contentHash": proofs.to_hex(d5.content),
        "proofHash": proofs.to_hex(d5.proof),
        "previousProofHash": proofs.to_hex(d5.previous),
        "chainIndex": 4,
        "leafIndex": 11,
        "leafHash": proofs.to_hex(tlog.leaf_hash(d5.content)),
        "inclusionPath": [proofs.to_hex(h) for h in world.log.path(11)],
    }
    assert fx.proofs_for(world, "checkpoint")["checkpoint"] == {
        k: world.checkpoint[k] for k in ("checkpointId", "proofRoot", "recordCount")
    }


def test_proofs_document_refuses_a_path_that_does_not_reach_the_head(world: fx.World) -> None:
    d1 = world.deltas["d1"]
    row = {**fx.record_entry(d1), "leafHash": tlog.leaf_hash(d1.content), "inclusionPath": world.log.path(2)}
    with pytest.raises(ValueError, match=d1.record_id):
        proofs_document(origin=fx.ORIGIN, tree_size=world.log.size, root_hash=world.log.root(),
                        key_name=fx.ORIGIN, key_id_hex="21fd5c4b", checkpoint=None, records=[row])


# --------------------------------------------------------------------------- verify.py internals


def test_verify_keccak_matches_the_server_keccak(verify_module: ModuleType) -> None:
    rng = random.Random(6962)
    for length in range(301):
        data = rng.randbytes(length)
        assert verify_module.keccak256(data) == proofs.keccak256(data), length


def test_verify_canonical_json_matches_the_server(verify_module: ModuleType, world: fx.World) -> None:
    samples = [d.item for d in world.deltas.values()] + [
        {"s": "\x1f\x7f\u2028/é\b\f\n\r\t\"\\", "n": [Decimal("-0.50"), Decimal("1E+2"), 0, -5], "e": {}},
    ]
    for value in samples:
        assert verify_module.canonical_json(value) == proofs.canonical_json(value)
        assert verify_module.content_hash(value) == proofs.content_hash(value)
    for text, normalized in [("5", "5"), ("-0", "0"), ("1.2300", "1.23"), ("12.5e1", "125"),
                             ("-999999999.999999999999999999", "-999999999.999999999999999999")]:
        assert verify_module.normalize_decimal(Decimal(text)) == normalized


def test_verify_primitives_reproduce_the_spec_vectors(verify_module: ModuleType) -> None:
    v = verify_module
    leaves = [bytes.fromhex(h) for h in (
        "64db74c7b75196b5e6b5d8b0bfaa50b2bab775179bc3ff8ccaa0dea8d9b22de3",
        "fb1052c48bc67d1963d116d9abef99234ac75a55621f5939aaa417717b717d80",
        "22fc0969e609e25346d01875f887b7433d19fe1d04eb9725414f80cf9e1e686a",
    )]
    assert v.merkle_root(leaves).hex() == "d74988f15f00ae406f4a3f1e5ba69da1a071ce34afe4af71ac879ebeef2ac118"
    assert v.merkle_root([]) == bytes(32) and v.merkle_root(leaves[:1]) == leaves[0]
    assert v.proof_hash(bytes(32), leaves[0]).hex() == (
        "6a5d82e30b50f4902ade47feb1adb7942ed547d61f448d4fc8f96bcb7b8fbd12")
    lh = [v.leaf_hash(x) for x in leaves]
    root3 = bytes.fromhex("798bbc28401aadf2efd579852be2802a971249d78e48045dd293ebb60a0e81d8")
    assert v.verify_inclusion(0, 3, lh[0], [lh[1], lh[2]], root3)
    assert v.verify_inclusion(2, 3, lh[2], [hashlib.sha256(b"\x01" + lh[0] + lh[1]).digest()], root3)
    assert not v.verify_inclusion(1, 3, lh[1], [lh[2], lh[0]], root3)
    note = ("records.example.com/tnt_m3n5p7q2r4s6t3v5w7x2/production\n3\n"
            "eYu8KEAarfLv1XmFK+KAKpcSSdeOSARd0pPrtgoOgdg=\n\n"
            "\u2014 records.example.com/tnt_m3n5p7q2r4s6t3v5w7x2/production "
            "If1cS8veaAmiGP/HneaRy9XglAO3QTQrpsyd8b/hgFko9FxnYA9CxaCYRWV2ar/wqt++0f4lc2c4LaJyEhVJrB1IPAU=\n")
    text, origin, size, root, signatures = v.parse_note(note.encode())
    assert (origin, size, root) == (fx.ORIGIN, 3, root3)
    assert text == note.split("\n\n")[0].encode() + b"\n"
    assert [(n, k.hex()) for n, k, _ in signatures] == [(fx.ORIGIN, "21fd5c4b")]
    name, kid, key = v.parse_verifier_key(
        b"records.example.com/tnt_m3n5p7q2r4s6t3v5w7x2/production+21fd5c4b"
        b"+AddamAGCsQq31Uv+08lkBzoO4XLz2qYjJa8CGmj3B1Ea\n")
    assert key.hex() == "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
    assert v.key_id(name, key) == kid == bytes.fromhex("21fd5c4b")


def test_verify_json_loader_is_exact(verify_module: ModuleType) -> None:
    assert verify_module.load_json(b'{"a": 1.50}') == {"a": Decimal("1.50")}
    for bad in (b'{"a": 1, "a": 2}', b'{"a": NaN}', b'{"a": Infinity}'):
        with pytest.raises(ValueError):
            verify_module.load_json(bad)


# --------------------------------------------------------------------------- verify.py on intact bundles


def test_verify_passes_a_checkpoint_bundle(bundle: Path) -> None:
    assert verify(bundle) == (0, ALL_PASS)


def test_verify_passes_a_live_bundle_with_a_recording_record(live_bundle: Path) -> None:
    records = json.loads((live_bundle / "records.json").read_bytes())["records"]
    assert [r["state"] for r in records] == ["recorded", "recorded", "recording"]
    assert records[0]["chainIndex"] == 4  # a chain segment: May continues April's chain
    assert verify(live_bundle) == (0, expect({}, live=True))


def test_verify_defaults_to_its_own_directory(bundle: Path, tmp_path: Path) -> None:
    code, lines, _ = run_verify(script=bundle / "verify.py", cwd=tmp_path)
    assert (code, lines) == (0, ALL_PASS)


@pytest.mark.parametrize("basis", ["checkpoint", "live"])
def test_verify_skips_the_signature_without_cryptography(basis: str, bundle: Path, live_bundle: Path,
                                                         tmp_path: Path) -> None:
    # A "cryptography" package found first on sys.path that refuses to import, exactly like a
    # Python without it installed (a plain ImportError on `from cryptography... import`).
    fake = tmp_path / "no-cryptography" / "cryptography"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('cryptography is not installed')\n")
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(fake.parent)}
    directory = bundle if basis == "checkpoint" else live_bundle
    assert verify(directory, env=env) == (0, expect({"signature": NO_CRYPTO}, live=basis == "live"))


def test_verify_runs_on_python_3_9_when_available(bundle: Path) -> None:
    python39 = shutil.which("python3.9")
    probe = python39 and subprocess.run([python39, "-c", "pass"], capture_output=True)  # noqa: S603
    if not probe or probe.returncode != 0:
        pytest.skip("no runnable python3.9 on PATH")
    proc = subprocess.run([python39, str(bundle / "verify.py")], capture_output=True, text=True)  # noqa: S603
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.splitlines()[-1] == "RESULT: PASS"


# --------------------------------------------------------------------------- verify.py on tampered bundles


def test_changed_amount_fails_content_hashes_naming_the_record(bundle: Path, world: fx.World) -> None:
    d2 = world.deltas["d2"].record_id
    text = (bundle / "records.json").read_text(encoding="utf-8")
    text = text.replace('"amount": -7,', '"amount": -8,', 1).replace('"delta": "-7",', '"delta": "-8",', 1)
    rewrite(bundle, "records.json", text.encode())
    assert verify(bundle) == (1, expect({
        "content-hashes": f"FAIL content-hashes: {d2}: contentHash does not match the canonical fields",
        "proof-root": "FAIL proof-root: totals do not recompute (credits 7.25, debits -20.5)",
    }))


def test_changed_amount_only_fails_against_the_hashed_delta(bundle: Path, world: fx.World) -> None:
    replace_once(bundle, "records.json", '"amount": -7,', '"amount": -8,')
    d2 = world.deltas["d2"].record_id
    code, lines = verify(bundle)
    assert code == 1
    assert lines[1] == f"FAIL content-hashes: {d2}: amount -8 differs from the hashed delta -7"


def test_changed_file_without_manifest_update_fails_manifest(bundle: Path) -> None:
    replace_once(bundle, "records.json", '"amount": -7,', '"amount": -8,', update_manifest=False)
    code, lines = verify(bundle)
    assert code == 1
    assert lines[0] == "FAIL manifest: records.json does not match its SHA-256/size in manifest.json"
    assert lines[-1] == "RESULT: FAIL"


def test_unlisted_extra_file_fails_manifest(bundle: Path) -> None:
    (bundle / "notes.txt").write_text("added later\n")
    unlisted = "FAIL manifest: unlisted file(s) in the bundle: notes.txt"
    assert verify(bundle) == (1, expect({"manifest": unlisted}))


def test_missing_file_fails_manifest(bundle: Path) -> None:
    (bundle / "statement.pdf").unlink()
    assert verify(bundle) == (1, expect({"manifest": "FAIL manifest: statement.pdf is missing"}))


def test_removed_record_breaks_chain_root_and_inclusion(bundle: Path, world: fx.World) -> None:
    d2, d3 = world.deltas["d2"].record_id, world.deltas["d3"].record_id
    edit_json(bundle, "records.json", lambda doc: doc["records"].pop(1))
    assert verify(bundle) == (1, expect({
        "chain": f"FAIL chain: {d3}: chainIndex 2 does not follow 0",
        "proof-root": "FAIL proof-root: Merkle root of the contentHashes differs from checkpoint.proofRoot",
        "inclusion": f"FAIL inclusion: {d2}: in proofs.json but not a sealed record of records.json",
    }))


def test_removed_last_record_and_its_proof_still_fails_proof_root(bundle: Path) -> None:
    edit_json(bundle, "records.json", lambda doc: doc["records"].pop())
    edit_json(bundle, "proofs.json", lambda doc: doc["records"].pop())
    assert verify(bundle) == (1, expect({
        "proof-root": "FAIL proof-root: Merkle root of the contentHashes differs from checkpoint.proofRoot",
    }))


def test_reordered_records_fail_chain(bundle: Path, world: fx.World) -> None:
    def swap(doc):
        doc["records"][1], doc["records"][2] = doc["records"][2], doc["records"][1]

    edit_json(bundle, "records.json", swap)
    code, lines = verify(bundle)
    assert code == 1
    assert lines[2] == f"FAIL chain: {world.deltas['d3'].record_id}: chainIndex 2 does not follow 0"


def test_edited_note_tree_size_fails_inclusion_and_signature(bundle: Path) -> None:
    replace_once(bundle, "checkpoint.txt", "/production\n17\n", "/production\n16\n")
    assert verify(bundle) == (1, expect({
        "inclusion": "FAIL inclusion: proofs.json log fields do not match checkpoint.txt",
        "signature": "FAIL signature: Ed25519 signature does not verify with the key in log-key.pub",
    }))


def test_other_log_key_fails_log_key_and_signature(bundle: Path) -> None:
    other = tlog.NoteSigner(hashlib.sha256(b"another deployment").digest())
    rewrite(bundle, "log-key.pub", other.verifier_key(fx.ORIGIN).encode() + b"\n")
    other_id = other.key_id(fx.ORIGIN).hex()
    assert verify(bundle) == (1, expect({
        "log-key": f"FAIL log-key: checkpoint.txt is not signed by key {other_id} (it names 21fd5c4b)",
        "signature": "FAIL signature: checkpoint.txt has no signature by the key in log-key.pub",
    }))


def test_log_key_for_another_origin_fails_log_key(bundle: Path, world: fx.World) -> None:
    other_origin = "records.example.com/tnt_x/sandbox"
    rewrite(bundle, "log-key.pub", world.signer.verifier_key(other_origin).encode() + b"\n")
    code, lines = verify(bundle)
    assert code == 1
    assert lines[5] == (f"FAIL log-key: key name 'records.example.com/tnt_x/sandbox' is not the checkpoint "
                        f"origin '{fx.ORIGIN}'")


def test_corrupted_signature_fails_signature_only(bundle: Path) -> None:
    text = (bundle / "checkpoint.txt").read_text(encoding="utf-8")
    body, signature_line = text[:-1].rsplit("\n", 1)
    prefix, encoded = signature_line.rsplit(" ", 1)
    blob = bytearray(base64.b64decode(encoded))
    blob[-1] ^= 0x01  # key ID (first 4 bytes) untouched: only the Ed25519 signature is wrong
    rewrite(bundle, "checkpoint.txt", f"{body}\n{prefix} {base64.b64encode(bytes(blob)).decode()}\n".encode())
    assert verify(bundle) == (1, expect({
        "signature": "FAIL signature: Ed25519 signature does not verify with the key in log-key.pub",
    }))


def test_changed_recording_record_fails_content_hashes(live_bundle: Path, world: fx.World) -> None:
    replace_once(live_bundle, "records.json", '"amount": 0.5,', '"amount": 5,')
    replace_once(live_bundle, "records.json", '"delta": "0.5",', '"delta": "5",')
    d7 = world.deltas["d7"].record_id
    assert verify(live_bundle) == (1, expect({
        "content-hashes": f"FAIL content-hashes: {d7}: contentHash does not match the canonical fields",
    }, live=True))


def test_forged_inclusion_path_fails_inclusion(bundle: Path, world: fx.World) -> None:
    def forge(doc):
        path = doc["records"][0]["inclusionPath"]
        path[0], path[1] = path[1], path[0]

    edit_json(bundle, "proofs.json", forge)
    d1 = world.deltas["d1"].record_id
    code, lines = verify(bundle)
    assert code == 1
    assert lines[4] == f"FAIL inclusion: {d1}: inclusion path does not lead to the root of tree size 17"


def test_malformed_records_json_fails_instead_of_crashing(bundle: Path) -> None:
    rewrite(bundle, "records.json", b'{"records": [1, 2], "records": []}')
    code, lines = verify(bundle)
    assert code == 1
    assert lines[1].startswith("FAIL content-hashes: records.json: duplicate key 'records'")
    assert lines[-1] == "RESULT: FAIL"


# --------------------------------------------------------------------------- usage errors


def test_nonexistent_directory_is_a_usage_error(tmp_path: Path) -> None:
    code, lines, err = run_verify(str(tmp_path / "no-such-bundle"), script=VERIFY_PY)
    assert (code, lines) == (2, [])
    assert "cannot read bundle directory" in err


def test_too_many_arguments_is_a_usage_error(tmp_path: Path) -> None:
    code, lines, err = run_verify(str(tmp_path), str(tmp_path), script=VERIFY_PY)
    assert (code, lines) == (2, [])
    assert err.startswith("usage: python3 verify.py [BUNDLE_DIR]")


def test_build_refuses_a_manifest_that_disagrees_with_records_json(world: fx.World) -> None:
    doc = fx.records_document(world, "checkpoint")
    with pytest.raises(ValueError, match="scope differs"):
        build_bundle(
            export_id=fx.ident("exp_", "x"), generated_at=fx.GENERATED_AT, identity=fx.IDENTITY,
            customer=fx.CUSTOMER, scope={**doc["scope"], "period": "2026-03"},
            records_json=dumps_document(doc),
            records_csv=b"", statement_pdf=b"", proofs=fx.proofs_for(world, "checkpoint"),
            checkpoint_note=world.log.note(), verifier_key=world.signer.verifier_key(fx.ORIGIN),
            public_base_url=fx.PUBLIC_BASE_URL, origin=fx.ORIGIN,
        )
