"""The legal documents a person accepts, and their current versions (SPEC 5.1)."""

DOCUMENTS = {
    "terms": "2026-11-26",
    "privacy": "2026-11-26",
}
