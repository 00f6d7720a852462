"""Languages of the pages: Simplified Chinese by default, English on request.

Templates and handlers are written with English message ids; ``locale/<lang>/LC_MESSAGES/
messages.po`` holds the translations. The ``.po`` files are the only committed form: they are
compiled with Babel when this module is first imported, so a fresh ``pip install -e .`` (or a
wheel, whose package data carries them) needs no build step and no compiled ``.mo`` can drift
from its source. The chosen language lives in a cookie; a page's request sets the language of
the rendering thread through a context variable that the Jinja2 gettext callables read.
"""

from __future__ import annotations

import gettext as _gettext
import io
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations
from starlette.requests import Request

DEFAULT = "zh_CN"
LANGUAGES = {"zh_CN": "简体中文", "en": "English"}
#: the value of ``<html lang>`` for each language
HTML_LANG = {"zh_CN": "zh-CN", "en": "en"}
COOKIE = "puhui_lang"
LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"

_current: ContextVar[str] = ContextVar("puhui_web_locale", default=DEFAULT)


@cache
def translations(lang: str) -> _gettext.NullTranslations:
    """The compiled catalog of ``lang`` (an empty one for a language without a catalog)."""
    po = LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not po.exists():
        return _gettext.NullTranslations()
    with po.open("rb") as f:
        catalog = read_po(f, locale=lang, domain=DOMAIN)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer, domain=DOMAIN)


def locale_of(request: Request) -> str:
    chosen = request.cookies.get(COOKIE, DEFAULT)
    return chosen if chosen in LANGUAGES else DEFAULT


def current() -> str:
    return _current.get()


@contextmanager
def using(lang: str) -> Iterator[None]:
    """Render and translate in ``lang`` for the duration of the block."""
    token = _current.set(lang if lang in LANGUAGES else DEFAULT)
    try:
        yield
    finally:
        _current.reset(token)


def gettext(message: str) -> str:
    return translations(current()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations(current()).ngettext(singular, plural, n)


def N_(message: str) -> str:
    """Mark a message id for extraction where it is defined; it is translated where shown."""
    return message


def pick(zh: str, en: str) -> str:
    """Choose between a domain's own Chinese and English texts (rule and reason texts)."""
    return zh if current() == "zh_CN" else en
