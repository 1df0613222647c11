"""Every media type and annotation key airlock reads or writes, named once (FORMATS.md Appendix A).

Ground floor: imports nothing. A literal copy of any value here elsewhere under ``src/`` fails
``tests/test_vocabulary.py``.
"""

from __future__ import annotations

# -- OCI and Docker image formats ---------------------------------------------------------------
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
OCI_LAYER_TAR_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"

# -- cosign's signature and attestation layers (FORMATS.md 3) ------------------------------------
SIMPLESIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
DSSE_ENVELOPE = "application/vnd.dsse.envelope.v1+json"
COSIGN_SIG_ARTIFACT = "application/vnd.dev.cosign.artifact.sig.v1+json"
COSIGN_SBOM_ARTIFACT = "application/vnd.dev.cosign.artifact.sbom.v1+json"

# -- in-toto ------------------------------------------------------------------------------------
IN_TOTO = "application/vnd.in-toto+json"  # the DSSE payload type of a statement
STATEMENT_V01 = "https://in-toto.io/Statement/v0.1"
STATEMENT_V1 = "https://in-toto.io/Statement/v1"
STATEMENT_TYPES = (STATEMENT_V01, STATEMENT_V1)

# -- Sigstore bundles and trust material ---------------------------------------------------------
BUNDLE_PREFIX = "application/vnd.dev.sigstore.bundle"  # every bundle version, and referrers' artifactType
BUNDLE_V01 = "application/vnd.dev.sigstore.bundle+json;version=0.1"
BUNDLE_V02 = "application/vnd.dev.sigstore.bundle+json;version=0.2"
BUNDLE_V03_PARAMETER = "application/vnd.dev.sigstore.bundle+json;version=0.3"  # the older spelling of 0.3
BUNDLE_V03 = "application/vnd.dev.sigstore.bundle.v0.3+json"
BUNDLE_VERSIONS = {BUNDLE_V01: "0.1", BUNDLE_V02: "0.2", BUNDLE_V03_PARAMETER: "0.3", BUNDLE_V03: "0.3"}
TRUSTED_ROOT = "application/vnd.dev.sigstore.trustedroot+json;version=0.1"
TRUSTED_ROOT_V01 = "application/vnd.dev.sigstore.trustedroot.v0.1+json"
TRUSTED_ROOT_V02 = "application/vnd.dev.sigstore.trustedroot.v0.2+json"
TRUSTED_ROOT_TYPES = (TRUSTED_ROOT, TRUSTED_ROOT_V01, TRUSTED_ROOT_V02)
CLIENT_TRUST_CONFIG = "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json"
SIGNING_CONFIG_V02 = "application/vnd.dev.sigstore.signingconfig.v0.2+json"  # names Fulcio, Rekor, TSA URLs

# -- annotation keys ----------------------------------------------------------------------------
ANNOTATION_SIGNATURE = "dev.cosignproject.cosign/signature"
ANNOTATION_CERTIFICATE = "dev.sigstore.cosign/certificate"
ANNOTATION_CHAIN = "dev.sigstore.cosign/chain"
ANNOTATION_BUNDLE = "dev.sigstore.cosign/bundle"
ANNOTATION_RFC3161 = "dev.sigstore.cosign/rfc3161timestamp"
ANNOTATION_BUNDLE_CONTENT = "dev.sigstore.bundle.content"  # on a bundle referrer: what the bundle holds
ANNOTATION_BUNDLE_PREDICATE_TYPE = "dev.sigstore.bundle.predicateType"
ANNOTATION_CREATED = "org.opencontainers.image.created"
ANNOTATION_REF_NAME = "org.opencontainers.image.ref.name"  # a tag in an OCI layout's index.json

# cosign's ``kind`` annotation in an OCI layout's index.json (FORMATS.md 3.2): its values
KIND_IMAGE = "dev.cosignproject.cosign/image"
KIND_IMAGE_INDEX = "dev.cosignproject.cosign/imageIndex"
KIND_SIGS = "dev.cosignproject.cosign/sigs"
KIND_ATTS = "dev.cosignproject.cosign/atts"
