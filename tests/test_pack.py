"""``airlock pack`` / ``unpack``: one checked, verified file across the gap.

Every hostile archive is built here byte for byte (tarfile writes what the attacker would), and
each refusal is asserted with its exact error and with the destination untouched: it does not
exist afterwards, and nothing was left beside it."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import random
import tarfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from airlock.formats import cosign
from airlock.oci import pack as packing
from airlock.testing import DEFAULT_IDENTITY, DEFAULT_ISSUER
from conftest import one_line_error, run_cli
from image_layouts import add_image, attach, key_layer, keyless_layer, new_layout

KEY = ("--insecure-ignore-tlog",)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Two layouts (``apps``: 3 signed images; ``tools``: 2) and the key that signed them."""
    base = tmp_path_factory.mktemp("packs")
    key = ec.generate_private_key(ec.SECP256R1())
    (base / "key.pub").write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                                 serialization.PublicFormat.SubjectPublicKeyInfo))
    digests = {}
    for name, count in (("apps", 3), ("tools", 2)):
        layout = new_layout(base / name)
        for i in range(count):
            digest = add_image(layout, f"registry.local/{name}/i{i}:1", b"%s %d" % (name.encode(), i))
            payload = cosign.simplesigning_payload(f"registry.local/{name}/i{i}", digest)
            attach(layout, digest, [key_layer(key, payload)])
            digests[f"registry.local/{name}/i{i}:1"] = digest
    for compress in ("gzip", "none"):
        result = run_cli("pack", "--dir", base / "apps", "--dir", base / "tools", "-o", base / f"{compress}.tar",
                         "--compress", compress)
        assert result.code == 0, result.stderr
    return base, digests


def unpack(archive: Path, destination: Path, *extra) -> object:
    return run_cli("unpack", archive, "--dir", destination, "--key", destination.parent / "key.pub", *KEY, *extra)


def untouched(destination: Path) -> None:
    assert not destination.exists()
    assert [p.name for p in destination.parent.iterdir() if p.name.startswith(".airlock-unpack-")] == []


