"""airlock: sign container images and verify Sigstore/cosign signatures completely offline.

The package is laid out along the one direction every verification travels:
``formats`` (parse what arrives) -> ``verify.material`` (one in-memory model) ->
``verify`` (pure checks) -> a ``Verdict`` -> ``cli`` (render). Trust material lives in
``trust``. Heavy modules are imported lazily so the CLI starts fast.
"""

__version__ = "0.1.0"
