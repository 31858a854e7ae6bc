"""FADA pipeline benchmark on the Qwen3.5-0.8B shape twin: NAIVE vs OPTIMIZED backend, side by side.

NAIVE     = what a straightforward llama-cpp-python integration does: the stock
            ``MTMDChatHandler`` per phase (image re-encoded every phase), the
            stock grammar sampler (grammar applied to all 248k logits every
            token), no prefix reuse, no jump-forward.
OPTIMIZED = :class:`fada_desk.inference.llama.llama_backend.LlamaCppBackend`: image
            prefix encoded once and restored per phase, grammar consulted only
            when the sampled token is rejected, jump-forward over forced text.

Like for like: both paths decode EXACTLY the same number of tokens per phase
(FADA-typical: interpret 300, classify 20, detect 150, segment 400). A JSON
grammar lets a model close early, and random weights close at random points,
so both paths use ``schemas.endless_grammar(phase, layout)``: the pipeline's
grammar in the same layout whose outermost container never closes. The
counts are checked (naive: llama.cpp perf counters + finish_reason) and the
run fails if they differ. Greedy decoding, the same image (an HC18 frame if
available) and the pipeline's real prompts. Each path runs in its own process
so peak RSS is measured per path. The twin (random weights, real dimensions:
Q4_K_M ~530 MB + F16 mmproj ~200 MB) is built once into bench/.cache by
``devtools.shape_twin``.

    .venv/bin/python bench/pipeline.py                    # naive vs optimized, canonical layout
    .venv/bin/python bench/pipeline.py --also-permissive  # + optimized with the permissive layout
    .venv/bin/python bench/pipeline.py --only optimized --layout permissive
    .venv/bin/python bench/pipeline.py --also-permissive --replay  # + both layouts on replayed FADA-style answers
    .venv/bin/python bench/pipeline.py --sizes            # image encode cost per input size

Threads and OpenMP waits: NAIVE runs with llama-cpp-python's defaults (n_threads =
cores // 2 for token decoding, n_threads_batch = all cores, libgomp's default waits);
OPTIMIZED with the app's settings (GOMP_SPINCOUNT=10000 and the decode thread tuner,
which measures 1 vs 2 threads while decoding and keeps the faster; see
fada_desk/inference/llama/threads.py). ``--threads N`` sets the core count for both.
The table's "decode calls" counts llama_decode calls while answering (the
optimized path evaluates a sampled token together with the text the grammar
forces after it).

Goal on the 2-core CPU: optimized <= 25 s for the four phases, >= 2.5x faster
than naive, peak RSS <= 2 GB. Measured on the 2-vCPU VM, machine otherwise idle
(2026-11-23): naive 78.7-79.4 s; optimized canonical 18.4-19.3 s, permissive (the
app's default) 22.6-23.1 s; replayed answers canonical 20.2 s, permissive 23.0 s.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# phase, FADA-typical output tokens
PHASES: list[tuple[str, int]] = [("interpret", 300), ("classify", 20), ("detect", 150), ("segment", 400)]
CLASSES = "head, abdomen, femur, cerebellum, thalamus"


def _prompt(phase: str) -> str:
    try:
        from fada_desk.inference.fada import constants as C

        return {
            "interpret": lambda: C.INTERPRET_PROMPT,
            "classify": lambda: C.CLASSIFY_PROMPT,
            "detect": lambda: C.DETECT_PROMPT_TEMPLATE.format(classes=CLASSES),
            "segment": lambda: C.SEGMENT_PROMPT_TEMPLATE.format(classes=CLASSES),
        }[phase]()
    except Exception:  # pipeline constants not available: generic FADA-like prompts
        return {
            "interpret": "Interpret this fetal ultrasound image in detail.",
            "classify": "Classify this fetal ultrasound image.",
            "detect": f"Detect all instances of these structures: {CLASSES}. Output JSON.",
            "segment": f"Detect and segment all instances of: {CLASSES}. Output JSON with polygons.",
        }[phase]


# Longest JSON string per phase in the bench grammars. Random weights never close a string by
# themselves (the closing quote is 1 of 248k tokens), so without a bound all 300 interpret tokens
# would be one string value. Bounds near the corpus (tests/data/fada_outputs: interpretation
# strings mean 33 / median 34 chars, labels mean 6 / max 15) make keys, separators and boxes recur
# as often as in real FADA answers. Same grammar for every path.
MAX_CHARS = {"interpret": 40, "classify": 12, "detect": 8, "segment": 8}


def _grammar(phase: str, layout: str) -> str:
    from fada_desk.inference.fada import schemas

    return schemas.endless_grammar(phase, layout, max_chars=MAX_CHARS[phase])


def _image(path: str | None, size: str | None = None):
    """The bench image; ``size`` = "WxH" (exact) or "max<N>" (longest side N, aspect kept)."""
    import numpy as np
    from PIL import Image

    if path is None:
        cands = sorted((ROOT.parent / "shared" / "data" / "hc18" / "images").glob("*.png"))
        cands = [c for c in cands if "Annotation" not in c.name]
        path = str(cands[0]) if cands else None
    if path is None:
        rng = np.random.default_rng(0)
        img = Image.fromarray((rng.random((540, 800, 3)) * 255).astype(np.uint8))
        name = "synthetic"
    else:
        img = Image.open(path).convert("RGB")
        name = Path(path).name
    if size is None:
        size = "max1024"  # the pipeline's MAX_IMAGE_SIDE (only ever shrinks)
    if size.startswith("max"):
        side = int(size[3:])
        if max(img.size) > side:
            sc = side / max(img.size)
            img = img.resize((round(img.width * sc), round(img.height * sc)), Image.Resampling.LANCZOS)
    else:
        w, h = (int(v) for v in size.split("x"))
        img = img.resize((w, h), Image.Resampling.LANCZOS)
    return np.asarray(img), f"{name} {img.width}x{img.height}"


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# ----------------------------------------------------------------------------- children

def child_naive(model: str, mmproj: str, image_path: str | None, n_threads: int, layout: str) -> dict:
    import llama_cpp
    from llama_cpp import Llama, LlamaGrammar
    from llama_cpp.llama_chat_format import MTMDChatHandler
    from PIL import Image

    class NoThinkHandler(MTMDChatHandler):
        def __call__(self, **kw):  # the Qwen3.5 template with thinking disabled, as in the pipeline
            return super().__call__(enable_thinking=False, **kw)

    img, desc = _image(image_path)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    url = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
    t0 = time.perf_counter()
    # library defaults for threads: n_threads = cores // 2 (token decode), n_threads_batch = cores
    llm = Llama(model_path=model, chat_handler=NoThinkHandler(clip_model_path=mmproj, verbose=False),
                n_ctx=4096, n_batch=512, n_threads=max(1, n_threads // 2), n_threads_batch=n_threads,
                verbose=False)
    load_s = time.perf_counter() - t0
    rows = []
    for phase, n_tok in PHASES:
        grammar = LlamaGrammar.from_string(_grammar(phase, layout), verbose=False)
        llama_cpp.llama_perf_context_reset(llm._ctx.ctx)
        t0 = time.perf_counter()
        first = None
        finish = None
        for chunk in llm.create_chat_completion(
                messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}},
                                                       {"type": "text", "text": _prompt(phase)}]}],
                grammar=grammar, max_tokens=n_tok, temperature=0.0, repeat_penalty=1.0, stream=True):
            choice = chunk["choices"][0]
            finish = choice.get("finish_reason") or finish
            if first is None and choice["delta"].get("content"):
                first = time.perf_counter()
        end = time.perf_counter()
        perf = llama_cpp.llama_perf_context(llm._ctx.ctx)
        first = first or end
        # every generated token but the last is evaluated on its own (llama.cpp perf: n_eval)
        tokens = int(perf.n_eval) + 1
        if finish != "length" or tokens != n_tok:
            raise SystemExit(f"naive {phase}: decoded {tokens} tokens (finish={finish}), expected {n_tok}")
        rows.append({"phase": phase, "encode_s": 0.0, "prefill_s": first - t0,  # split by the parent
                     "encode_prefill_s": first - t0, "decode_s": end - first, "total_s": end - t0,
                     "tokens": tokens, "prefill_tokens": int(perf.n_p_eval), "forced": 0,
                     "steps": int(perf.n_eval)})
    llm.close()
    return {"path": "naive", "layout": layout, "load_s": load_s, "rows": rows, "rss_mb": _rss_mb(), "image": desc}


def _backend(model: str, mmproj: str, n_threads: int, flash_attn: str):
    from fada_desk.inference.llama.llama_backend import LlamaCppBackend

    fa = {"auto": None, "on": True, "off": False}[flash_attn]
    return LlamaCppBackend(model, mmproj, n_ctx=4096, n_batch=512, n_threads=n_threads, compute_hashes=False,
                           flash_attn=fa)


# ----------------------------------------------------------------------------- replayed answers
#
# Random weights show what the machinery costs, not what a trained model does: greedy random
# weights wander through the grammar (runs of whitespace, one-character strings), so the number
# of tokens the grammar forces depends on the random walk, not on FADA. "Replay" runs the same
# optimized path on realistic FADA-style answers instead: at every sampling step the token is
# the next token of a prepared answer (json.dumps layout, as upstream's data preparation writes
# its training targets, webapp/../data/prepare_interpret_data.py) rather than the argmax of the
# random logits. Every llama_decode still runs on the real twin, so the cost per call is real;
# what changes is which tokens are sampled and which the grammar forces.

LABELS = ("head", "thalamus", "femur", "abdomen")  # <= MAX_CHARS["detect"] characters


def _replay_text(phase: str) -> str:
    """A long FADA-style answer for ``phase`` that the endless bench grammar accepts (never closes)."""
    import math
    import random

    rng = random.Random(phase)
    if phase == "interpret":
        values = [
            ("anatomical_structures", "Fetal skull, thalami, cavum septi"),
            ("fetal_orientation", "Transverse section, occiput left"),
            ("imaging_plane", "Trans-thalamic plane"),
            ("biometric_measurements", "BPD and HC measurable"),
            ("gestational_age", "Approximately 22-24 weeks"),
            ("image_quality", "Good, midline echo clearly seen"),
            ("normality_assessment", "No structural anomaly in this view"),
            ("clinical_recommendations", "Routine follow-up; measure HC"),
        ]
        pairs = [f'"{k}": "{v}"' for _ in range(6) for k, v in values]
        return "{" + ", ".join(pairs)
    if phase == "classify":
        return '{"label": "BPD_PLANE", ' + ", ".join(f'"view": "{w}"' for w in ("axial", "head") * 20)

    def box() -> list[int]:
        x0, y0 = rng.randint(80, 500), rng.randint(80, 500)
        return [x0, y0, x0 + rng.randint(120, 400), y0 + rng.randint(120, 400)]

    items = []
    for i in range(40):
        b = box()
        label = LABELS[i % len(LABELS)]
        if phase == "detect":
            items.append(f'{{"bbox_2d": {b}, "label": "{label}"}}')
        else:
            cx, cy, rx, ry = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2, (b[2] - b[0]) / 2, (b[3] - b[1]) / 2
            pts = [[round(cx + rx * math.cos(2 * math.pi * k / 24)), round(cy + ry * math.sin(2 * math.pi * k / 24))]
                   for k in range(24)]
            items.append(f'{{"bbox_2d": {b}, "label": "{label}", "mask": {pts}}}')
    return "[" + ", ".join(items)


def _install_replay(backend, text: str) -> dict:
    """Make the backend's sampler pick the next token of ``text`` (checked against the grammar)."""
    from fada_desk.inference.llama import sampling as S

    state = {"data": text.encode(), "pos": 0, "queue": [], "queue_pos": -1, "picks": 0}
    # the unpatched methods (a previous phase may have installed its own replay)
    orig_accept = getattr(S.Sampler, "_replay_orig_accept", S.Sampler.accept)
    S.Sampler._replay_orig_accept = orig_accept

    def accept(self, token: int) -> None:
        orig_accept(self, token)
        piece = self.t.pieces[token]
        if not state["data"].startswith(piece, state["pos"]):
            raise SystemExit(f"replay out of sync at byte {state['pos']}: {piece!r}, expected "
                             f"{state['data'][max(0, state['pos'] - 30):state['pos'] + 30]!r}")
        state["pos"] += len(piece)

    def pick(self, logits=None):
        if state["queue_pos"] != state["pos"] or not state["queue"]:
            rest = state["data"][state["pos"]:state["pos"] + 400].decode("utf-8", "ignore")
            state["queue"] = backend.tokenize(rest, parse_special=False)
            state["queue_pos"] = state["pos"]
        tok = state["queue"].pop(0)
        state["queue_pos"] = state["pos"] + len(self.t.pieces[tok])
        if not self.allowed(tok):
            raise SystemExit(f"replay: the grammar rejects {self.t.pieces[tok]!r} at byte {state['pos']}")
        state["picks"] += 1
        return tok

    def pick_among(self, ids, vals):  # the partial-output-layer path (few allowed tokens)
        return pick(self)

    S.Sampler.pick, S.Sampler.pick_among, S.Sampler.accept = pick, pick_among, accept  # type: ignore[method-assign]
    return state


