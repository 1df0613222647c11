"""Signing: keys, signers (file, PKCS#11, KMS), payloads, and attaching signatures to images."""