def tree(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("compress", ["gzip", "none"])
def test_round_trip(world, compress):
    base, digests = world
    destination = base / f"out-{compress}"
    result = unpack(base / f"{compress}.tar", destination, "--output", "json", "--jobs", "2")
    assert result.code == 0, result.stderr
    report = json.loads(result.stdout)
    assert [(r["layout"], r["image"], r["verified"], r["signatures"], r["error"]) for r in report] == [
        (name.split("/")[1], f"{name}@{digest}", True, 1, None) for name, digest in digests.items()]
    for name in ("apps", "tools"):  # byte for byte what was packed (the lock file stays behind)
        assert tree(destination / "layouts" / name) == {k: v for k, v in tree(base / name).items()
                                                         if not k.startswith(".airlock")}
    verify = run_cli("verify", "--local-image", destination / "layouts" / "apps", "--key", base / "key.pub", *KEY)
    assert verify.code == 0 and len(json.loads(verify.stdout)) == 3
    assert (destination.stat().st_mode & 0o777) == 0o755


def test_text_report_and_existing_destination(world):
    base, digests = world
    destination = base / "text-out"
    destination.mkdir()  # an empty directory is fine
    result = unpack(base / "gzip.tar", destination)
    assert result.code == 0, result.stderr
    assert result.stdout.splitlines() == [f"verified {name}@{digest}" for name, digest in digests.items()]
    assert "Unpacked 5 verified image(s) into" in result.stderr
    again = unpack(base / "gzip.tar", destination)  # not empty now: refused before any work
    assert again.code == 2
    assert one_line_error(again) == f"Error: --dir {destination}: exists and is not an empty directory"


def test_an_image_that_does_not_verify_leaves_nothing(world, tmp_path):
    base, _ = world
    layout = new_layout(tmp_path / "mixed")
    good = add_image(layout, "registry.local/mixed/good:1", b"good")
    key = ec.generate_private_key(ec.SECP256R1())
    attach(layout, good, [key_layer(key, cosign.simplesigning_payload("registry.local/mixed/good", good))])
    bad = add_image(layout, "registry.local/mixed/unsigned:1", b"unsigned")
    (tmp_path / "key.pub").write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    assert run_cli("pack", "--dir", tmp_path / "mixed", "-o", tmp_path / "mixed.tar").code == 0
    result = unpack(tmp_path / "mixed.tar", tmp_path / "out", "--output", "json")
    error = one_line_error(result)
    assert result.code == 1
    assert error == (f"Error: unpack: 1 of 2 images did not verify; nothing was unpacked (registry.local/mixed/"
                     f"unsigned:1@{bad}: no signatures verified (no signatures found))")
    assert [(r["verified"], r["error"]) for r in json.loads(result.stdout)] == [
        (True, None), (False, f"registry.local/mixed/unsigned:1@{bad}: no signatures verified (no signatures found)")]
    untouched(tmp_path / "out")
    wrong_key = unpack(base / "gzip.tar", base / "wrong" / "out")  # no key.pub beside: the flag names a missing file
    assert wrong_key.code == 2 and "--key" in one_line_error(wrong_key)


def test_a_pack_without_images_is_refused_not_reported_as_unpacked(tmp_path):
    """A layout with no image (or a pack of no layout) verifies nothing: unpack must not exit 0
    saying it unpacked, and nothing is put at --dir."""
    key = ec.generate_private_key(ec.SECP256R1())
    (tmp_path / "key.pub").write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    new_layout(tmp_path / "empty")
    assert run_cli("pack", "--dir", tmp_path / "empty", "-o", tmp_path / "empty.tar").code == 0
    packing.write(str(tmp_path / "none.tar"), [])
    empty = unpack(tmp_path / "empty.tar", tmp_path / "out")
    assert empty.code == 2
    assert one_line_error(empty) == f"Error: {tmp_path / 'out' / 'layouts' / 'empty'}: the layout holds no image"
    untouched(tmp_path / "out")
    none = unpack(tmp_path / "none.tar", tmp_path / "out")
    assert none.code == 1
    assert one_line_error(none) == "Error: unpack: the pack holds no image; nothing was unpacked"
    untouched(tmp_path / "out")


# -- hostile archives --------------------------------------------------------------------------------------

def _manifest(files: list[tuple[str, bytes]], layouts=("apps",), trust=False, **changes) -> bytes:
    document = {"format": packing.FORMAT, "layouts": list(layouts), "trust": trust,
                "files": [{"path": n, "size": len(d), "sha256": hashlib.sha256(d).hexdigest()} for n, d in files]}
    document.update(changes)
    return json.dumps(document).encode()


def _info(name: str, size: int = 0, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.type, info.linkname, info.mode = size, kind, link, 0o644
    return info


def hostile(path: Path, members: list[tuple[tarfile.TarInfo, bytes]], compress: bool = False) -> Path:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for info, data in members:
            archive.addfile(info, io.BytesIO(data) if info.isreg() else None)
    data = raw.getvalue()
    if compress:  # as airlock pack compresses: a gzip header with no name and no time stamp
        out = io.BytesIO()
        with gzip.GzipFile(filename="", fileobj=out, mode="wb", mtime=0, compresslevel=6) as zipped:
            zipped.write(data)
        data = out.getvalue()
    path.write_bytes(data)
    return path


LAYOUT = [("layouts/apps/oci-layout", b'{"imageLayoutVersion":"1.0.0"}'),
          ("layouts/apps/index.json", b'{"schemaVersion":2,"manifests":[]}')]


def regular(files: list[tuple[str, bytes]]) -> list[tuple[tarfile.TarInfo, bytes]]:
    return [(_info(name, len(data)), data) for name, data in files]


def with_manifest(files, members=None, **changes):
    manifest = _manifest(files, **changes)
    return [(_info(packing.MANIFEST, len(manifest)), manifest), *(members if members is not None else regular(files))]


CASES = {
    "traversal": (with_manifest(LAYOUT, regular([*LAYOUT, ("layouts/apps/../../evil", b"x")])),
                  "unsafe path 'layouts/apps/../../evil' (a '..' component)"),
    "absolute": (with_manifest(LAYOUT, regular([*LAYOUT, ("/etc/evil", b"x")])), "unsafe path '/etc/evil' (absolute)"),
    "symlink": (with_manifest(LAYOUT, [*regular(LAYOUT), (_info("layouts/apps/blobs", kind=tarfile.SYMTYPE,
                                                                link="/etc"), b"")]),
                "member 'layouts/apps/blobs' is a symbolic link, not a regular file"),
    "hardlink": (with_manifest(LAYOUT, [*regular(LAYOUT), (_info("layouts/apps/x", kind=tarfile.LNKTYPE,
                                                                 link="/etc/passwd"), b"")]),
                 "member 'layouts/apps/x' is a hard link, not a regular file"),
    "device": (with_manifest(LAYOUT, [*regular(LAYOUT), (_info("layouts/apps/dev", kind=tarfile.CHRTYPE), b"")]),
               "member 'layouts/apps/dev' is a character device, not a regular file"),
    "duplicate": (with_manifest(LAYOUT, regular([*LAYOUT, LAYOUT[1]])),
                  "member 'layouts/apps/index.json' appears twice"),
    "unlisted": (with_manifest(LAYOUT, regular([*LAYOUT, ("layouts/apps/blobs/sha256/" + "a" * 64, b"x")])),
                 f"member 'layouts/apps/blobs/sha256/{'a' * 64}' is not in the manifest"),
    "missing": (with_manifest(LAYOUT, regular(LAYOUT[:1])),
                "'layouts/apps/index.json' is in the manifest but not in the archive"),
    "longer than listed": (with_manifest(LAYOUT, regular([LAYOUT[0], (LAYOUT[1][0], LAYOUT[1][1] + b" ")])),
                           "member 'layouts/apps/index.json' is 35 bytes, the manifest says 34"),
    "altered": (with_manifest(LAYOUT, regular([LAYOUT[0], (LAYOUT[1][0], LAYOUT[1][1].replace(b"2", b"3"))])),
                "member 'layouts/apps/index.json' does not match its SHA-256 in the manifest"),
    "manifest not first": (regular(LAYOUT), f"the first member is 'layouts/apps/oci-layout', not {packing.MANIFEST}"),
    "listed outside a layout": (with_manifest([("elsewhere/x", b"x")]),
                                f"{packing.MANIFEST} lists 'elsewhere/x', which is not a file of a pack"),
    "listed twice": (with_manifest([*LAYOUT, LAYOUT[0]], regular(LAYOUT)),
                     f"{packing.MANIFEST} lists 'layouts/apps/oci-layout' twice"),
    "trust not listed": (with_manifest(LAYOUT, trust=True),
                         f"{packing.MANIFEST} says the pack carries trust, and lists no {packing.TRUST}"),
    "wrong format": (with_manifest(LAYOUT, format="airlock-pack/v0"),
                     f"{packing.MANIFEST} is not an {packing.FORMAT} manifest"),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("compress", [False, True])
def test_hostile_archive_is_refused_with_nothing_extracted(tmp_path, case, compress):
    members, reason = CASES[case]
    key = ec.generate_private_key(ec.SECP256R1())  # a valid key: the key is read before the archive
    (tmp_path / "key.pub").write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                                     serialization.PublicFormat.SubjectPublicKeyInfo))
    archive = hostile(tmp_path / "hostile.tar", members, compress)
    result = unpack(archive, tmp_path / "out")
    assert one_line_error(result) == f"Error: unpack: {reason}"
    untouched(tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hostile.tar", "key.pub"]


def test_oversized_pack_is_refused(world):
    base, _ = world
    (base / "big").mkdir(exist_ok=True)
    (base / "big" / "key.pub").write_bytes((base / "key.pub").read_bytes())
    result = unpack(base / "gzip.tar", base / "big" / "out", "--max-size", "1000")
    assert one_line_error(result) == "Error: unpack: the files add up to more than 1000 bytes (--max-size)"
    untouched(base / "big" / "out")


@pytest.mark.parametrize("compress", ["gzip", "none"])
def test_truncated_archive(world, tmp_path, compress):
    base, _ = world
    data = (base / f"{compress}.tar").read_bytes()
    (tmp_path / "key.pub").write_bytes((base / "key.pub").read_bytes())
    for cut in (len(data) // 2, len(data) - 1):
        (tmp_path / "cut.tar").write_bytes(data[:cut])
        error = one_line_error(unpack(tmp_path / "cut.tar", tmp_path / "out"))
        assert error in ("Error: unpack: the gzip stream is truncated", "Error: unpack: the tar stream is truncated",
                         "Error: unpack: the tar stream is truncated (not a whole number of records)",
                         "Error: unpack: the tar stream ends without its end-of-archive marker"), error
        untouched(tmp_path / "out")


def test_foreign_compression_headers(world, tmp_path):
    base, _ = world
    (tmp_path / "key.pub").write_bytes((base / "key.pub").read_bytes())
    data = (base / "gzip.tar").read_bytes()
    (tmp_path / "stamped.tar").write_bytes(data[:4] + b"\x01\x02\x03\x04" + data[8:])  # a gzip time stamp
    assert one_line_error(unpack(tmp_path / "stamped.tar", tmp_path / "out")) == \
        "Error: unpack: the gzip header is not the one airlock pack writes"
    (tmp_path / "z.tar").write_bytes(b"\x28\xb5\x2f\xfd" + bytes(60))
    assert one_line_error(unpack(tmp_path / "z.tar", tmp_path / "out")) == \
        "Error: unpack: the archive is zstd-compressed, which airlock does not read; decompress it first"
    untouched(tmp_path / "out")


@pytest.mark.parametrize("compress", ["gzip", "none"])
def test_every_sampled_single_byte_change_is_refused(world, tmp_path, compress):
    base, _ = world
    (tmp_path / "key.pub").write_bytes((base / "key.pub").read_bytes())
    data = (base / f"{compress}.tar").read_bytes()
    chooser = random.Random(12)
    positions = sorted({*range(0, 16), *chooser.sample(range(len(data)), 40), len(data) - 9, len(data) - 1})
    refused = 0
    for position in positions:
        changed = bytearray(data)
        changed[position] ^= 1 << chooser.randrange(8)
        if compress == "gzip" and 10 <= position < len(data) - 8 and _same_content(bytes(changed), data):
            continue  # a padding bit of a deflate block (stored blocks and the last one pad to a byte): same bytes out
        (tmp_path / "changed.tar").write_bytes(bytes(changed))
        result = unpack(tmp_path / "changed.tar", tmp_path / "out")
        assert result.code != 0 and one_line_error(result).startswith("Error: "), position
        untouched(tmp_path / "out")
        refused += 1
    assert refused >= 45  # the gzip header and trailer (10 + 8 bytes) always; deflate padding bits are rare


def _same_content(changed: bytes, original: bytes) -> bool:
    import gzip
    import zlib

    try:
        return gzip.decompress(changed) == gzip.decompress(original)
    except (OSError, EOFError, zlib.error):
        return False


def test_pack_refuses_damage_and_links(world, tmp_path):
    base, _ = world
    import shutil

    shutil.copytree(base / "apps", tmp_path / "apps")
    blob = next(p for p in (tmp_path / "apps" / "blobs" / "sha256").iterdir())
    blob.write_bytes(blob.read_bytes() + b"!")
    error = one_line_error(run_cli("pack", "--dir", tmp_path / "apps", "-o", tmp_path / "out.tar"))
    assert error == f"Error: pack: {blob} does not match its digest: the layout is damaged"
    blob.unlink()
    blob.symlink_to("/etc/passwd")
    error = one_line_error(run_cli("pack", "--dir", tmp_path / "apps", "-o", tmp_path / "out.tar"))
    assert error == (f"Error: --dir {tmp_path / 'apps'}: blobs/sha256/{blob.name} is not a blob (a regular file "
                     "blobs/ALGORITHM/HEX)")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["apps"]  # no archive, no temp file
    error = one_line_error(run_cli("pack", "--dir", base / "apps", "--dir", tmp_path / "apps", "-o", tmp_path / "o"))
    assert error == "Error: --dir: two layouts have the same directory name; a pack names each layout by it"
    error = one_line_error(run_cli("pack", "--dir", base / "apps", "-o", tmp_path / "nowhere" / "o.tar"))
    assert error == f"Error: pack: cannot write {tmp_path / 'nowhere' / 'o.tar'}: No such file or directory"


# -- trust carried in the pack ------------------------------------------------------------------------------

def test_trust_in_the_pack_chains_from_the_installed_anchor(tmp_path, tuf_server, monkeypatch):
    from test_trust_anchor import Instance

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))  # no operator pin
    ours = Instance("ours", tmp_path, tuf_server, datetime.now(UTC))
    layout = new_layout(tmp_path / "signed")
    for i in range(100):  # the acceptance round trip: 100 images with trust
        digest = add_image(layout, f"registry.local/kl/app{i}:1", b"kl %d" % i)
        payload = cosign.simplesigning_payload("registry.local/kl", digest)
        attach(layout, digest, [keyless_layer(ours.sigstore, payload)])
    monkeypatch.setenv("TUF_ROOT", str(ours.tuf_root))
    assert run_cli("pack", "--dir", tmp_path / "signed", "--trust", "-o", tmp_path / "t.tar").code == 0
    identity = ("--certificate-identity", DEFAULT_IDENTITY, "--certificate-oidc-issuer", DEFAULT_ISSUER)

    monkeypatch.setenv("TUF_ROOT", str(tmp_path / "gap" / "root"))  # the air gap: nothing installed
    error = one_line_error(run_cli("unpack", tmp_path / "t.tar", "--dir", tmp_path / "out", *identity))
    assert error == (f"Error: the pack's TUF mirror has nothing to chain from: no mirror is installed under "
                     f"{tmp_path / 'gap' / 'root'}; pass --root FILE (the TUF root to anchor to) or "
                     "--trusted-root FILE")
    untouched(tmp_path / "out")
    theirs = Instance("theirs", tmp_path, tuf_server, datetime.now(UTC))  # another lineage's root
    error = one_line_error(run_cli("unpack", tmp_path / "t.tar", "--dir", tmp_path / "out", *identity,
                                   "--root", theirs.root_file))
    assert error.startswith("Error: the archive is from another TUF root lineage than the trusted root version 1")
    untouched(tmp_path / "out")
    result = run_cli("unpack", tmp_path / "t.tar", "--dir", tmp_path / "out", *identity, "--root", ours.root_file)
    assert result.code == 0, result.stderr
    assert "(verified against the TUF mirror in the pack)" in result.stderr
    assert (tmp_path / "out" / packing.TRUST).is_file() and len(result.stdout.splitlines()) == 100
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [packing.LAYOUTS, packing.TRUST]
    assert not (tmp_path / "gap" / "root").exists()  # nothing installed

    monkeypatch.setenv("TUF_ROOT", str(ours.tuf_root))  # installed: the anchor is the installed mirror's
    wrong = run_cli("unpack", tmp_path / "t.tar", "--dir", tmp_path / "out2", "--certificate-identity",
                    "someone@else", "--certificate-oidc-issuer", DEFAULT_ISSUER)
    assert "100 of 100 images did not verify; nothing was unpacked" in one_line_error(wrong)
    untouched(tmp_path / "out2")
    good = run_cli("unpack", tmp_path / "t.tar", "--dir", tmp_path / "out2", *identity)
    assert good.code == 0, good.stderr


def test_pack_trust_needs_an_installed_mirror(world, tmp_path, monkeypatch):
    base, _ = world
    monkeypatch.setenv("TUF_ROOT", str(tmp_path / "nothing"))
    result = run_cli("pack", "--dir", base / "apps", "--trust", "-o", tmp_path / "t.tar")
    missing = tmp_path / "nothing" / "remote.json"
    assert one_line_error(result) == f"Error: TUF mirror: No such file or directory ({missing})"
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no archive, no temp files


def test_a_destination_that_appears_meanwhile_is_not_overwritten(world, monkeypatch):
    base, _ = world
    from airlock.api import packs

    destination = base / "raced"
    real = packs.verify_images

    def racing(*args, **kwargs):  # while the images are verified, someone fills the destination
        destination.mkdir()
        (destination / "theirs").write_bytes(b"keep me")
        return real(*args, **kwargs)

    monkeypatch.setattr(packs, "verify_images", racing)
    result = unpack(base / "gzip.tar", destination)
    assert one_line_error(result).startswith(f"Error: --dir {destination}: cannot put the pack there: ")
    assert [p.name for p in destination.iterdir()] == ["theirs"]
    assert [p.name for p in base.iterdir() if p.name.startswith(".airlock-unpack-")] == []


def test_pack_and_unpack_stream_a_large_layer(tmp_path):
    """A 160 MiB layer goes through pack and unpack (gzip) with a peak RSS far below its size."""
    import hashlib as hashing
    import subprocess
    import sys

    from airlock.oci import layout as oci

    size, chunk = 160 << 20, bytes(1 << 20)
    layout = new_layout(tmp_path / "big")
    digest = hashing.sha256()
    staging = tmp_path / "layer"
    with open(staging, "wb") as out:
        for _ in range(size // len(chunk)):
            out.write(chunk)
            digest.update(chunk)
    layer = "sha256:" + digest.hexdigest()
    staging.replace(tmp_path / "big" / "blobs" / "sha256" / digest.hexdigest())
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [layer]}})
    config_digest = layout.write_blob(config.encode())
    manifest = json.dumps({"schemaVersion": 2, "mediaType": oci.OCI_MANIFEST,
                           "config": {"mediaType": oci.OCI_CONFIG, "size": len(config), "digest": config_digest},
                           "layers": [{"mediaType": oci.OCI_LAYER_TAR_GZIP, "size": size, "digest": layer}]}).encode()
    image = layout.write_blob(manifest)
    layout.add_manifest({"mediaType": oci.OCI_MANIFEST, "size": len(manifest), "digest": image,
                         "annotations": {oci.KIND: oci.KIND_IMAGE, oci.REF_NAME: "registry.local/big/app:1"}})
    key = ec.generate_private_key(ec.SECP256R1())
    attach(layout, image, [key_layer(key, cosign.simplesigning_payload("registry.local/big/app", image))])
    (tmp_path / "key.pub").write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))

    def peak_rss(*argv) -> int:
        """Peak RSS in MiB of one airlock process (measured by a wrapper that runs only it)."""
        wrapper = ("import resource, subprocess, sys; code = subprocess.run(sys.argv[1:]).returncode; "
                   "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(code)")
        proc = subprocess.run([sys.executable, "-c", wrapper, sys.executable, "-m", "airlock", *map(str, argv)],
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        return int(proc.stdout.splitlines()[-1]) // 1024

    assert peak_rss("pack", "--dir", tmp_path / "big", "-o", tmp_path / "big.tar") < 100
    assert (tmp_path / "big.tar").stat().st_size < size // 100  # zeros compress
    assert peak_rss("unpack", tmp_path / "big.tar", "--dir", tmp_path / "out", "--key", tmp_path / "key.pub",
                    "--insecure-ignore-tlog", "--jobs", "1") < 100
    assert (tmp_path / "out" / "layouts" / "big" / "blobs" / "sha256" / digest.hexdigest()).stat().st_size == size
