"""Long-lived data kept out of the cyclic collector's walks (transforms/heap.py), each in a fresh interpreter: freezing
is process-wide and would otherwise reach the test session itself."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap


def _run(code: str) -> dict:
    """Run `code` in a fresh interpreter; it prints one JSON object as its last line."""
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_load_for_process_pauses_the_collector_and_freezes_what_it_loaded():
    seen = _run("""
        import gc, json
        from parabeam.transforms import heap
        inside = []
        def load():
            inside.append(gc.isenabled())
            return [[i] for i in range(50_000)]   # 50,001 tracked lists
        before = gc.get_freeze_count()
        loaded = heap.load_for_process(load)
        enabled_after = gc.isenabled()
        frozen = gc.get_freeze_count() - before
        gc.disable()
        heap.load_for_process(lambda: None)
        print(json.dumps({"inside": inside[0], "after": enabled_after, "frozen": frozen, "len": len(loaded),
                          "stays_disabled": not gc.isenabled()}))
    """)
    assert seen.pop("frozen") >= 50_001
    assert seen == {"inside": False, "after": True, "len": 50_000, "stays_disabled": True}


def test_the_thai_dictionary_is_frozen_on_the_first_thai_text_and_only_then():
    seen = _run("""
        import gc, json
        from parabeam.transforms.split import split_sentences
        english = split_sentences("en", "The museum opens at nine. Tickets cost ten euros.")
        frozen_before_thai = gc.get_freeze_count()
        thai = split_sentences("th", "เมื่อวานนี้ฉันไปตลาดกับแม่ เราซื้อผลไม้และผักมากมาย")
        print(json.dumps({"english": english, "before": frozen_before_thai, "after": gc.get_freeze_count(),
                          "enabled": gc.isenabled(), "thai": thai}))
    """)
    assert seen["english"] == ["The museum opens at nine.", "Tickets cost ten euros."]
    assert seen["before"] == 0   # no Thai yet: nothing loaded, nothing frozen
    assert seen["after"] > 400_000   # the word trie (~420k nodes and dicts) and what was alive with it
    assert seen["enabled"]
    assert "".join(seen["thai"]).replace(" ", "") == "เมื่อวานนี้ฉันไปตลาดกับแม่เราซื้อผลไม้และผักมากมาย"


def test_a_process_that_runs_stages_freezes_its_heap_at_exit():
    # atexit runs handlers last-registered first: this one, registered before the stage modules are imported, runs
    # after theirs and sees what the interpreter's final collection will walk.
    done = subprocess.run([sys.executable, "-c", textwrap.dedent("""
        import atexit, gc
        atexit.register(lambda: print(gc.get_freeze_count(), sum(len(gc.get_objects(g)) for g in range(3))))
        import parabeam.transforms.lid
    """)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    frozen, collectable = map(int, done.stdout.split())
    assert frozen > 50_000   # Beam's and the stages' modules
    assert collectable < 10   # what the handler itself made
