"""Local FADA inference (pure, no Qt; heavy libraries imported lazily).

* :mod:`.constants`  upstream FADA prompts, class tables, palette, decoding settings (verbatim)
* :mod:`.pipeline`   interpret -> classify -> map -> detect -> segment (-> keypoints); modes, cancel, cache
* :mod:`.parsing`    cleaning, tolerant JSON extraction/repair, predictions and 0-1000 -> pixel rescaling
* :mod:`.mapper`     the 5-priority interpretation -> classes cascade; :mod:`.intents` chat routing
* :mod:`.schemas`    per-phase JSON schemas and GBNF grammars
* :mod:`.results`    AnalysisResult / PhaseResult dataclasses (analysis.json)
* :mod:`.cache`      on-disk answer cache; :mod:`.models` model manager; :mod:`.gguf_info` GGUF checks
* :mod:`.overlay`    Pillow overlays; :mod:`.evaluation` mAP / Dice / IoU / accuracy
* :mod:`.backend`    the ModelBackend protocol; ``llama_backend`` the llama.cpp implementation
"""
