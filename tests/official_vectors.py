"""Official KSeF test vectors shared by the tests (shared/ksef/test-vectors.md), copied verbatim.

TV-1/TV-2: the SHA-256 (Base64URL) of the sample invoice and the KOD II string-to-sign, signature and
link (RSA-2048, 472 characters); TV-3: the TE certificate (serial 01F20A5D352AE590) that signed them,
from ksef-client-csharp QrCodeInvoiceEndpointsTests.cs. Kept out of conftest.py: tests import it by name.
"""
from __future__ import annotations

import base64

TV_HASH = "UtQp9Gpc51y-u3xApZjIjgkpZ01js-J8KflSPW8WzIE"
TV2_SIGN_STRING = ("qr-test.ksef.mf.gov.pl/certificate/Nip/1111111111/1111111111/01F20A5D352AE590/"
                   "UtQp9Gpc51y-u3xApZjIjgkpZ01js-J8KflSPW8WzIE")
TV2_SIGNATURE = (
    "mSkm_XmM9fq7PgAJwiL32L9ujhyguOEV48cDB0ncemD2r9TMGa3lr0iRoFk588agCi8QPsOuscUY1rZ7ff76STbGquO-gZtQys5_fHdf2HUfD"
    "qPqVTnUS6HknBu0zLkyf9ygoW7WbH06Ty_8BgQTlOmJFzNWSt9WZa7tAGuAE9JOooNps-KG2PYkkIP4q4jPMp3FKypAygHVnXtS0RDGgOxhhM"
    "7LWtFP7D-dWINbh5yXD8Lr-JVbeOpyQjHa6WmMYavCDQJ3X_Z-iS01LZu2s1B3xuOykl1h0sLObCdADrbxOONsXrvQa61Xt_rxyprVraj2Uf"
    "9pANQgR4-12HEcMw"
)
TV2_URL = "https://" + TV2_SIGN_STRING + "/" + TV2_SIGNATURE
# TV-3: the TE certificate (serial 01F20A5D352AE590) from ksef-client-csharp QrCodeInvoiceEndpointsTests.cs
TV3_CERT_B64 = (
    "MIIDYTCCAuagAwIBAgIIAfIKXTUq5ZAwDAYIKoZIzj0EAwQFADBtMQswCQYDVQQGEwJQTDEfMB0GA1UECgwWTWluaXN0ZXJzdHdvIEZpbmFuc8Oz"
    "dzEnMCUGA1UECwweS3Jham93YSBBZG1pbmlzdHJhY2phIFNrYXJib3dhMRQwEgYDVQQDDAtUSSBDQ0sgS1NlRjAeFw0yNTA3MjkwOTI4MzdaFw0y"
    "NzA3MjkwOTI4MzdaMEwxCzAJBgNVBAYTAlBMMRkwFwYDVQRhDBBWQVRQTC01MjY1ODc3NjM1MQ0wCwYDVQQKDARCZXRhMRMwEQYDVQQDDAo1MjY1"
    "ODc3NjM1MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEArf6b3J8GpbzWx90Xic7zQX4rrSkKgmNu2oaxqp8Y7F+NypawebUD3nyGl3ua"
    "aHMg5oR9dwlDxRM3y9QdCwq98HLtGNOoETCtlMRxkjJHQQXMS4Y+3b+L5ot23PBMFibx0syblJvE7i3UhbXoD5BLu9wWxkMHKli7rk+6IOCR64qm"
    "ee3+PorQbcjJE/K4E5TV3tp7ZPjtreCbfo/M8obICSpjgLVyI8VvgAQqLTWCotzVlT13/QBtVylcGxTJeHXSKeYBzMoUe+YHjFdv/HP0SeGbngED"
    "NZJ+IyxlPvNJsKvzfoPT6xNbKOD6YYKa/TzGqbvlMZADhjgUoDUJHT1J0wIDAQABo4HDMIHAMB8GA1UdIwQYMBaAFLLUPCZi2SvB4S1Svv2oHjU0"
    "v3ywMAwGA1UdEwEB/wQCMAAwDgYDVR0PAQH/BAQDAgeAMB0GA1UdDgQWBBScmYgyDr7ZQ8sYeVL5Bx6r5z3ltjA7BgNVHR8ENDAyMDCgLqAshipo"
    "dHRwczovL3B1ZXNjLmdvdi5wbC9wa2kvY3JsL21ma3NlZnRpMS5jcmwwIwYIKwYBBQUHAQMEFzAVMBMGBgQAjkYBBjAJBgcEAI5GAQYCMAwGCCqG"
    "SM49BAMEBQADZwAwZAIwfH0op1zHItXmZIZNnb4bI6iCqvXe9YUiO9YX9zdjOQ0x6iaGoiN1ZPyYMVrWENenAjBe5/LegAjY71zzHz9Qdnw6GbfH"
    "+XdQlRNLeYEjqFXevGywZZ4j1p+13HgqLe3ut4E="
)
TV3_CERT_DER = base64.b64decode(TV3_CERT_B64)
