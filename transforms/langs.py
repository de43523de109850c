"""Language codes and scripts: one code convention everywhere, since codes become output paths.

Convention: ISO 639-1 where it exists, else ISO 639-3; script and region dropped; macrolanguage
members folded into the macrolanguage (cmn -> zh, arb -> ar, swh -> sw, pes -> fa), as CLDR does.
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import langcodes

# The default encoder's languages (see the encoder stage).
ENCODER_LANGS = frozenset("ar de en es fr it ja ko nl pl pt ru th tr zh".split())

_LABEL_PREFIX = "__label__"
_CODE = re.compile(r"[a-z]{2,3}")
# Valid codes that name no single language (undetermined, multiple, none, uncoded) or private use.
_NOT_A_LANGUAGE = {"und", "mul", "zxx", "mis"}
_PRIVATE_USE = re.compile(r"q[a-t][a-z]")


@lru_cache(maxsize=4096)
def normalise_lang(code_or_label: str) -> str:
    """Map a BCP-47 tag, ISO 639-3 code or fastText label (`__label__en`, `__label__eng_Latn`) to our code.

    Raises ValueError when langcodes cannot parse it at all; it does not check the code is a real
    language (model labels are trusted), `validate_lang` does.
    """
    tag = code_or_label.strip().removeprefix(_LABEL_PREFIX).replace("_", "-")
    try:
        language = langcodes.Language.get(langcodes.standardize_tag(tag, macro=True)).language
    except (langcodes.tag_parser.LanguageTagError, ValueError) as err:
        raise ValueError(f"not a language code: {code_or_label!r}") from err
    if not language:
        raise ValueError(f"not a language code: {code_or_label!r}")
    return language.lower()


def validate_lang(code: str) -> str:
    """Normalise `code` and check it names a real language usable as a path part ([a-z]{2,3})."""
    lang = normalise_lang(code)
    if (not _CODE.fullmatch(lang) or lang in _NOT_A_LANGUAGE or _PRIVATE_USE.fullmatch(lang)
            or not langcodes.Language.get(lang).is_valid()):
        raise ValueError(f"not a valid language code: {code!r}")
    return lang


def parse_langs(spec: str) -> list[str]:
    """Parse a comma-separated language list ("de,en") into normalised codes, in order, once each."""
    codes = [part.strip() for part in spec.split(",") if part.strip()]
    if not codes:
        raise ValueError(f"no language codes in {spec!r}")
    return list(dict.fromkeys(validate_lang(code) for code in codes))


# Characters a script needs, per character of English, to say the same thing: FLORES-200 devtest
# mean lengths, zho_Hans 42.7 and jpn_Jpan 56.3 against eng_Latn 130.4. Korean and Thai have no
# FLORES file here; their ratios are estimates (Hangul packs a syllable per character, Thai writes
# vowels and tone marks as separate characters).
SCRIPT_DENSITY = {"han": 0.33, "kana": 0.43, "hangul": 0.5, "thai": 0.9, "other": 1.0}

_SCRIPT_CHARS = {
    "han": re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]"),
    "kana": re.compile(r"[\u3040-\u30ff\u31f0-\u31ff\uff66-\uff9f]"),
    "hangul": re.compile(r"[\u1100-\u11ff\u3130-\u318f\uac00-\ud7af]"),
    "thai": re.compile(r"[\u0e00-\u0e7f]"),
}


_ANY_SCRIPT_CHAR = re.compile("|".join(pattern.pattern for pattern in _SCRIPT_CHARS.values()))


def script_of(text: str) -> str:
    """The script family of most of `text`'s letters: han, kana (Japanese), hangul, thai or other."""
    if not _ANY_SCRIPT_CHAR.search(text):  # the common case, decided without looking at every character
        return "other"
    letters = sum(1 for ch in text if unicodedata.category(ch)[0] in "LM")
    if not letters:
        return "other"
    counts = {name: len(pattern.findall(text)) for name, pattern in _SCRIPT_CHARS.items()}
    if 2 * (counts["han"] + counts["kana"]) > letters:
        return "kana" if counts["kana"] else "han"
    for name in ("hangul", "thai"):
        if 2 * counts[name] > letters:
            return name
    return "other"


def scaled_chars(chars: int, text: str) -> int:
    """A length given in English characters, scaled to the script of `text`."""
    return max(1, round(chars * SCRIPT_DENSITY[script_of(text)]))
