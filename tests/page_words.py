"""The vi/en check of the pages: the words a person reads on a page (text, labels, alternative texts), and
the words of the other language's catalogue found among them.

A deny-list per language is built from the catalogues themselves (govsign.web.texts and .terms): English
words (four letters or more) that no Vietnamese text uses, and Vietnamese words (with the language's own
letters) that no English text uses. Elements marked ``translate="no"`` hold codes and technical values
(a serial number, SHA-256, ``TOTAL_PASSED``, an algorithm's name) and are left out, as are the data
strings a test passes (the holders' names, which are Vietnamese in every language).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from html.parser import HTMLParser

from govsign.web.terms import TERMS
from govsign.web.texts import CONSOLE_TEXTS, TEXTS

__all__ = ["foreign_words", "visible_text"]

_VIETNAMESE_LETTERS = "ăâđêôơưàáảãạằắẳẵặầấẩẫậèéẻẽẹềếểễệìíỉĩịòóỏõọồốổỗộờớởỡợùúủũụừứửữựỳýỷỹỵ"
_WORD = re.compile(rf"[A-Za-z{_VIETNAMESE_LETTERS}{_VIETNAMESE_LETTERS.upper()}]+")
_SHOWN_ATTRIBUTES = ("aria-label", "placeholder", "alt", "title")
_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}
)


def _catalogue(language: str) -> list[str]:
    texts = [*TEXTS[language].values(), *CONSOLE_TEXTS[language].values()]
    texts += [word for group in TERMS[language].values() for word in group.values()]
    return texts


def _words(texts: Iterable[str]) -> set[str]:
    return {word.lower() for text in texts for word in _WORD.findall(text)}


def _deny_list(language: str) -> set[str]:
    """The other language's words that this language's texts never use."""
    other = "en" if language == "vi" else "vi"
    own = _words(_catalogue(language))
    theirs = _words(_catalogue(other)) - own
    if other == "en":
        return {word for word in theirs if len(word) >= 4 and word.isascii()}
    return {word for word in theirs if any(letter in _VIETNAMESE_LETTERS for letter in word)}


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skipping: list[str] = []  # the open elements whose content is not read

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if self._skipping:
            if tag not in _VOID:
                self._skipping.append(tag)
            return
        if values.get("translate") == "no" or tag in ("script", "style"):
            if tag not in _VOID:
                self._skipping.append(tag)
            return
        if tag == "input" and values.get("type") == "hidden":
            return
        self.parts += [value for name, value in attrs if name in _SHOWN_ATTRIBUTES and value]

    def handle_endtag(self, tag: str) -> None:
        if self._skipping and self._skipping[-1] == tag:
            self._skipping.pop()

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def visible_text(html: str) -> str:
    """What a person reads on the page, and what a screen reader says of its controls."""
    reader = _Reader()
    reader.feed(html)
    return " ".join(" ".join(reader.parts).split())


def foreign_words(html: str, language: str, data: Iterable[str] = ()) -> set[str]:
    """The words of the other language on a page in ``language``, ``data`` (names, places) left out."""
    text = visible_text(html)
    for value in data:
        text = text.replace(value, " ")
    return _words([text]) & _deny_list(language)
