"""Trusted roots load into one immutable object; malformed or incomplete ones are refused."""

from __future__ import annotations

import copy
import json

import pytest

from airlock.errors import TrustRootError
from airlock.testing import SigstoreInstance
from airlock.trust import TrustedRoot
from conftest import PRODUCTION_ROOT, SIGSTORE_PYTHON, shared


@pytest.fixture(scope="module")
def document() -> dict:
    return SigstoreInstance().trusted_root()


def load(doc: dict) -> TrustedRoot:
    return TrustedRoot.from_json(json.dumps(doc))


def test_public_good_root():
    root = TrustedRoot.from_file(shared(PRODUCTION_ROOT))
    assert [log.base_url for log in root.tlogs] == ["https://rekor.sigstore.dev", "https://log2025-1.rekor.sigstore.dev"]
    assert root.tlogs[0].log_id.hex() == "c0d23d6ad406973f9559f3ba2d1ca01f84147d8ffc5b8445c224f98b9591801d"
    assert root.tlogs[0].note_key_hint.hex() == "c0d23d6a"
    assert root.tlogs[1].key_details == "PKIX_ED25519"
    assert root.tlogs[1].note_key_hint == root.tlogs[1].log_id[:4]  # Rekor v2: id = sha256(origin\n\x01key)
    assert len(root.certificate_authorities) == 2 and len(root.ctlogs) == 2
    assert root.certificate_authorities[0].valid_for.end.year == 2022
    assert all(ca.chain_problem is None for ca in root.certificate_authorities)
    with pytest.raises(AttributeError):
        root.tlogs = ()  # immutable


def test_client_trust_config_is_unwrapped(document):
    config = {"mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json", "trustedRoot": document}
    assert len(load(config).tlogs) == len(load(document).tlogs)


@pytest.mark.parametrize("media_type", [
    "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
    "application/vnd.dev.sigstore.trustedroot.v0.1+json",
    "application/vnd.dev.sigstore.trustedroot.v0.2+json",
])
def test_accepted_media_types(document, media_type):
    assert load({**document, "mediaType": media_type}).tlogs


def mutate(document: dict, path: list, value=None, delete: bool = False) -> dict:
    doc = copy.deepcopy(document)
    target = doc
    for part in path[:-1]:
        target = target[part]
    if delete:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return doc


@pytest.mark.parametrize("path,value,delete,reason", [
    (["mediaType"], "bad-media-type", False, "unsupported mediaType"),
    (["tlogs", 0, "logId"], None, True, "tlogs[0]: missing logId"),
    (["tlogs", 0, "logId", "keyId"], "AAAA", False, "logId.keyId must be 32 bytes"),
    (["tlogs", 0, "publicKey", "rawBytes"], None, True, "missing rawBytes"),
    (["tlogs", 0, "publicKey", "rawBytes"], "bm90IGEga2V5", False, "not a PEM or DER public key"),
    (["tlogs", 0, "publicKey", "validFor"], None, True, "tlogs[0]: missing validFor"),
    (["tlogs", 0, "publicKey", "validFor", "start"], None, True, "validFor has no start"),
    (["tlogs", 0, "publicKey", "validFor", "start"], "yesterday", False, "not an RFC 3339 time"),
    (["tlogs", 0, "hashAlgorithm"], "SHA1", False, "unsupported hashAlgorithm"),
    (["ctlogs", 0, "publicKey", "validFor", "start"], None, True, "ctlogs[0]: validFor has no start"),
    (["certificateAuthorities", 0, "certChain", "certificates"], [], False, "certChain is empty"),
    (["certificateAuthorities", 0, "certChain", "certificates", 0, "rawBytes"], "AAAA", False, "not a DER certificate"),
    (["timestampAuthorities", 0, "certChain"], None, True, "missing certChain"),
    (["tlogs"], {"not": "a list"}, False, "tlogs must be a list"),
])
def test_malformed_roots_rejected(document, path, value, delete, reason):
    with pytest.raises(TrustRootError) as error:
        load(mutate(document, path, value, delete))
    assert reason in str(error.value)


def test_window_ending_before_start(document):
    doc = mutate(document, ["tlogs", 0, "publicKey", "validFor"], {"start": "2025-01-01T00:00:00Z",
                                                                   "end": "2024-01-01T00:00:00Z"})
    with pytest.raises(TrustRootError, match="ends before it starts"):
        load(doc)


def test_not_json_and_missing_file(tmp_path):
    with pytest.raises(TrustRootError, match="not valid JSON"):
        TrustedRoot.from_json(b"{")
    with pytest.raises(TrustRootError, match="No such file"):
        TrustedRoot.from_file(tmp_path / "absent.json")


def test_sigstore_python_trust_root_assets():
    base = shared(SIGSTORE_PYTHON / "trusted_root")
    assert TrustedRoot.from_file(base / "trustedroot.v1.json").tlogs
    assert TrustedRoot.from_file(base / "trustedroot.v1.local_tlog_ed25519_rekor-tiles.json").tlogs
    with pytest.raises(TrustRootError, match="unsupported mediaType 'bad-media-type'"):
        TrustedRoot.from_file(base / "trustedroot.badtype.json")
