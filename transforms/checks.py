"""Checks on each sentence after splitting: is it written in its language, and is it a sentence at all?

LID runs per paragraph (a web line), so a line of Chinese spam that lid.176 calls German at 0.55, a
menu, or a product code reach a language's store unless each sentence is looked at. Every rule here
keeps real sentences: FLORES-200 and quoted speech, headlines and short sentences pass all of them
(benchmarks/retention.py measures that on every FLORES language).
"""
from __future__ import annotations

import re
from typing import Any

from parabeam.transforms.langs import LANG_SCRIPTS, LATIN_LANGS, SCRIPT_DENSITY, letter_scripts, scaled_chars, script_of
from parabeam.transforms.lid import top_languages

# Script: at least this share of a sentence's letters must be in its language's scripts (a German
# sentence may quote a Russian name; it may not be Chinese with "AV" in it). Letters are weighed by how
# much a character of their script says (langs.SCRIPT_DENSITY): one han character counts as three Latin
# letters, so "被告的姓名分别是 Baba Kanjar、Bhutha Kanjar、Rampro Kanjar、Gaza Kanjar 和 Vishnu Kanjar。"
# (FLORES, 34% han by weight) is Chinese.
MIN_SCRIPT_SHARE = 0.3
_SCRIPT_WEIGHT = {script: 1 / SCRIPT_DENSITY[script] for script in ("han", "kana", "hangul", "thai")}
# Japanese always writes kana (particles, inflections): this many han/kana letters without one is Chinese.
JA_MAX_LETTERS_WITHOUT_KANA = 12
# Chinese writes no kana; more than this share of them makes the sentence Japanese.
ZH_MAX_KANA_SHARE = 0.1
# LID of the sentence itself, where it is long enough to judge (in English characters): refused only
# when another language is confident and the wanted one is not even a candidate, so close languages
# (de/nds, pt/gl) and names-heavy sentences keep their sentences. Only for languages written in a script
# that several languages share (or in none we know): han, kana, hangul and Thai are left to the script
# rules, since lid.176 calls FLORES' Chinese sentences ja (0.97) or wuu (0.75).
LID_MIN_CHARS = 40
LID_OTHER_MIN_PROB = 0.7
SHARED_SCRIPTS = frozenset({"latin", "cyrillic", "arabic", "devanagari", "bengali", "hebrew", "ethiopic"})
LID_WANTED_MIN_PROB = 0.05
LID_CANDIDATES = 5
# Shouting: most cased letters upper case, with enough of them to tell (acronyms are short).
MAX_UPPER_SHARE = 0.7
MIN_CASED_FOR_CAPS = 10
# Text without its spaces (navigation run together: "NutzungsbedingungenDatenschutzerklärungImpressum")
# or URL-ish. Names have one joint each (TogiNet, AstroNet, YouTube).
MAX_GLUED = 3
MAX_GLUED_PER_WORD = 2
MAX_URL_SHARE = 0.3
# Codes and specs ("24CHECK-VERSICHERUNG", "Frame rate : 23.976 FPS"): short, unpunctuated, many numbers.
# Words and lists are only counted in scripts that space words (not han, kana or Thai).
CODE_MAX_WORDS = 8
CODE_MIN_DIGIT_SHARE = 0.25
# Lists ("A, B, C, D" without an ending, "A片,色情,成人,做愛"): items of a few words each (English
# characters, scaled per script), at least LIST_MIN_ITEMS of them; the first item may be longer, with the
# list's lead-in ("Минимальный интернет-трафик ФНС, ПФР, ФСС, Росстат, Росалкоголь").
LIST_MIN_ITEMS = 4
LIST_MAX_ITEM_CHARS = 25
MENU_MAX_WORDS = 6
# Control characters are not text. C1 controls (U+0080-U+009F) are what a page in Windows-1252 becomes when
# read as Latin-1: its dashes, quotes and ellipses ("\x97", "\x85") turn into controls, so the page's
# punctuation and sentence ends are lost and the "sentences" are run-on teasers cut mid-word
# ("Audio Editor, Audio CD Burner\x85Family Cyber Alert 4.18Concerned parents are using...").
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")   # not tab, line feed, carriage return
# Link labels: an arrow or pointing triangle set off by a space at either end ("► 2017", "→ 前のページに戻る",
# "Next post →"), or arrows at both ends ("←Previous post Next post→"). Arrows written into a sentence stay
# ("↑の2つは出来れば動画付きでお願いします。", "…待っていただければ幸いです(←").
_ARROWS = "[\u2190-\u21ff\u25b2-\u25c5\u2794-\u27bf\u27f0-\u27ff\u2900-\u297f]"
_NAVIGATION = re.compile(f"^{_ARROWS}\\s|\\s{_ARROWS}$|^{_ARROWS}.*{_ARROWS}$")

_SENTENCE_END = re.compile(r"[.!?。！？…;:»\"”’'」』)）]\s*$")
_MENU_SEPARATOR = re.compile(r"\s[•·>/]\s|\s?\|\s?")   # not « », which French quotes with spaces
_LIST_SEPARATOR = re.compile(r"\s*[,;、，]\s*")
_WORD = re.compile(r"\w+(?:[-.,/:']\w+)*")
_URLISH = re.compile(r"(?:https?://|www\.)\S+|\S+@\S+\.\w+|\S*\w\.(?:com|net|org|info|biz|html?|php|aspx?)\b\S*",
                     re.IGNORECASE)


