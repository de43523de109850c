"""Language codes and scripts: one code convention everywhere, since codes become output paths.

Convention: ISO 639-1 where it exists, else ISO 639-3; script and region dropped; macrolanguage
members folded into the macrolanguage (cmn -> zh, arb -> ar, swh -> sw, pes -> fa), as CLDR does.
"""
from __future__ import annotations

import re
import unicodedata
from collections import Counter
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


class _LetterOrMark(dict):
    """Character -> whether it is a letter or a combining mark (Unicode category L or M), filled in as characters
    are met: a dict lookup per character is what makes counting them cheap."""

    def __missing__(self, char: str) -> bool:
        self[char] = found = unicodedata.category(char)[0] in "LM"
        return found


_LETTER_OR_MARK = _LetterOrMark()
_ASCII_LETTERS = bytes(range(ord("A"), ord("Z") + 1)) + bytes(range(ord("a"), ord("z") + 1))


def letters_or_marks(text: str) -> int:
    """How many characters of `text` are letters or combining marks (Thai vowels, Devanagari signs); in ASCII,
    a-z and A-Z."""
    if text.isascii():
        return len(text) - len(text.encode("ascii").translate(None, _ASCII_LETTERS))
    return sum(map(_LETTER_OR_MARK.__getitem__, text))


@lru_cache(maxsize=8192)
def script_of(text: str) -> str:
    """The script family of most of `text`'s letters: han, kana (Japanese), hangul, thai or other.

    Memoised: a paragraph's or sentence's script is asked for by several filters in a row."""
    if not _ANY_SCRIPT_CHAR.search(text):  # the common case, decided without looking at every character
        return "other"
    letters = letters_or_marks(text)
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


# Writing systems by language, for checking that a sentence is written the way its language is. Scripts
# are named by the first word of the Unicode names of their letters (see `letter_scripts`); "han" and
# "kana" fold CJK ideographs and hiragana/katakana. Languages written in several scripts list them all;
# a language in neither table is not checked.
LANG_SCRIPTS: dict[str, frozenset[str]] = {lang: frozenset(scripts) for lang, scripts in {
    **dict.fromkeys("ru uk be bg mk kk ky tg mn ba tt cv ce os sah av kv myv mhr mrj krc xal tyv bxr lez "
                    "udm rue".split(), ("cyrillic",)),
    **dict.fromkeys("sr bs sh az uz tk ku".split(), ("cyrillic", "latin")),
    **dict.fromkeys("ar fa ur ps ckb ug sd arz azb mzn lrc pnb ks".split(), ("arabic",)),
    **dict.fromkeys("he yi".split(), ("hebrew",)),
    **dict.fromkeys("hi mr ne sa mai bh new gom dty bho".split(), ("devanagari",)),
    **dict.fromkeys("bn as bpy".split(), ("bengali",)),
    **dict.fromkeys("am ti".split(), ("ethiopic",)),
    "zh": ("han",), "yue": ("han",), "wuu": ("han",), "ja": ("han", "kana"), "ko": ("hangul", "han"),
    "th": ("thai",), "lo": ("lao",), "km": ("khmer",), "my": ("myanmar",), "el": ("greek",),
    "ka": ("georgian",), "xmf": ("georgian",), "hy": ("armenian",), "ta": ("tamil",), "te": ("telugu",),
    "kn": ("kannada",), "ml": ("malayalam",), "gu": ("gujarati",), "pa": ("gurmukhi",), "or": ("oriya",),
    "si": ("sinhala",), "bo": ("tibetan",), "dv": ("thaana",),
}.items()}
LATIN_LANGS = frozenset(
    "af als an ast bar bcl br ca cbk ceb co cs cy da de diq dsb en eo es et eu fi fr frr fy ga gd gl gn gv "
    "hif hr hsb ht hu ia id ie ilo io is it jbo jv kw la lb li lmo lt lv mg min ms mt mwl nah nap nds nl nn no "
    "oc pam pfl pl pms pt qu rm ro sc scn sco sk sl so sq su sv sw tl tr vec vep vi vls vo wa war wo yo zu xh "
    "ha ig rw ny sn st tn ts ss ve lg ln kg wo ff om mi sm to fj haw".split())


@lru_cache(maxsize=65536)
def letter_script(char: str) -> str:
    """The script of a letter, from its Unicode name: "latin", "cyrillic", "han", "kana", "hangul", ...
    (full- and half-width forms count as their script)."""
    words = unicodedata.name(char, "unknown").lower().split()
    if words[0] in ("fullwidth", "halfwidth") and len(words) > 1:
        words = words[1:]
    if words[0] == "cjk" or words[:2] == ["ideographic", "iteration"]:   # 々 repeats a han character
        return "han"
    if words[0] in ("hiragana", "katakana", "katakana-hiragana"):
        return "kana"
    return words[0]


@lru_cache(maxsize=None)
def _letter_script_or_none(char: str) -> str | None:
    """`letter_script(char)` for a letter (category Lu, Ll, Lt or Lo), None for anything else."""
    return letter_script(char) if unicodedata.category(char) in ("Lu", "Ll", "Lt", "Lo") else None


def letter_scripts(text: str) -> dict[str, int]:
    """How many of `text`'s letters (Unicode category L) each script has; modifier letters (ʻ, ˈ) belong
    to none."""
    if text.isascii():   # ASCII letters are all Lu/Ll, and Latin
        letters = sum(map(str.isalpha, text))
        return {"latin": letters} if letters else {}
    counts = Counter(map(_letter_script_or_none, text))
    counts.pop(None, None)
    return dict(counts)
