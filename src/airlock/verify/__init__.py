"""Offline verification: the material model, the pure checks and the verifier that orders them."""
