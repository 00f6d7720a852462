"""Banned promise phrases in project text and marketing (禁止性宣传用语).

The platform may not promise principal or interest (暂行办法 第十条 items 3 and 10); the list
follows regulation.md §1.2 item 3 and §3.6 (保本, 保息, 刚性兑付, 本息保障, 零风险, 100%安全,
银行担保, 稳赚) plus English equivalents used in the bilingual UI. Matching is on text with
spaces removed for Chinese phrases ("保 本" is still caught) and on whole words, case folded,
for English ones ("Guaranteed  Returns" is caught, "piano risk" is not "no risk").
"""

from __future__ import annotations

import re

BANNED_PHRASES: tuple[str, ...] = (
    "保本",
    "保息",
    "刚性兑付",
    "刚兑",
    "本息保障",
    "零风险",
    "无风险",
    "100%安全",
    "百分百安全",
    "银行担保",
    "稳赚",
    "guaranteed returns",
    "guaranteed principal",
    "principal guaranteed",
    "risk free",
    "no risk",
    "100% safe",
)

_SPACE = re.compile(r"\s+")


def _is_latin(phrase: str) -> bool:
    return phrase.isascii()


def _pattern(phrase: str) -> re.Pattern[str]:
    words = [re.escape(w) for w in phrase.casefold().split()]
    return re.compile(r"(?<![a-z0-9])" + r"[\s\-]*".join(words) + r"(?![a-z0-9])")


def find_banned(text: str, phrases: tuple[str, ...] = BANNED_PHRASES) -> list[str]:
    """The banned phrases ``text`` contains, in list order, each once (empty when clean)."""
    if not text:
        return []
    folded = text.casefold().replace("％", "%")
    compact = _SPACE.sub("", folded)
    spaced = _SPACE.sub(" ", folded)
    found: list[str] = []
    for phrase in phrases:
        if _is_latin(phrase):
            hit = _pattern(phrase).search(spaced) is not None
        else:
            hit = _SPACE.sub("", phrase.casefold()) in compact
        if hit:
            found.append(phrase)
    return found
