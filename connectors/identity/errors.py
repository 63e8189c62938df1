"""What can go wrong with a provider. Each error carries a ``reason`` word the faces turn
into their own message (the portal translates it).

    OidcError
    ├── ProviderUnreachable   discovery, keys or the code exchange failed (network, 5xx, bad JSON)
    └── TokenRefused          a token is not to be trusted; ``reason`` says why:
                              issuer, audience, expired, signature, key, nonce, claims, malformed
"""

from __future__ import annotations


class OidcError(Exception):
    def __init__(self, provider: str, reason: str, detail: str = "") -> None:
        super().__init__(f"{provider}: {reason}" + (f" ({detail})" if detail else ""))
        self.provider = provider
        self.reason = reason
        self.detail = detail


class ProviderUnreachable(OidcError):
    def __init__(self, provider: str, detail: str) -> None:
        super().__init__(provider, "unreachable", detail)


class TokenRefused(OidcError):
    pass