def script_reason(lang: str, text: str) -> str | None:
    """`script_mismatch` when the letters are not mostly in the language's script(s); languages without
    an entry in langs.LANG_SCRIPTS or langs.LATIN_LANGS are not checked."""
    counts = letter_scripts(text)
    expected = LANG_SCRIPTS.get(lang, frozenset({"latin"}) if lang in LATIN_LANGS else None)
    if not counts or expected is None:
        return None
    weighed = {script: number * _SCRIPT_WEIGHT.get(script, 1.0) for script, number in counts.items()}
    if sum(weighed.get(script, 0) for script in expected) < MIN_SCRIPT_SHARE * sum(weighed.values()):
        return "script_mismatch"
    kana = counts.get("kana", 0)
    if lang == "ja" and not kana and counts.get("han", 0) > JA_MAX_LETTERS_WITHOUT_KANA:
        return "script_mismatch"
    if lang == "zh" and kana > ZH_MAX_KANA_SHARE * sum(counts.values()):
        return "script_mismatch"
    return None


def lid_reason(lang: str, text: str, model: Any) -> str | None:
    """`lid_mismatch` when the sentence, long enough to judge, is confidently another language and the
    wanted one is not among the model's candidates (or under LID_WANTED_MIN_PROB)."""
    if len(text) < LID_MIN_CHARS or not LANG_SCRIPTS.get(lang, SHARED_SCRIPTS) & SHARED_SCRIPTS:
        return None
    candidates = top_languages(model, text, LID_CANDIDATES)
    best, best_prob = candidates[0]
    if best == lang or best_prob < LID_OTHER_MIN_PROB:
        return None
    return "lid_mismatch" if dict(candidates).get(lang, 0.0) < LID_WANTED_MIN_PROB else None


def _ends_like_a_sentence(text: str) -> bool:
    return bool(_SENTENCE_END.search(text))


def _glue_points(word: str) -> int:
    """Upper-case letters right after two lower-case ones ("rklärungImpressum"; "iPhone", "McDonald" not)."""
    if not any(map(str.isupper, word[2:])):   # most words: nothing to look at
        return 0
    return sum(1 for i in range(2, len(word))
               if word[i].isupper() and word[i - 1].islower() and word[i - 2].islower())


def _is_list(text: str) -> bool:
    items = [item for item in _LIST_SEPARATOR.split(text.rstrip(",;.、，")) if item]
    short = [len(item) <= scaled_chars(LIST_MAX_ITEM_CHARS, item) for item in items]
    return not _ends_like_a_sentence(text) and sum(short) >= LIST_MIN_ITEMS and all(short[1:])


def _is_menu(text: str) -> bool:
    """Three or more items between menu separators, unless it ends as a sentence with a long item: a sentence
    may write "ouders / verzorgers" and "t / m", a breadcrumb's items are a few words ("Abuse / RSAC / SafeSurf.")."""
    items = _MENU_SEPARATOR.split(text)
    return len(items) >= 3 and (not _ends_like_a_sentence(text)
                                or all(len(_WORD.findall(item)) <= MENU_MAX_WORDS for item in items))


def _is_code(words: list[str], text: str) -> bool:
    return (len(words) <= CODE_MAX_WORDS and not _ends_like_a_sentence(text)
            and sum(any(char.isdigit() for char in word) for word in words) >= CODE_MIN_DIGIT_SHARE * len(words))


def junk_shape_reason(text: str) -> str | None:
    """Why `text` is not a sentence but mis-decoded text, a link label, a menu, a list, shouting, glued
    navigation, a URL or a code."""
    if _CONTROL.search(text):
        return "control_chars"
    if _NAVIGATION.search(text):
        return "navigation"
    spaced = script_of(text) == "other"
    if _is_menu(text) or (
            "|" in text and (not spaced or len(_WORD.findall(text)) <= MENU_MAX_WORDS)):
        return "menu"
    if _is_list(text):
        return "list"
    upper = sum(map(str.isupper, text))   # no character is both upper and lower case
    cased = upper + sum(map(str.islower, text))
    if cased >= MIN_CASED_FOR_CAPS and upper > MAX_UPPER_SHARE * cased:
        return "all_caps"
    glued = [_glue_points(word) for word in text.split()]
    if sum(glued) >= MAX_GLUED or max(glued, default=0) >= MAX_GLUED_PER_WORD:
        return "glued_words"
    if "." in text and sum(len(match) for match in _URLISH.findall(text)) > MAX_URL_SHARE * len(text):
        return "url"   # every _URLISH match has a dot
    if spaced and not _ends_like_a_sentence(text):
        words = _WORD.findall(text)
        if words and _is_code(words, text):
            return "code"
    return None


def sentence_reason(lang: str, text: str, model: Any = None) -> str | None:
    """None to keep a split sentence, else why not: script_mismatch, lid_mismatch (only with a fastText
    LID `model`), control_chars, navigation, menu, list, all_caps, glued_words, url or code. The cheap rules
    run first."""
    reason = script_reason(lang, text) or junk_shape_reason(text)
    return reason or (lid_reason(lang, text, model) if model is not None else None)
