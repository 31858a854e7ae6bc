"""The FADA protocol: what to ask the model, how to read its answers (no model runtime here).

* :mod:`.constants`   upstream FADA prompts, class tables, decoding settings (verbatim)
* :mod:`.pipeline`    FadaPipeline (:mod:`.settings` its options); :mod:`.session` the per-image phases
  (interpret -> classify -> map -> detect -> segment -> keypoints), modes, cancel, cache
* :mod:`.image`       model input: RGB, upstream's resize, content hashes
* :mod:`.json_repair` cleaning and tolerant JSON extraction/repair of model text
* :mod:`.parsing`     predictions (0-1000 -> pixels), interpretation and view label
* :mod:`.answers`     a phase's raw answer -> PhaseResult; chat reply text
* :mod:`.mapper`      the 5-priority interpretation -> classes cascade; :mod:`.intents` chat routing
* :mod:`.schemas`     per-phase JSON schemas and GBNF grammars
* :mod:`.results`     AnalysisResult / PhaseResult / PhaseState (analysis.json)
* :mod:`.cache`       on-disk answer cache; :mod:`.evaluation` mAP / Dice / IoU / accuracy
"""
