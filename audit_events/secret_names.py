"""Names that hold secrets, recognised by the words they are made of.

A name is cut into words at separators (``-``, ``_``, ``.``, ``[``, spaces),
at camelCase humps and between letters and digits, and the words are
compared case-insensitively: ``X-Access-Key``, ``accessKey``, ``ACCESS_KEY``
and ``access.key`` are all ``access key``. Digits do not count
(``cvv2`` is ``cvv``, ``new_password1`` is ``new password``). A name is
secret when:

1. any word is a secret on its own (``SECRET_WORDS``: ``password``,
   ``passphrase``, ``token``, ``secret``, ``totp``, ``phpsessid``...), wherever
   it stands: ``password_confirmation``, ``refresh_token``;
2. its last word, the thing the name is, is a secret noun (``SECRET_HEADS``:
   ``pass``, ``pw``, ``pin``, ``sid``, ``session``, ``cookie``, ``auth``,
   ``otp``, ``key``...): ``user_pass``, ``X-Session``, ``Cookie2``, ``X-Auth``,
   ``api_key``, ``subscription-key``; but not ``session_count``,
   ``pass_count`` or ``auth_method``, whose last word is not a secret, and not a
   key that is a plain identifier (``PLAIN_KEYS``: ``sort_key``,
   ``public_key``, ``idempotency_key``...);
3. its last word is a generic value (``code``, ``number``, ``id``, ``card``)
   and the word before it says which secret (``QUALIFIED_HEADS``):
   ``otp_code``, ``verification_code``, ``security_code``, ``cc_number``,
   ``credit_card``, ``session_id``; but not ``zip_code``, ``phone_number`` or
   ``user_id``.

Whole words only: ``passenger``, ``compass``, ``keyboard``, ``author``,
``pinned``, ``sidebar`` and ``description`` are ordinary names
(``tests/test_masking.py`` keeps a list of them).
"""

from __future__ import annotations

import functools
import re

__all__ = [
    "PLAIN_KEYS",
    "QUALIFIED_HEADS",
    "SECRET_HEADS",
    "SECRET_WORDS",
    "is_secret_name",
    "words",
]

#: Words that make any name holding them secret.
SECRET_WORDS = frozenset(
    {
        "password",
        "passwd",
        "passphrase",
        "passcode",
        "pwd",
        "secret",
        "token",
        "credential",
        "credentials",
        "authorization",
        "authentication",
        "apikey",
        "privatekey",
        "jwt",
        "totp",
        "hotp",
        "cvv",
        "cvc",
        "csc",
        "ssn",
        "creditcard",
        "cardnumber",
        "sessionid",
        "sessid",
        "phpsessid",
        "jsessionid",
        "signature",
    }
)
#: Secret nouns: a name whose last word is one of these is secret.
SECRET_HEADS = frozenset(
    {"pass", "pw", "pin", "sid", "session", "cookie", "auth", "otp", "sig", "key"}
)
#: Words before ``key`` that make it an identifier, not a secret.
PLAIN_KEYS = frozenset(
    {
        "sort",
        "order",
        "primary",
        "foreign",
        "natural",
        "unique",
        "cache",
        "partition",
        "lookup",
        "group",
        "public",
        "idempotency",
        "object",
        "row",
        "map",
        "dict",
    }
)
#: Generic last words, secret when the word before them is one of these.
QUALIFIED_HEADS: dict[str, frozenset[str]] = {
    "code": frozenset(
        {
            "auth",
            "authorization",
            "otp",
            "mfa",
            "totp",
            "sms",
            "verification",
            "verify",
            "confirmation",
            "pin",
            "security",
            "recovery",
            "backup",
            "reset",
            "activation",
            "access",
            "login",
        }
    ),
    "number": frozenset({"cc", "card", "pin", "ssn"}),
    "num": frozenset({"cc", "card"}),
    "card": frozenset({"credit", "debit"}),
    "id": frozenset({"session", "sess"}),
}

#: Words that may be glued before ``key`` (``accesskey``) and the qualified heads.
_KEY_QUALIFIERS = frozenset(
    {"access", "secret", "api", "auth", "session", "private", "subscription", "master", "signing"}
)
_GLUED = {"key": _KEY_QUALIFIERS, **QUALIFIED_HEADS}

_SEPARATORS = re.compile(r"[\W_]+")
# camelCase humps, acronyms ("XMLHttp" -> XML, Http), digit runs, other letters.
_WORD = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+|[^\W\d_]+")


@functools.lru_cache(maxsize=4096)
def words(name: str) -> tuple[str, ...]:
    """The words of ``name``, case-folded, digits left out (``"accessKey2"`` -> access, key)."""
    found = (
        word.casefold()
        for part in _SEPARATORS.split(name)
        for word in _WORD.findall(part)
        if not word.isdigit()
    )
    return tuple(found)


def is_secret_name(name: str) -> bool:
    """Whether ``name`` is the name of a secret by its words (see the module's rules)."""
    found = words(str(name))
    if not found:
        return False
    if any(word in SECRET_WORDS for word in found):
        return True
    head, before = found[-1], (found[-2] if len(found) > 1 else None)
    if before is None:
        before, head = _unglue(head)
    if head == "key" and before in PLAIN_KEYS:
        return False
    if head in SECRET_HEADS:
        return True
    return before is not None and before in QUALIFIED_HEADS.get(head, ())


def _unglue(word: str) -> tuple[str | None, str]:
    """A one-word name written without boundaries (``ACCESSKEY``, ``otpcode``) as two words.

    Only a known qualifier counts as the first word, so ``monkey`` stays one word.
    """
    for head, qualifiers in _GLUED.items():
        before = word.removesuffix(head)
        if before != word and before in qualifiers:
            return before, head
    return None, word
