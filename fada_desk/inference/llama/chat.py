"""Qwen3.5's chat template and the streamed answer text.

:func:`render_chat` renders one user turn (image before text, thinking off)
exactly like the model's official template; the backend splits it at
:data:`IMAGE_PLACEHOLDER` into the image prefix (evaluated through libmtmd)
and the text suffix. :class:`TextStream` turns the sampled token bytes into
text chunks, holding back incomplete UTF-8 and what could be the start of a
stop string, and cuts the text at the first stop string.
"""

from __future__ import annotations

import codecs

IMAGE_PLACEHOLDER = "<|vision_start|><|image_pad|><|vision_end|>"
VISION_END = "<|vision_end|>"
THINK_OFF = "<think>\n\n</think>\n\n"


def render_chat(prompt: str, system: str | None = None, with_image: bool = False) -> str:
    """Qwen3.5 chat template, one user turn, generation prompt, thinking disabled.

    Mirrors the official template: system and user contents are trimmed, the
    image comes before the text inside the user message, and the assistant turn
    starts with an empty think block.
    """
    out = ""
    if system is not None:
        out += f"<|im_start|>system\n{system.strip()}<|im_end|>\n"
    content = (IMAGE_PLACEHOLDER + prompt) if with_image else prompt
    out += f"<|im_start|>user\n{content.strip()}<|im_end|>\n"
    out += "<|im_start|>assistant\n" + THINK_OFF
    return out


class TextStream:
    """Bytes -> text, holding back incomplete UTF-8 and possible stop-string prefixes."""

    def __init__(self, stops: tuple[str, ...]) -> None:
        self._dec = codecs.getincrementaldecoder("utf-8")("replace")
        self.text = ""
        self._emitted = 0
        self._stops = tuple(s for s in stops if s)
        self.stopped = False

    def feed(self, data: bytes) -> str:
        self.text += self._dec.decode(data)
        return self._drain(final=False)

    def finish(self) -> str:
        self.text += self._dec.decode(b"", final=True)
        return self._drain(final=True)

    def _drain(self, final: bool) -> str:
        if self.stopped:
            return ""
        cut = len(self.text)
        if self._stops:
            start = max(0, self._emitted - max(len(s) for s in self._stops))
            hits = [i for i in (self.text.find(s, start) for s in self._stops) if i >= 0]
            if hits:
                self.text = self.text[: min(hits)]
                self.stopped = True
                cut = len(self.text)
            elif not final:
                for s in self._stops:
                    for n in range(min(len(s) - 1, len(self.text)), 0, -1):
                        if self.text.endswith(s[:n]):
                            cut = min(cut, len(self.text) - n)
                            break
        out = self.text[self._emitted : cut]
        self._emitted = max(self._emitted, cut)
        return out
