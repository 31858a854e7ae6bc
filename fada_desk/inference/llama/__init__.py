"""The llama.cpp backend (Qwen3.5 VLM, GGUF + mmproj) and what it is built from.

* :mod:`.llama_backend`  LlamaCppBackend, assembled from :mod:`.context` (state, tokens,
  batch evaluation), :mod:`.loading`, :mod:`.prefill` (prompt, image prefix via libmtmd)
  and :mod:`.generation` (the decode loop); :mod:`.runtime` process-wide llama.cpp
  setup and devices, :mod:`.chat` the chat template and the streamed text
* :mod:`.sampling`       the sampler (grammar consulted only on rejection)
* :mod:`.grammar`        the GBNF matcher (:mod:`.gbnf` its parser); :mod:`.grammar_json`
  JSON schema -> GBNF
* :mod:`.partial_head`   logits of a few tokens without llama.cpp's output layer
* :mod:`.threads`        decode thread tuner, core count
* :mod:`.gguf_info`      GGUF header reading and model/projector checks

Only :mod:`.llama_backend` and what it imports touch ``llama_cpp``, and only
when a model is loaded: importing these modules is cheap.
"""
