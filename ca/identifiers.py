"""What a field of a certificate request may hold: Vietnamese identifiers, e-mail addresses, visible text.

Everything here ends up in a subject DN that a relying party reads, so a value must look like what it is:

* digits are ASCII 0-9 only. Python's ``\\d`` and ``str.isdigit`` also accept Arabic-Indic (U+0660-U+0669) and
  full-width (U+FF10-U+FF19) digits; those would be written into a certificate that looks right and is not, or reach
  a PrintableString encoder (serialNumber) and fail there;
* no control character (NUL included), surrogate, line or paragraph separator, nor bidi control (Unicode's
  Bidi_Control property: U+061C, U+200E, U+200F, U+202A-U+202E, U+2066-U+2069), which could make a name
  display otherwise than what is signed;
* a citizen ID (số định danh cá nhân / CCCD, Circular 07/2016/TT-BCA as amended by 59/2021/TT-BCA) is
  3 digits of the province of birth registration, 1 century-and-gender digit, 2 digits of the birth year,
  6 random digits;
* a tax code (mã số thuế, Circular 105/2020/TT-BTC) is 10 digits whose tenth is a check digit, plus "-" and
  3 digits for a branch.

Each check raises ValueError with an English and a Vietnamese sentence (pydantic reports it per field).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated

from pydantic import AfterValidator

from ca import clock

__all__ = [
    "PROVINCE_CODES",
    "BudgetCode",
    "CitizenId",
    "Email",
    "TaxCode",
    "Text",
    "check_visible_text",
    "tax_check_digit",
]

# Appendix 1 of Circular 07/2016/TT-BCA (kept by Circular 59/2021/TT-BCA): the code of the province where the
# citizen's birth was registered, the first three digits of the 12-digit citizen ID. Source read on
# thuvienphapluat.vn ("Tra cứu mã 63 tỉnh thành trên thẻ Căn cước công dân"). The codes are those of the 63
# provinces before the 2025 mergers: IDs already issued keep them.
PROVINCE_CODES: dict[str, str] = {
    "001": "Hà Nội", "002": "Hà Giang", "004": "Cao Bằng", "006": "Bắc Kạn", "008": "Tuyên Quang",
    "010": "Lào Cai", "011": "Điện Biên", "012": "Lai Châu", "014": "Sơn La", "015": "Yên Bái",
    "017": "Hòa Bình", "019": "Thái Nguyên", "020": "Lạng Sơn", "022": "Quảng Ninh", "024": "Bắc Giang",
    "025": "Phú Thọ", "026": "Vĩnh Phúc", "027": "Bắc Ninh", "030": "Hải Dương", "031": "Hải Phòng",
    "033": "Hưng Yên", "034": "Thái Bình", "035": "Hà Nam", "036": "Nam Định", "037": "Ninh Bình",
    "038": "Thanh Hóa", "040": "Nghệ An", "042": "Hà Tĩnh", "044": "Quảng Bình", "045": "Quảng Trị",
    "046": "Thừa Thiên Huế", "048": "Đà Nẵng", "049": "Quảng Nam", "051": "Quảng Ngãi", "052": "Bình Định",
    "054": "Phú Yên", "056": "Khánh Hòa", "058": "Ninh Thuận", "060": "Bình Thuận", "062": "Kon Tum",
    "064": "Gia Lai", "066": "Đắk Lắk", "067": "Đắk Nông", "068": "Lâm Đồng", "070": "Bình Phước",
    "072": "Tây Ninh", "074": "Bình Dương", "075": "Đồng Nai", "077": "Bà Rịa - Vũng Tàu",
    "079": "Hồ Chí Minh", "080": "Long An", "082": "Tiền Giang", "083": "Bến Tre", "084": "Trà Vinh",
    "086": "Vĩnh Long", "087": "Đồng Tháp", "089": "An Giang", "091": "Kiên Giang", "092": "Cần Thơ",
    "093": "Hậu Giang", "094": "Sóc Trăng", "095": "Bạc Liêu", "096": "Cà Mau",
}  # fmt: skip

# The tax code's check digit (Circular 105/2020/TT-BTC; the same rule as python-stdnum's stdnum.vn.mst),
# checked against published codes: 0100233488, 0314409058, 0103179782, 0100112437, 0312687878, 0100100079.
_TAX_WEIGHTS = (31, 29, 23, 19, 17, 13, 7, 5, 3)
_BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})
_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)


def _refuse(english: str, vietnamese: str) -> ValueError:
    return ValueError(f"{english} / {vietnamese}")


def _codepoint(character: str) -> str:
    return f"U+{ord(character):04X} ({unicodedata.name(character, 'control character')})"


def check_visible_text(value: str) -> str:
    """``value`` unchanged, unless it holds a character that hides or reorders what a reader sees."""
    for character in value:
        if character in _BIDI_CONTROLS or unicodedata.category(character) in _INVISIBLE_CATEGORIES:
            raise _refuse(
                f"contains the invisible character {_codepoint(character)}, which can make the text read "
                "differently from what is signed; remove it",
                f"chứa ký tự ẩn {_codepoint(character)}, có thể làm văn bản hiển thị khác với nội dung được "
                "ký; hãy xóa ký tự này",
            )
    return value


def _check_digits(value: str, pattern: str, name: tuple[str, str], shape: tuple[str, str]) -> None:
    """Refuse a code whose characters are not ``pattern``: a digit other than 0-9 (Arabic-Indic,
    full-width...) by name, so that the officer knows what to retype, else by its ``shape`` (English,
    Vietnamese). The code's own rules (province, check digit...) come after."""
    foreign = [c for c in value if c.isdigit() and not "0" <= c <= "9"]
    if foreign:
        raise _refuse(
            f"{name[0]} uses {_codepoint(foreign[0])}; type its digits with 0-9 only",
            f"{name[1]} có chữ số {_codepoint(foreign[0])}; chỉ nhập các chữ số 0-9",
        )
    if not re.fullmatch(pattern, value):
        raise _refuse(f"{shape[0]}; got {value!r}", f"{shape[1]}; đã nhập {value!r}")


