"""The options `govsign sign` and `govsign sign-batch` share, declared once.

They are the parameters of :func:`signing_choices`, which builds the :class:`~signing.request.SigningRequest`
from them; :func:`with_signing_choices` adds them to a command's own parameters for Typer and hands the
command what they chose as one :class:`SigningChoices`.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from signing.appearance import AppearanceMode, CopyForm
from signing.pades import Certification, Level
from signing.request import SigningRequest, invalid_value

__all__ = ["CertOption", "PinFileOption", "SigningChoices", "signing_choices", "with_signing_choices"]

CertOption = Annotated[str, typer.Option("--cert", help="serial (hex) of the signing certificate")]
LevelOption = Annotated[Level, typer.Option(help="PAdES baseline level")]
AppearanceOption = Annotated[AppearanceMode, typer.Option(help="how the signature looks")]
PageOption = Annotated[int | None, typer.Option(help="page of the signature, from 1")]
BoxOption = Annotated[
    str | None, typer.Option(help="x,y,w,h in points from the lower left of the page as shown")
]
FieldOption = Annotated[
    str | None,
    typer.Option(
        help="sign in this existing empty signature field (see `govsign fields`), drawn in its rectangle "
        "(the text block unless another appearance is chosen); no --page or --box with it"
    ),
]
ImageOption = Annotated[Path | None, typer.Option(help="signature image or seal (PNG)")]
DocNumberOption = Annotated[str | None, typer.Option(help="appendix: document number and symbol")]
CopyFormOption = Annotated[CopyForm, typer.Option(help="copy: the form of the copy")]
AgencyOption = Annotated[str | None, typer.Option(help="appendix/copy: the agency's name")]
AnchorOption = Annotated[
    str | None,
    typer.Option(help="approval: the printed line the signature goes above (default: the signer's name)"),
]
PasswordOption = Annotated[str | None, typer.Option(help="the PDF's user password")]
RepairOption = Annotated[bool, typer.Option(help="rewrite a damaged, unsigned PDF before signing")]
PssOption = Annotated[bool, typer.Option(help="RSA keys: RSASSA-PSS instead of PKCS#1 v1.5")]
CertifyOption = Annotated[Certification | None, typer.Option(help="certify with DocMDP P=1, 2 or 3")]
PinFileOption = Annotated[
    Path | None,
    typer.Option(help="a file holding the holder's PIN (default: asked for, or read from standard input)"),
]


@dataclass(frozen=True)
class SigningChoices:
    """What the shared options chose: the signature's request, and the image file it shows (if any)."""

    request: SigningRequest
    image: Path | None


def signing_choices(
    level: LevelOption = Level.B_T,
    appearance: AppearanceOption = AppearanceMode.NONE,
    page: PageOption = None,
    box: BoxOption = None,
    field: FieldOption = None,
    image: ImageOption = None,
    doc_number: DocNumberOption = None,
    copy_form: CopyFormOption = "SAO Y",
    agency: AgencyOption = None,
    anchor: AnchorOption = None,
    password: PasswordOption = None,
    repair: RepairOption = False,
    pss: PssOption = False,
    certify: CertifyOption = None,
) -> SigningChoices:
    """The shared options as one request; a value the request refuses is an InvalidDocument."""
    try:
        request = SigningRequest(
            level=level,
            appearance=appearance,
            page=page,
            box=box,
            field=field,
            doc_number=doc_number,
            copy_form=copy_form,
            agency=agency,
            anchor=anchor,
            password=password,
            repair=repair,
            pss=pss,
            certify=certify,
        )
    except ValidationError as error:
        raise invalid_value(error) from None
    return SigningChoices(request, image)


def with_signing_choices(command: Callable[..., None]) -> Callable[..., None]:
    """``command`` as Typer should see it: its own parameters with the shared options after the required
    ones; called, it receives what those options chose as ``choices``."""
    own = dict(inspect.signature(command, eval_str=True).parameters)
    del own["choices"]  # what the shared options chose comes in there
    shared = inspect.signature(signing_choices, eval_str=True).parameters

    @functools.wraps(command)
    def run(**values: Any) -> None:
        choices = signing_choices(**{name: values.pop(name) for name in shared})
        command(choices=choices, **values)

    required = [parameter for parameter in own.values() if parameter.default is inspect.Parameter.empty]
    optional = [parameter for parameter in own.values() if parameter.default is not inspect.Parameter.empty]
    run.__signature__ = inspect.Signature([*required, *shared.values(), *optional])  # type: ignore[attr-defined]
    return run
