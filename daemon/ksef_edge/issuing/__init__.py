"""Correction invoices (KOR) outside the pure core: request parsing and stored forms.

The pure parts live in `domain/correction*.py`; see docs/corrections.md.
"""