def child_optimized(model: str, mmproj: str, image_path: str | None, n_threads: int, layout: str,
                    flash_attn: str = "auto", replay: bool = False) -> dict:
    import hashlib

    from fada_desk.inference.backend import GenerationRequest, GenerationStats

    img, desc = _image(image_path)
    key = hashlib.sha256(img.tobytes()).hexdigest()
    t0 = time.perf_counter()
    b = _backend(model, mmproj, n_threads, flash_attn)
    b.load()
    load_s = time.perf_counter() - t0
    rows = []
    replay_state = None
    for phase, n_tok in PHASES:
        if replay:
            replay_state = _install_replay(b, _replay_text(phase))
        st = GenerationStats()
        req = GenerationRequest(prompt=_prompt(phase), image=img, image_key=key, max_tokens=n_tok,
                                temperature=0.0, grammar=_grammar(phase, layout))
        t0 = time.perf_counter()
        for _ in b.generate(req, None, st):
            pass
        total = time.perf_counter() - t0
        if st.completion_tokens != n_tok:
            raise SystemExit(f"optimized {phase}: decoded {st.completion_tokens} tokens, expected {n_tok}")
        forced = st.extra.get("forced_tokens", 0)
        if replay_state is not None and replay_state["picks"] + forced != n_tok:
            raise SystemExit(f"replay {phase}: {replay_state['picks']} picks + {forced} forced != {n_tok}")
        rows.append({"phase": phase, "encode_s": st.image_encode_s, "prefill_s": st.prefill_s,
                     "encode_prefill_s": st.image_encode_s + st.prefill_s, "decode_s": st.decode_s,
                     "total_s": total, "tokens": st.completion_tokens,
                     "prefill_tokens": st.extra.get("prefill_tokens", 0), "image_tokens": st.image_tokens,
                     "forced": forced, "forced_batches": st.extra.get("forced_batches", 0),
                     "steps": st.extra.get("decode_calls", 0), "threads": st.extra.get("decode_threads"),
                     "rejections": st.extra.get("grammar_rejections", 0), "sample_s": st.extra.get("sample_s", 0.0),
                     "reused": st.prefix_reused})
    b.close()
    return {"path": "optimized", "layout": layout, "replay": replay, "load_s": load_s, "rows": rows,
            "rss_mb": _rss_mb(), "image": desc}


