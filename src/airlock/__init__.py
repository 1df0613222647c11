"""airlock: sign container images and verify Sigstore/cosign signatures completely offline.

The package is laid out along the one direction every verification travels:
``formats`` (parse what arrives) -> ``material`` (one in-memory model) ->
``verify`` (pure checks) -> a ``Verdict`` -> ``api`` (the use cases: images, blobs, signing)
-> ``cli`` (render). Trust material lives in ``trust``.

The Python API is the one the CLI uses (``airlock.api``), exported here::

    import airlock

    verdict = airlock.verify_image(airlock.layout_source("./layout"), "registry.internal/app:1.0",
                                   policy=airlock.Key(open("cosign.pub", "rb").read()),
                                   options=airlock.VerificationOptions(insecure_ignore_tlog=True))
    print(verdict.ok, verdict.failure)

Names are imported on first use (module ``__getattr__``): ``import airlock`` stays cheap, and the
CLI start-up path imports only what its command needs.
"""

from __future__ import annotations

import warnings as _warnings

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time); mypy knows the name
if TYPE_CHECKING:
    from airlock.api import (
        AllOf,
        AnyIdentityUnsafe,
        AnyOf,
        Artifact,
        Check,
        Identity,
        ImageTarget,
        ImageVerdict,
        Key,
        LayoutSource,
        Material,
        Policy,
        RegistrySource,
        SignatureCheck,
        SignedImage,
        SigningTarget,
        SigningTime,
        Threshold,
        TrustedRoot,
        Verdict,
        VerificationOptions,
        attach_bundle,
        attach_signature,
        attest_image,
        attest_image_keyless,
        keyless_signer,
        layout_source,
        layout_targets,
        registry_client,
        registry_targets,
        sign_blob_keyless,
        sign_image,
        sign_image_keyless,
        signing_batch,
        signing_targets,
        verify_blob,
        verify_image,
        verify_images,
    )

__version__ = "0.1.0"


# cryptography warns (a Python UserWarning on stderr) when it parses a name attribute longer than
# its type allows, e.g. the country "USA" in Fulcio's ephemeral CA. It is not a verification
# result, and a stray warning line breaks the one-line `Error:` contract of the CLI; the
# certificate is still checked as cosign checks it.
_warnings.filterwarnings("ignore", message=r"Attribute's length must be >= \d+ and <= \d+", category=UserWarning)


__all__ = [  # the public API, from ``airlock.api`` (which holds a few more, for entry points)
    "AllOf", "AnyIdentityUnsafe", "AnyOf", "Artifact", "Check", "Identity", "ImageTarget", "ImageVerdict", "Key",
    "LayoutSource", "Material", "Policy", "RegistrySource", "SignatureCheck", "SignedImage", "SigningTarget",
    "SigningTime", "Threshold", "TrustedRoot", "Verdict", "VerificationOptions",
    "attach_bundle", "attach_signature", "attest_image", "attest_image_keyless", "keyless_signer", "layout_source",
    "layout_targets", "registry_client", "registry_targets", "sign_blob_keyless", "sign_image", "sign_image_keyless",
    "signing_batch", "signing_targets", "verify_blob", "verify_image", "verify_images",
]


def __getattr__(name: str) -> object:  # no typing import: it costs start-up time
    if name in __all__:
        from airlock import api

        value = getattr(api, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'airlock' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