def _non_empty(value: str) -> str:
    value = " ".join(value.split())
    if not value:
        raise _refuse("must not be empty", "không được để trống")
    if len(value) > 64:
        raise _refuse(
            f"is {len(value)} characters long; X.509 names allow at most 64",
            f"dài {len(value)} ký tự; tên trong chứng thư số tối đa 64 ký tự",
        )
    return value


def _citizen_id(value: str) -> str:
    _check_digits(
        value,
        r"[0-9]{12}",
        ("the citizen ID", "số định danh cá nhân"),
        (
            "a citizen ID (CCCD) is exactly 12 digits 0-9",
            "số định danh cá nhân (CCCD) gồm đúng 12 chữ số 0-9",
        ),
    )
    if value[:3] not in PROVINCE_CODES:
        raise _refuse(
            f"the citizen ID {value} starts with {value[:3]}, which is no province code of Circular "
            "07/2016/TT-BCA (001 Hà Nội ... 096 Cà Mau)",
            f"số định danh {value} bắt đầu bằng {value[:3]}, không phải mã tỉnh theo Thông tư 07/2016/TT-BCA",
        )
    # The fourth digit: 0/1 born 1900-1999 (male/female), 2/3 2000-2099, ... 8/9 2300-2399 (Circular
    # 59/2021/TT-BCA Art. 7). A birth year after this one is refused, which rules out 4-9 for now.
    born = 1900 + 100 * (int(value[3]) // 2) + int(value[4:6])
    if born > clock.now().year:
        raise _refuse(
            f"the citizen ID {value} encodes the birth year {born} (century digit {value[3]}, year "
            f"{value[4:6]}), which has not come yet",
            f"số định danh {value} mang năm sinh {born} (chữ số thế kỷ {value[3]}, năm {value[4:6]}), "
            "là năm chưa tới",
        )
    return value


def tax_check_digit(first_nine: str) -> int | None:
    """The tenth digit of a tax code whose first nine digits are ``first_nine``; None: no code has them."""
    remainder = sum(int(digit) * weight for digit, weight in zip(first_nine, _TAX_WEIGHTS, strict=True)) % 11
    check = 10 - remainder
    return None if check == 10 else check


def _tax_code(value: str) -> str:
    _check_digits(
        value,
        r"[0-9]{10}(-[0-9]{3})?",
        ("the tax code", "mã số thuế"),
        (
            "a tax code (MST) is 10 digits 0-9, or 10-3 for a branch",
            "mã số thuế gồm 10 chữ số 0-9, hoặc 10-3 với chi nhánh",
        ),
    )
    if tax_check_digit(value[:9]) != int(value[9]):
        raise _refuse(
            f"the tax code {value} fails its check digit (the tenth digit): it was mistyped",
            f"mã số thuế {value} sai chữ số kiểm tra (chữ số thứ mười): có thể đã nhập nhầm",
        )
    if value.endswith("-000"):
        raise _refuse(
            f"the tax code {value}: branches are numbered 001 to 999",
            f"mã số thuế {value}: chi nhánh được đánh số từ 001 đến 999",
        )
    return value


def _budget_code(value: str) -> str:
    _check_digits(
        value,
        r"[0-9]{7}",
        ("the budget-relationship code", "mã quan hệ ngân sách"),
        (
            "a budget-relationship code (MNS) is exactly 7 digits 0-9",
            "mã quan hệ ngân sách gồm đúng 7 chữ số 0-9",
        ),
    )
    return value


def _email(value: str) -> str:
    value = value.strip()
    if not _EMAIL.fullmatch(value) or len(value) > 128:
        raise _refuse(f"{value!r} is not an e-mail address", f"{value!r} không phải địa chỉ thư điện tử")
    return value


Text = Annotated[str, AfterValidator(_non_empty)]
CitizenId = Annotated[str, AfterValidator(_citizen_id)]
TaxCode = Annotated[str, AfterValidator(_tax_code)]
BudgetCode = Annotated[str, AfterValidator(_budget_code)]
Email = Annotated[str, AfterValidator(_email)]
