"""Generated parallel German/English sentences for refresh tests and benchmarks: every combination of a
subject, verb, object, place and time (20,480 pairs), shuffled, and pages that carry them in both languages
(three sentences a page; the German sentences of a page in another order)."""
from __future__ import annotations

import itertools
import random

SUBJECTS = [("The old farmer", "Der alte Bauer"), ("My younger sister", "Meine jüngere Schwester"),
            ("The new teacher", "Der neue Lehrer"), ("Our neighbour", "Unser Nachbar"),
            ("The tired doctor", "Der müde Arzt"), ("A young student", "Ein junger Student"),
            ("His grandmother", "Seine Großmutter"), ("The famous painter", "Der berühmte Maler"),
            ("The bus driver", "Der Busfahrer"), ("Her best friend", "Ihre beste Freundin")]
VERBS = [("bought", "kaufte"), ("painted", "malte"), ("repaired", "reparierte"), ("sold", "verkaufte"),
         ("found", "fand"), ("cleaned", "putzte"), ("photographed", "fotografierte"), ("described", "beschrieb")]
OBJECTS = [("a red bicycle", "ein rotes Fahrrad"), ("the wooden table", "den Holztisch"),
           ("an old boat", "ein altes Boot"), ("the small garden", "den kleinen Garten"),
           ("a blue car", "ein blaues Auto"), ("the church tower", "den Kirchturm"),
           ("a heavy suitcase", "einen schweren Koffer"), ("the kitchen window", "das Küchenfenster")]
PLACES = [("", ""), ("in the village", "im Dorf"), ("near the harbour", "am Hafen"),
          ("in the city", "in der Stadt"), ("at the market", "auf dem Markt"), ("by the lake", "am See"),
          ("behind the station", "hinter dem Bahnhof"), ("in the mountains", "in den Bergen")]
TIMES = [("yesterday morning", "gestern Morgen"), ("last summer", "letzten Sommer"), ("on Sunday", "am Sonntag"),
         ("after the storm", "nach dem Sturm")]


def sentence_pairs(seed: int = 7) -> list[tuple[str, str]]:
    """Every (en, de) sentence pair, in an order fixed by `seed`."""
    pairs = []
    for (s_en, s_de), (v_en, v_de), (o_en, o_de), (p_en, p_de), (t_en, t_de) in itertools.product(
            SUBJECTS, VERBS, OBJECTS, PLACES, TIMES):
        en = " ".join(filter(None, (s_en, v_en, o_en, p_en, t_en))) + "."
        de = " ".join(filter(None, (s_de, v_de, t_de, o_de, p_de))) + "."
        pairs.append((en, de))
    random.Random(seed).shuffle(pairs)
    return pairs


def pages(pairs: list[tuple[str, str]], start: int, site: str = "www.gen.example") -> list[tuple[str, str]]:
    """(url, text) of pages carrying `pairs`: three sentences a page, each page in English and in German."""
    out = []
    for i in range(0, len(pairs), 3):
        chunk = pairs[i:i + 3]
        out.append((f"https://{site}/en/{start + i}", " ".join(en for en, _de in chunk)))
        out.append((f"https://{site}/de/{start + i}", " ".join(de for _en, de in reversed(chunk))))
    return out
