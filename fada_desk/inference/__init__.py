"""Local FADA inference (pure, no Qt; heavy libraries imported lazily).

* :mod:`.backend`      the ModelBackend protocol and the lazy BACKENDS registry
* :mod:`.fada`         the FADA protocol: prompts and tables, the phase pipeline, parsing
  and repair, the interpretation -> classes mapper, grammars, results, cache, evaluation
* :mod:`.llama`        the llama.cpp backend (GGUF + mmproj): loading, chat template,
  decoding with grammars, image embedding, thread tuning, GGUF header checks
* :mod:`.model_store`  model sets: manifests, verification, install, download, backend creation
"""
