"""What a caller chooses for a signature, the same from the CLI's flags and the API's form fields."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from signing.appearance import AppearanceMode, AppearanceRequest, CopyForm
from signing.errors import InvalidDocument
from signing.pades import Certification, Level, SigningOptions

__all__ = ["SigningRequest", "invalid_value", "parse_box"]


def parse_box(text: str | None) -> tuple[float, float, float, float] | None:
    """``x,y,w,h`` in PDF points from the lower left corner of the page as shown (its /Rotate applied)."""
    if text is None:
        return None
    try:
        x, y, width, height = (float(part) for part in text.split(","))
    except ValueError:
        raise InvalidDocument(f"the box wants four numbers x,y,w,h in points, not {text!r}") from None
    return x, y, width, height


def invalid_value(error: ValidationError) -> InvalidDocument:
    """The first value a request refused, named as the caller gave it."""
    problem = error.errors()[0]
    field = ".".join(str(part) for part in problem["loc"])
    return InvalidDocument(f"{field}: {problem['msg']}")


class SigningRequest(BaseModel):
    """The signature's level, look and handling; the signer, the image and the limits come from elsewhere."""

    model_config = ConfigDict(extra="ignore")

    level: Level = Field(Level.B_T, description="PAdES baseline level")
    appearance: AppearanceMode = Field(AppearanceMode.NONE, description="how the signature looks")
    page: int | None = Field(None, ge=1, description="page of the signature, from 1")
    box: str | None = Field(None, description="x,y,w,h in points from the lower left of the page as shown")
    doc_number: str | None = Field(None, description="appendix: the document's number and symbol")
    copy_form: CopyForm = Field("SAO Y", description='copy: "SAO Y", "SAO LỤC" or "TRÍCH SAO"')
    agency: str | None = Field(None, description="appendix/copy: the agency's name")
    anchor: str | None = Field(
        None, description="approval: the printed line the signature goes above (default: the signer's name)"
    )
    password: str | None = Field(None, description="the PDF's user password")
    repair: bool = Field(False, description="rewrite a damaged, unsigned PDF before signing")
    pss: bool = Field(False, description="RSA keys: RSASSA-PSS instead of PKCS#1 v1.5")
    certify: Certification | None = Field(None, description="certify with DocMDP P=1, 2 or 3")
    field: str | None = Field(
        None,
        min_length=1,
        description="sign in this existing empty signature field, drawn in its rectangle (no page or box)",
    )

    @classmethod
    def of(cls, values: Mapping[str, Any]) -> SigningRequest:
        """From a command's arguments (extra names ignored); a bad value is an InvalidDocument."""
        try:
            return cls.model_validate(dict(values))
        except ValidationError as error:
            raise invalid_value(error) from None

    def options(self, *, image: Path | None, max_bytes: int) -> SigningOptions:
        return SigningOptions(
            level=self.level,
            appearance=AppearanceRequest(
                mode=self.appearance,
                page=self.page,
                box=parse_box(self.box),
                image=image,
                doc_number=self.doc_number,
                copy_form=self.copy_form,
                agency=self.agency,
                anchor=self.anchor,
            ),
            pss=self.pss,
            certify=self.certify,
            password=self.password,
            repair=self.repair,
            max_bytes=max_bytes,
            field=self.field,
        )
