"""Offline key generated inside a TPM 2.0 and never exported (tpm2-pytss).

The key is created under the owner hierarchy's storage root key (SRK), which the TPM re-derives from
its seed with the same template on every start, so nothing persistent is needed in the TPM. On disk
lives only the TPM-wrapped blob, in the standard `TSS2 PRIVATE KEY` PEM (the format of tpm2-openssl /
tpm2-tss-engine, parent = owner hierarchy, ECC SRK template): it is useless without this TPM.

Attributes FIXEDTPM | FIXEDPARENT | SENSITIVEDATAORIGIN: the private part is born inside the TPM and
can never be duplicated out of it. NODA: the key has no password, so dictionary-attack lockout
protects nothing here and must not stop sales. The signing scheme is bound into the key (ECDSA-SHA256
or RSAPSS-SHA256), so the TPM refuses to use it for anything else. For RSASSA-PSS the TPM uses a salt
as long as the digest (32 bytes for SHA-256), which is exactly what KSeF expects (tested).

swtpm has 3 transient slots and no resource manager: the SRK is flushed right after loading the key
and the key handle is flushed on `close()`.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization

from .certificates import PublicKey
from .errors import TpmError
from .files import check_private_file, write_private_file
from .signing import P256_FIELD_BYTES, PrivateKey

# Quiet the TSS C libraries' own stderr logging (errors are reported by us, clearly, once).
os.environ.setdefault("TSS2_LOG", "all+NONE")

DEFAULT_TCTI = "device:/dev/tpmrm0"


def _tss() -> Any:
    try:
        import tpm2_pytss
        from tpm2_pytss import constants, types
    except ImportError as exc:  # pragma: no cover - depends on the host
        raise TpmError(
            "tpm_library_missing",
            f"the TPM backend needs tpm2-pytss ({exc}); install it with `pip install 'ksef-edge[tpm]'` "
            "(needs libtss2-dev), or use the file backend (keystore.backend = \"file\")",
        ) from None
    return tpm2_pytss, constants, types


def _signing_attrs(c: Any) -> Any:
    A = c.TPMA_OBJECT
    return A.SIGN_ENCRYPT | A.FIXEDTPM | A.FIXEDPARENT | A.SENSITIVEDATAORIGIN | A.USERWITHAUTH | A.NODA


def _key_template(algorithm: str) -> Any:
    _, c, t = _tss()
    if algorithm == "ec":
        return t.TPM2B_PUBLIC.parse("ecc256:ecdsa-sha256", objectAttributes=_signing_attrs(c))
    if algorithm == "rsa":
        return t.TPM2B_PUBLIC.parse("rsa2048:rsapss-sha256:null", objectAttributes=_signing_attrs(c))
    raise TpmError("bad_algorithm", f"key algorithm {algorithm!r} is not supported; use 'ec' (P-256) or 'rsa' (2048)")


def srk_template() -> Any:
    """TCG ECC P-256 storage root key template (identical to tpm2-openssl's / tpm2-pytss tsskey's)."""
    _, c, t = _tss()
    A = c.TPMA_OBJECT
    return t.TPM2B_PUBLIC(
        publicArea=t.TPMT_PUBLIC(
            type=c.TPM2_ALG.ECC,
            nameAlg=c.TPM2_ALG.SHA256,
            objectAttributes=A.USERWITHAUTH | A.RESTRICTED | A.DECRYPT | A.NODA | A.FIXEDTPM
            | A.FIXEDPARENT | A.SENSITIVEDATAORIGIN,
            authPolicy=b"",
            parameters=t.TPMU_PUBLIC_PARMS(
                eccDetail=t.TPMS_ECC_PARMS(
                    symmetric=t.TPMT_SYM_DEF_OBJECT(
                        algorithm=c.TPM2_ALG.AES,
                        keyBits=t.TPMU_SYM_KEY_BITS(aes=128),
                        mode=t.TPMU_SYM_MODE(aes=c.TPM2_ALG.CFB),
                    ),
                    scheme=t.TPMT_ECC_SCHEME(scheme=c.TPM2_ALG.NULL),
                    curveID=c.TPM2_ECC.NIST_P256,
                    kdf=t.TPMT_KDF_SCHEME(scheme=c.TPM2_ALG.NULL),
                )
            ),
        )
    )


def tpm_error(exc: BaseException, tcti: str, doing: str) -> TpmError:
    """Turn a TSS2_Exception into an error naming the problem and the fix."""
    tss, c, _ = _tss()
    if not isinstance(exc, tss.TSS2_Exception):
        return TpmError("tpm_error", f"TPM failure while {doing} ({type(exc).__name__}: {exc})")
    rc = int(exc.rc)
    err = int(exc.error)
    text = str(exc)
    if rc in (int(c.TSS2_RC.TCTI_RC_IO_ERROR), int(c.TSS2_RC.TCTI_RC_NO_CONNECTION)) or "tcti" in text and "IO" in text:
        return TpmError(
            "tpm_unreachable",
            f"cannot reach the TPM at TCTI '{tcti}' while {doing}: on a Raspberry Pi check that the TPM module is "
            "fitted and enabled (dtoverlay=tpm-slb9670 in /boot/firmware/config.txt) and that /dev/tpmrm0 exists and "
            "is accessible to the service user (group tss); or set keystore.tcti correctly",
        )
    if "tcti" in text:
        return TpmError(
            "tpm_unreachable",
            f"cannot open the TPM with TCTI '{tcti}' while {doing} ({text}); set keystore.tcti to e.g. "
            "'device:/dev/tpmrm0'",
        )
    if err == int(c.TPM2_RC.LOCKOUT):
        return TpmError(
            "tpm_lockout",
            f"the TPM is in dictionary-attack lockout while {doing}: wait for the lockout to expire or have the "
            "administrator reset it (`tpm2_dictionarylockout --clear-lockout` with the lockout password)",
        )
    if err in (int(c.TPM2_RC.BAD_AUTH), int(c.TPM2_RC.AUTH_FAIL)):
        return TpmError(
            "tpm_auth",
            f"the TPM refused authorisation while {doing}: the owner hierarchy has a password set; ksef-edge needs "
            "an empty owner password (or clear the TPM in the firmware menu)",
        )
    if err == int(c.TPM2_RC.INTEGRITY) or err == int(c.TPM2_RC.BINDING):
        return TpmError(
            "key_not_from_this_tpm",
            f"the key blob could not be loaded while {doing}: it was made by another TPM, or this TPM was cleared. "
            "Generate a new key (`ksef-edge key generate --backend tpm --force`), request a new Offline "
            "certificate for it in KSeF and install it",
        )
    if err == int(c.TPM2_RC.OBJECT_MEMORY):
        return TpmError(
            "tpm_out_of_slots",
            f"the TPM has no free object slots while {doing}: another program leaked handles; use the kernel "
            "resource manager (/dev/tpmrm0) or run `tpm2_flushcontext -t`",
        )
    return TpmError("tpm_error", f"the TPM refused an operation while {doing} ({text})")


def open_esapi(tcti: str) -> Any:
    tss, _, _ = _tss()
    try:
        return tss.ESAPI(tss.TCTILdr.parse(tcti))
    except Exception as exc:
        raise tpm_error(exc, tcti, "connecting") from None


def _create_srk(ectx: Any) -> Any:
    _, c, t = _tss()
    handle, *_ = ectx.create_primary(t.TPM2B_SENSITIVE_CREATE(), srk_template(), primary_handle=c.ESYS_TR.OWNER)
    return handle


def create_under_srk(ectx: Any, sensitive: Any, template: Any) -> tuple[Any, Any]:
    """Create an object under the SRK: its (private, public) wrapped blob. The SRK is flushed at once."""
    srk = _create_srk(ectx)
    try:
        priv, pub, *_ = ectx.create(srk, sensitive, template)
    finally:
        ectx.flush_context(srk)
    return priv, pub


def load_under_srk(ectx: Any, blob: Any) -> Any:
    """Load a `TSSPrivKey` blob under the SRK: the object's transient handle. The SRK is flushed at once."""
    srk = _create_srk(ectx)
    try:
        return ectx.load(srk, blob.private, blob.public)
    finally:
        ectx.flush_context(srk)


