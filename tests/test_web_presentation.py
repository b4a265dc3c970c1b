"""Values as people read them: times in Vietnam time as written here, a subject as holder and agency, a
signed download's name (RFC 5987 for Vietnamese letters, RFC 6266 for the header)."""

from __future__ import annotations

import datetime as dt
from urllib.parse import unquote

from govsign.web.presentation import attachment, download_name, holder, people_time, size


def test_a_time_is_written_in_vietnam_time_as_people_here_write_it() -> None:
    moment = dt.datetime(2026, 11, 23, 9, 12, 47, tzinfo=dt.UTC)
    assert people_time(moment, "vi") == "16:12:47 ngày 23/11/2026 (giờ Việt Nam)"
    assert people_time("2026-11-23T16:12:47+07:00", "en") == "16:12:47 on 23/11/2026 (Vietnam time)"
    assert people_time(None, "vi") == ""


def test_a_subject_is_shown_as_its_holder_and_organisation() -> None:
    dn = "CN=Nguyễn Văn Ánh,O=Sở Tư pháp thành phố Hà Nội,C=VN,0.9.2342.19200300.100.1.1=CCCD:001085012345"
    assert holder(dn) == "Nguyễn Văn Ánh — Sở Tư pháp thành phố Hà Nội"
    friendly = (
        "Common Name: CA chuyên dùng Chính phủ, Organization Identifier: NTRVN-01, Organization: Ban Cơ yếu"
    )
    assert holder(friendly) == "CA chuyên dùng Chính phủ — Ban Cơ yếu"
    assert holder("not a name =") == "not a name ="


def test_a_size_gives_the_unit_and_the_exact_count() -> None:
    assert size(39158, "vi") == "38,2 KiB (39.158 byte)"
    assert size(39158, "en") == "38.2 KiB (39,158 bytes)"


def test_a_signed_download_keeps_its_vietnamese_name_with_an_ascii_fallback() -> None:
    assert download_name("Quyết định 12.PDF") == "Quyết định 12-da-ky.pdf"
    assert download_name("../../etc/passwd") == "passwd-da-ky.pdf"
    header = attachment("quyết-định-số-12.pdf")
    assert header.startswith('attachment; filename="quyet-dinh-so-12-da-ky.pdf"; ')
    encoded = header.partition("; filename*=UTF-8''")[2]
    assert encoded.isascii() and unquote(encoded, errors="strict") == "quyết-định-số-12-da-ky.pdf"