SIZES = ("800x540", "640x480", "max768", "max512")


def child_sizes(model: str, mmproj: str, image_path: str | None, n_threads: int, flash_attn: str = "auto") -> dict:
    """Image tokens, vision-encoder time and image prefill time per input size (one short answer each)."""
    from fada_desk.inference.backend import GenerationRequest, GenerationStats

    b = _backend(model, mmproj, n_threads, flash_attn)
    b.load()
    rows = []
    for size in ("max256", *SIZES):  # the first one only warms the vision graph up
        img, desc = _image(image_path, size)
        st = GenerationStats()
        req = GenerationRequest(prompt=_prompt("classify"), image=img, max_tokens=1, temperature=0.0)
        for _ in b.generate(req, None, st):
            pass
        rows.append({"size": size, "image": desc, "image_tokens": st.image_tokens, "encode_s": st.image_encode_s,
                     "prefill_s": st.prefill_s, "prefill_tokens": st.extra.get("prefill_tokens", 0)})
    b.close()
    return {"path": "sizes", "rows": rows[1:], "rss_mb": _rss_mb()}


# ----------------------------------------------------------------------------- parent

def _run_child(path: str, model: Path, mmproj: Path, image: str | None, threads: int, layout: str,
               flash_attn: str) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", path, "--model", str(model),
           "--mmproj", str(mmproj), "--threads", str(threads), "--layout", layout, "--flash-attn", flash_attn]
    if image:
        cmd += ["--image", image]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{path} run failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    if path == "naive":
        # The stock handler times the vision encoder itself (libmtmd helper log on stderr, one line
        # per phase); llama.cpp's perf counters cannot tell encode from prefill there.
        enc = [float(m) / 1000 for m in re.findall(r"image slice encoded in (\d+) ms", proc.stderr)]
        if len(enc) != len(res["rows"]):
            raise SystemExit(f"naive: found {len(enc)} vision-encoder timings for {len(res['rows'])} phases")
        for r, e in zip(res["rows"], enc):
            r["encode_s"] = e
            r["prefill_s"] = max(1e-9, r["encode_prefill_s"] - e)
    return res