def generate_tpm_key(tcti: str, path: Path, *, algorithm: str = "ec", force: bool = False) -> "TpmKey":
    """Create a non-exportable key inside the TPM, store its wrapped blob at `path` (0600), return it loaded."""
    from tpm2_pytss.tsskey import TSSPrivKey

    from .errors import KeyFileError

    if path.exists() and not force:
        raise KeyFileError("already_exists", f"key file {path} already exists; refusing to replace it (use --force)")
    template = _key_template(algorithm)
    ectx = open_esapi(tcti)
    try:
        priv, pub = create_under_srk(ectx, _tss()[2].TPM2B_SENSITIVE_CREATE(), template)
    except TpmError:
        ectx.close()
        raise
    except Exception as exc:
        ectx.close()
        raise tpm_error(exc, tcti, "creating the key") from None
    ectx.close()
    write_private_file(path, TSSPrivKey(priv, pub).to_pem(), overwrite=force, what="TPM key file")
    return load_tpm_key(tcti, path)


def load_tpm_key(tcti: str, path: Path) -> "TpmKey":
    """Load the wrapped key blob into the TPM; the returned key holds one transient handle until close()."""
    from tpm2_pytss.tsskey import TSSPrivKey

    from .errors import KeyFileError

    check_private_file(path, "TPM key file")
    try:
        blob = TSSPrivKey.from_pem(path.read_bytes())
    except Exception:
        raise KeyFileError(
            "corrupt_key_file",
            f"TPM key file {path} is damaged or not a TSS2 PRIVATE KEY; restore it from backup or generate a new key "
            "(`ksef-edge key generate --backend tpm --force`) and request a new certificate",
        ) from None
    ectx = open_esapi(tcti)
    try:
        handle = load_under_srk(ectx, blob)
    except Exception as exc:
        ectx.close()
        raise tpm_error(exc, tcti, f"loading the key from {path}") from None
    return TpmKey(ectx, handle, blob.public, tcti)


