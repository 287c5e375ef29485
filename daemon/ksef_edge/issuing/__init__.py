"""Issuing: what turns a till's request into a durable, signed document, with no HTTP in it.

- `invoice_request`: the till's JSON -> `InvoiceDraft` (strict; raises `errors.RequestError`)
- `invoice_issuer`: draft -> number -> FA(3) -> KOD I/II -> one store transaction (`InvoiceIssuer`)
- `invoice_totals`: net/VAT/gross as the stored bytes state them (cached per id + hash)
- `kor_request`, `kor_issuer`, `kor_lines`, `kor_status`: correction invoices (KOR) of stored invoices
  (the pure parts are `domain/kor*.py`; docs/corrections.md)
- `technical_corrections`: the file KSeF accepted in place of a rejected one, as the API shows it
- `receipts`: laying out a stored document's receipt and queueing it on the printer

`api/` and `web/` call these and map their errors to HTTP; nothing here imports them.
"""
