"""airlock: sign container images and verify Sigstore/cosign signatures completely offline.

The package is laid out along the one direction every verification travels:
``formats`` (parse what arrives) -> ``verify.material`` (one in-memory model) ->
``verify`` (pure checks) -> a ``Verdict`` -> ``cli`` (render). Trust material lives in
``trust``. Heavy modules are imported lazily so the CLI starts fast.
"""

__version__ = "0.1.0"

import warnings as _warnings

# cryptography warns (a Python UserWarning on stderr) when it parses a name attribute longer than
# its type allows, e.g. the country "USA" in Fulcio's ephemeral CA. It is not a verification
# result, and a stray warning line breaks the one-line `Error:` contract of the CLI; the
# certificate is still checked as cosign checks it.
_warnings.filterwarnings("ignore", message=r"Attribute's length must be >= \d+ and <= \d+", category=UserWarning)
