"""How values are written for a person: times as people here write them, sizes, a subject as its holder's
name and organisation, and a refusal in the page's language. One Jinja environment carries them as
filters, so the verifier's page, the console and its new pages write them the same way.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
import unicodedata
from pathlib import Path
from urllib.parse import quote

from cryptography import x509
from cryptography.x509.oid import NameOID
from jinja2 import Environment, FileSystemLoader, select_autoescape

from ca.activation.rules import CredentialLocked, WrongActivation
from govsign.access.errors import PendingApproval
from govsign.web.terms import TERMS, term
from govsign.web.texts import CONSOLE_TEXTS
from signing.validation.report import VIETNAM_TIME

__all__ = [
    "attachment",
    "data_uri",
    "download_name",
    "error_text",
    "holder",
    "page_templates",
    "people_date",
    "people_time",
    "size",
]

# Letters only Vietnamese uses (with its tone marks), to tell a Vietnamese sentence from an English one.
_VIETNAMESE = re.compile(
    r"[ăâđêôơưĂÂĐÊÔƠƯàáảãạằắẳẵặầấẩẫậèéẻẽẹềếểễệìíỉĩịòóỏõọồốổỗộờớởỡợùúủũụừứửữựỳýỷỹỵ]", re.I
)


def people_time(moment: dt.datetime | str | None, language: str) -> str:
    """``moment`` in Vietnam time as people write it: "16:12:47 ngày 23/11/2026 (giờ Việt Nam)"."""
    if moment is None or moment == "":
        return ""
    when = dt.datetime.fromisoformat(moment) if isinstance(moment, str) else moment
    if when.tzinfo is None:  # the database's naive values are UTC
        when = when.replace(tzinfo=dt.UTC)
    local = when.astimezone(VIETNAM_TIME)
    clock, day = local.strftime("%H:%M:%S"), local.strftime("%d/%m/%Y")
    if language == "en":
        return f"{clock} on {day} (Vietnam time)"
    return f"{clock} ngày {day} (giờ Việt Nam)"


def people_date(moment: dt.datetime | None) -> str:
    """The day only, in Vietnam time, as written in both languages here (a certificate's end of validity)."""
    if moment is None:
        return ""
    when = moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)
    return when.astimezone(VIETNAM_TIME).strftime("%d/%m/%Y")


def size(count: int | None, language: str) -> str:
    """A file's size in the unit a person reads (decimal comma in Vietnamese), with the exact bytes."""
    if count is None:
        return ""
    separator = "." if language == "vi" else ","
    exact = f"{count:,}".replace(",", separator)
    unit = "byte" if language == "vi" else "bytes"
    for factor, name in ((1 << 20, "MiB"), (1 << 10, "KiB")):
        if count >= factor:
            rounded = f"{count / factor:.1f}"
            if language == "vi":
                rounded = rounded.replace(".", ",")
            return f"{rounded} {name} ({exact} {unit})"
    return f"{exact} {unit}"


# pyHanko's human-friendly names ("Common Name: A, Organization: B"), as the report's issuer is written
_FRIENDLY = re.compile(r"(?:^|, )(Common Name|Organization): (.*?)(?=, [A-Z][A-Za-z ]+: |$)")


def holder(subject: str) -> str:
    """A subject (RFC 4514, or pyHanko's human-friendly form) as "Nguyễn Văn Ánh — Sở Tư pháp thành phố
    Hà Nội" (CN — O); the subject as given when it is not a name this can read."""
    friendly = dict(_FRIENDLY.findall(subject))
    if friendly:
        return " — ".join(friendly[k] for k in ("Common Name", "Organization") if k in friendly)
    try:
        name = x509.Name.from_rfc4514_string(subject)
    except ValueError:
        return subject
    parts = [
        str(attributes[0].value)
        for oid in (NameOID.COMMON_NAME, NameOID.ORGANIZATION_NAME)
        if (attributes := name.get_attributes_for_oid(oid))
    ]
    return " — ".join(parts) if parts else subject


def download_name(original: str) -> str:
    """``quyet-dinh.pdf`` signed is ``quyet-dinh-da-ky.pdf`` ("đã ký": signed), whatever the upload was called."""
    stem = Path(original).name
    stem = stem[:-4] if stem.lower().endswith(".pdf") else stem
    return f"{stem.strip() or 'tai-lieu'}-da-ky.pdf"


def attachment(original: str) -> str:
    """A Content-Disposition for the signed ``original``: an ASCII name for old clients and the real one
    (Vietnamese letters included) as RFC 5987 ``filename*``, which browsers prefer."""
    name = download_name(original)
    plain = unicodedata.normalize("NFKD", name.replace("đ", "d").replace("Đ", "D"))
    plain = re.sub(r"[^A-Za-z0-9._-]+", "-", plain.encode("ascii", "ignore").decode())
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(name, safe='')}"


def error_text(error: Exception, language: str) -> str:
    """The refusal in ``language``: the console's words for the holder's activation (which every official
    meets, with the attempts left) and for an action held for approval; its own words when they are in
    that language (the console's sentences are), the Vietnamese half of a bilingual "English / Tiếng Việt" message, else
    the catalogue's sentence for its kind."""
    words = CONSOLE_TEXTS[language]
    if isinstance(error, CredentialLocked):
        return words["credential_locked"]
    if isinstance(error, WrongActivation) and error.attempts_left is not None:
        return words["wrong_pin" if error.pin else "wrong_setup_code"].format(left=error.attempts_left)
    if isinstance(error, PendingApproval):
        action = term(language, "action", error.action)
        return words["held"].format(action=action, required=error.required, id=error.approval_id)
    message = str(getattr(error, "detail", None) or error)
    english, _, vietnamese = message.partition(" / ")
    if language == "vi":
        if vietnamese and _VIETNAMESE.search(vietnamese):
            return vietnamese
        if _VIETNAMESE.search(message):
            return message
    elif message.isascii():
        return english if vietnamese else message
    sentences = TERMS[language]["error"]
    kind = next((c.__name__ for c in type(error).__mro__ if c.__name__ in sentences), "Exception")
    return sentences[kind]


def data_uri(png: bytes) -> str:
    """A PNG inside the page itself (an upload's drawings: the upload is not kept to serve them later)."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def page_templates() -> Environment:
    """The templates of govsign/web/templates with the filters above (``language`` passed explicitly:
    each filter takes the page's ``lang``)."""
    environment = Environment(
        loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=select_autoescape(["html"])
    )
    environment.filters.update(
        people_time=people_time,
        people_date=people_date,
        size=size,
        holder=holder,
        error_text=error_text,
        data_uri=data_uri,
    )
    environment.globals["term"] = term
    return environment
