"""The public API: what audit_events exports is importable and documented."""

from pathlib import Path

import audit_events

API_DOC = Path(__file__).resolve().parent.parent / "docs" / "api.md"


def test_all_is_sorted_and_every_name_imports():
    names = [n for n in audit_events.__all__ if n != "__version__"]
    assert names == sorted(names)
    for name in names:
        assert getattr(audit_events, name) is not None


def test_every_exported_name_is_in_the_api_reference():
    text = API_DOC.read_text()
    missing = [n for n in audit_events.__all__ if n != "__version__" and f"`{n}`" not in text]
    assert missing == []


def test_unknown_attribute_raises_attribute_error():
    try:
        audit_events.nope  # noqa: B018
    except AttributeError as exc:
        assert "nope" in str(exc)
    else:
        raise AssertionError("audit_events.nope did not raise")