class TpmKey:
    """KeyBackend over a loaded TPM key handle."""

    name = "tpm"

    def __init__(self, ectx: Any, handle: Any, public: Any, tcti: str) -> None:
        _, c, _ = _tss()
        self._ectx = ectx
        self._handle = handle
        self._public = public
        self._tcti = tcti
        self._is_ec = public.publicArea.type == c.TPM2_ALG.ECC
        self._public_key = serialization.load_pem_public_key(public.to_pem())

    @property
    def tpm_public(self) -> Any:
        """The TPM2B_PUBLIC area (attributes prove FIXEDTPM/FIXEDPARENT)."""
        return self._public

    @property
    def esapi(self) -> Any:
        return self._ectx

    @property
    def handle(self) -> Any:
        return self._handle

    def public_key(self) -> PublicKey:
        return self._public_key  # type: ignore[return-value]

    def sign(self, data: bytes) -> bytes:
        if self._ectx is None:
            raise TpmError("tpm_closed", "the TPM key was closed; restart the service")
        _, c, t = _tss()
        digest = hashlib.sha256(data).digest()
        alg = c.TPM2_ALG.ECDSA if self._is_ec else c.TPM2_ALG.RSAPSS
        scheme = t.TPMT_SIG_SCHEME(scheme=alg, details={"any": {"hashAlg": c.TPM2_ALG.SHA256}})
        ticket = t.TPMT_TK_HASHCHECK(tag=c.TPM2_ST.HASHCHECK, hierarchy=c.TPM2_RH.NULL)
        try:
            sig = self._ectx.sign(self._handle, digest, scheme, ticket)
        except Exception as exc:
            raise tpm_error(exc, self._tcti, "signing") from None
        if self._is_ec:
            r = bytes(sig.signature.ecdsa.signatureR).rjust(P256_FIELD_BYTES, b"\0")
            s = bytes(sig.signature.ecdsa.signatureS).rjust(P256_FIELD_BYTES, b"\0")
            return r + s
        return bytes(sig.signature.rsapss.sig)

    def csr_private_key(self) -> PrivateKey:
        from tpm2_pytss.cryptography import tpm_ecc_private_key, tpm_rsa_private_key

        if self._ectx is None:
            raise TpmError("tpm_closed", "the TPM key was closed")
        if self._is_ec:
            return tpm_ecc_private_key(self._ectx, self._handle)
        return tpm_rsa_private_key(self._ectx, self._handle)

    def close(self) -> None:
        if self._ectx is None:
            return
        try:
            self._ectx.flush_context(self._handle)
        except Exception:
            pass  # the TPM went away; nothing left to flush
        finally:
            self._ectx.close()
            self._ectx = None

    def __enter__(self) -> "TpmKey":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"TpmKey(tcti={self._tcti!r}, {'EC P-256' if self._is_ec else 'RSA 2048'})"