def _table(results: dict[str, dict]) -> str:
    """Markdown table: one row per phase and path, then totals and the goals."""
    lines = ["| phase | path | tokens | forced (runs) | decode calls | encode s | prefill tok | prefill tok/s "
             "| decode s | ms/token | ms/call | total s |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for i, (phase, _) in enumerate(PHASES):
        for name, res in results.items():
            r = res["rows"][i]
            pre_rate = r["prefill_tokens"] / r["prefill_s"] if r["prefill_s"] > 0 else 0.0
            forced = f"{r['forced']} ({r.get('forced_batches', 0)})"
            lines.append(f"| {phase} | {name} | {r['tokens']} | {forced} | {r['steps']} | {r['encode_s']:.2f} "
                         f"| {r['prefill_tokens']} | {pre_rate:.0f} | {r['decode_s']:.2f} "
                         f"| {1000 * r['decode_s'] / r['tokens']:.1f} | {1000 * r['decode_s'] / max(1, r['steps']):.1f} "
                         f"| {r['total_s']:.2f} |")
    lines.append("")
    totals = {n: sum(r["total_s"] for r in res["rows"]) for n, res in results.items()}
    for n, res in results.items():
        toks = sum(r["tokens"] for r in res["rows"])
        forced = sum(r["forced"] for r in res["rows"])
        lines.append(f"- **{n}**: total {totals[n]:.2f} s, {toks} tokens ({forced} forced), "
                     f"load {res['load_s']:.2f} s, peak RSS {res['rss_mb']:.0f} MB ({res['image']})")
        threads = res["rows"][-1].get("threads")
        if threads:
            lines.append(f"  decode threads after the last phase: {threads}")
    if "naive" in totals:
        for n in totals:
            if n == "naive":
                continue
            sp = totals["naive"] / max(totals[n], 1e-9)
            rss = results[n]["rss_mb"]
            lines.append(f"- {n} speed-up {sp:.2f}x; goals: <=25 s {'OK' if totals[n] <= 25 else 'MISS'}, "
                         f">=2.5x {'OK' if sp >= 2.5 else 'MISS'}, RSS<=2GB {'OK' if rss <= 2048 else 'MISS'}")
    return "\n".join(lines)


def _size_table(res: dict) -> str:
    lines = ["| input | image tokens | encode s | prefill tokens | prefill s |", "|---|---:|---:|---:|---:|"]
    for r in res["rows"]:
        lines.append(f"| {r['image']} | {r['image_tokens']} | {r['encode_s']:.2f} | {r['prefill_tokens']} "
                     f"| {r['prefill_s']:.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="FADA pipeline benchmark (naive vs optimized) on the shape twin")
    ap.add_argument("--only", choices=["naive", "optimized"])
    ap.add_argument("--layout", choices=["canonical", "permissive"], default="canonical",
                    help="grammar layout used by both paths (default: canonical)")
    ap.add_argument("--also-permissive", action="store_true",
                    help="also run the optimized path with the permissive layout")
    ap.add_argument("--replay", action="store_true",
                    help="also run the optimized path (both layouts) on replayed FADA-style answers")
    ap.add_argument("--sizes", action="store_true", help="measure image tokens / encode time per input size")
    ap.add_argument("--image")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--flash-attn", choices=["auto", "on", "off"], default="auto")
    ap.add_argument("--child", choices=["naive", "optimized", "optimized-replay", "sizes"], help=argparse.SUPPRESS)
    ap.add_argument("--model", help=argparse.SUPPRESS)
    ap.add_argument("--mmproj", help=argparse.SUPPRESS)
    ap.add_argument("--json", action="store_true", help="print raw results as JSON too")
    args = ap.parse_args(argv)
    if args.child == "sizes":
        print(json.dumps(child_sizes(args.model, args.mmproj, args.image, args.threads, args.flash_attn)))
        return 0
    if args.child == "naive":
        print(json.dumps(child_naive(args.model, args.mmproj, args.image, args.threads, args.layout)))
        return 0
    if args.child in ("optimized", "optimized-replay"):
        print(json.dumps(child_optimized(args.model, args.mmproj, args.image, args.threads, args.layout,
                                         args.flash_attn, replay=args.child == "optimized-replay")))
        return 0
    from fada_desk.inference.llama.threads import physical_cores

    threads = args.threads or physical_cores()
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "devtools.shape_twin"], cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"building the shape twin failed:\n{proc.stderr[-4000:]}")
    model, mmproj = (Path(p) for p in proc.stdout.strip().splitlines()[-2:])
    print(f"shape twin: {model.name} {model.stat().st_size / 1e6:.0f} MB + {mmproj.name} "
          f"{mmproj.stat().st_size / 1e6:.0f} MB (ready in {time.perf_counter() - t0:.0f} s); threads={threads} "
          f"flash_attn={args.flash_attn}")
    if args.sizes:
        res = _run_child("sizes", model, mmproj, args.image, threads, args.layout, args.flash_attn)
        print(_size_table(res))
        if args.json:
            print(json.dumps(res, indent=1))
        return 0
    runs = [(p, p, args.layout) for p in ("naive", "optimized") if not args.only or p == args.only]
    if args.also_permissive and args.layout != "permissive" and args.only != "naive":
        runs.append(("optimized-permissive", "optimized", "permissive"))
    if args.replay and args.only != "naive":
        runs += [("replay-canonical", "optimized-replay", "canonical"),
                 ("replay-permissive", "optimized-replay", "permissive")]
    results = {}
    for label, path, layout in runs:
        results[label] = _run_child(path, model, mmproj, args.image, threads, layout, args.flash_attn)
        print(f"{label}: done ({results[label]['image']}, layout {layout})", flush=True)
    print(_table(results))
    if args.json:
        print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
