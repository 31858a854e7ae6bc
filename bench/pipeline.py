"""FADA pipeline benchmark on the Qwen3.5-0.8B shape twin: NAIVE vs OPTIMIZED backend, side by side.

NAIVE     = what a straightforward llama-cpp-python integration does: the stock
            ``MTMDChatHandler`` per phase (image re-encoded every phase), the
            stock grammar sampler (grammar applied to all 248k logits every
            token), no prefix reuse, no jump-forward.
OPTIMIZED = :class:`fada_desk.inference.llama_backend.LlamaCppBackend`: image
            prefix encoded once and restored per phase, grammar consulted only
            when the sampled token is rejected, jump-forward over forced text.

Both run the same four phases with FADA-typical output lengths (interpret ~300,
classify ~20, detect ~150, segment ~400 tokens), greedy decoding, the same
image (an HC18 ultrasound frame if available) and, where the pipeline defines
them, the pipeline's real prompts and GBNF grammars. Each path runs in its own
process so peak RSS is measured per path. The twin (random weights, real
dimensions: Q4_K_M ~530 MB + F16 mmproj ~200 MB) is built once into
bench/.cache by ``devtools.shape_twin``.

    .venv/bin/python bench/pipeline.py                # build/reuse twin, run both paths
    .venv/bin/python bench/pipeline.py --only optimized

Goal on the 2-core CPU: optimized <= 25 s for the four phases, >= 2.5x faster
than naive, peak RSS <= 2 GB.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
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
        from fada_desk.inference import constants as C

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


def _grammar(phase: str) -> str | None:
    try:
        from fada_desk.inference import schemas

        return schemas.grammar(phase)
    except Exception:
        return None


def _image(path: str | None):
    import numpy as np
    from PIL import Image

    if path is None:
        cands = sorted((ROOT.parent / "shared" / "data" / "hc18" / "images").glob("*.png"))
        cands = [c for c in cands if "Annotation" not in c.name]
        path = str(cands[0]) if cands else None
    if path is None:
        rng = np.random.default_rng(0)
        return (rng.random((540, 800, 3)) * 255).astype(np.uint8), "synthetic 800x540"
    img = Image.open(path).convert("RGB")
    if max(img.size) > 1024:  # the pipeline's MAX_IMAGE_SIDE
        s = 1024 / max(img.size)
        img = img.resize((round(img.width * s), round(img.height * s)), Image.Resampling.LANCZOS)
    return np.asarray(img), f"{Path(path).name} {img.width}x{img.height}"


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# ----------------------------------------------------------------------------- children

def child_naive(model: str, mmproj: str, image_path: str | None, n_threads: int) -> dict:
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
    llm = Llama(model_path=model, chat_handler=NoThinkHandler(clip_model_path=mmproj, verbose=False),
                n_ctx=4096, n_batch=512, n_threads=n_threads, n_threads_batch=n_threads, verbose=False)
    load_s = time.perf_counter() - t0
    rows = []
    for phase, n_tok in PHASES:
        gtext = _grammar(phase)
        grammar = LlamaGrammar.from_string(gtext, verbose=False) if gtext else None
        llama_cpp.llama_perf_context_reset(llm._ctx.ctx)
        t0 = time.perf_counter()
        first = None
        text = []
        for chunk in llm.create_chat_completion(
                messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}},
                                                       {"type": "text", "text": _prompt(phase)}]}],
                grammar=grammar, max_tokens=n_tok, temperature=0.0, repeat_penalty=1.0, stream=True):
            delta = chunk["choices"][0]["delta"].get("content")
            if delta:
                if first is None:
                    first = time.perf_counter()
                text.append(delta)
        end = time.perf_counter()
        perf = llama_cpp.llama_perf_context(llm._ctx.ctx)
        first = first or end
        rows.append({"phase": phase, "encode_prefill_s": first - t0, "decode_s": end - first,
                     "total_s": end - t0, "tokens": int(perf.n_eval) + 1, "prompt_tokens": int(perf.n_p_eval),
                     "forced": 0})
    llm.close()
    return {"path": "naive", "load_s": load_s, "rows": rows, "rss_mb": _rss_mb(), "image": desc}


def child_optimized(model: str, mmproj: str, image_path: str | None, n_threads: int) -> dict:
    import hashlib

    from fada_desk.inference.backend import GenerationRequest, GenerationStats
    from fada_desk.inference.llama_backend import LlamaCppBackend

    img, desc = _image(image_path)
    key = hashlib.sha256(img.tobytes()).hexdigest()
    t0 = time.perf_counter()
    b = LlamaCppBackend(model, mmproj, n_ctx=4096, n_batch=512, n_threads=n_threads, compute_hashes=False)
    b.load()
    load_s = time.perf_counter() - t0
    rows = []
    for phase, n_tok in PHASES:
        st = GenerationStats()
        req = GenerationRequest(prompt=_prompt(phase), image=img, image_key=key, max_tokens=n_tok,
                                temperature=0.0, grammar=_grammar(phase))
        t0 = time.perf_counter()
        for _ in b.generate(req, None, st):
            pass
        total = time.perf_counter() - t0
        rows.append({"phase": phase, "encode_s": st.image_encode_s, "prefill_s": st.prefill_s,
                     "encode_prefill_s": st.image_encode_s + st.prefill_s, "decode_s": st.decode_s,
                     "total_s": total, "tokens": st.completion_tokens, "prompt_tokens": st.prompt_tokens,
                     "image_tokens": st.image_tokens, "forced": st.extra.get("forced_tokens", 0),
                     "rejections": st.extra.get("grammar_rejections", 0), "reused": st.prefix_reused})
    b.close()
    return {"path": "optimized", "load_s": load_s, "rows": rows, "rss_mb": _rss_mb(), "image": desc}


# ----------------------------------------------------------------------------- parent

def _run_child(path: str, model: Path, mmproj: Path, image: str | None, threads: int) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", path, "--model", str(model),
           "--mmproj", str(mmproj), "--threads", str(threads)]
    if image:
        cmd += ["--image", image]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{path} run failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _table(results: dict[str, dict]) -> str:
    lines = []
    hdr = f"{'phase':<10} {'path':<9} {'enc+pre s':>9} {'decode s':>9} {'total s':>8} {'tokens':>6} " \
          f"{'ms/tok':>7} {'forced':>6}"
    lines.append(hdr)
    lines.append("-" * len(hdr))
    for i, (phase, _) in enumerate(PHASES):
        for name in ("naive", "optimized"):
            if name not in results:
                continue
            r = results[name]["rows"][i]
            mspt = 1000 * r["decode_s"] / max(1, r["tokens"] - 1)
            lines.append(f"{phase:<10} {name:<9} {r['encode_prefill_s']:9.2f} {r['decode_s']:9.2f} "
                         f"{r['total_s']:8.2f} {r['tokens']:6d} {mspt:7.1f} {r['forced']:6d}")
    lines.append("-" * len(hdr))
    totals = {n: sum(r["total_s"] for r in res["rows"]) for n, res in results.items()}
    for n, res in results.items():
        lines.append(f"{n:<10} total {totals[n]:7.2f} s   load {res['load_s']:.2f} s   "
                     f"peak RSS {res['rss_mb']:.0f} MB")
    if "naive" in totals and "optimized" in totals:
        sp = totals["naive"] / max(totals["optimized"], 1e-9)
        o = results["optimized"]
        lines.append(f"speed-up {sp:.2f}x   goals: optimized<=25s {'OK' if totals['optimized'] <= 25 else 'MISS'}, "
                     f">=2.5x {'OK' if sp >= 2.5 else 'MISS'}, RSS<=2GB {'OK' if o['rss_mb'] <= 2048 else 'MISS'}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="FADA pipeline benchmark (naive vs optimized) on the shape twin")
    ap.add_argument("--only", choices=["naive", "optimized"])
    ap.add_argument("--image")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--child", choices=["naive", "optimized"], help=argparse.SUPPRESS)
    ap.add_argument("--model", help=argparse.SUPPRESS)
    ap.add_argument("--mmproj", help=argparse.SUPPRESS)
    ap.add_argument("--json", action="store_true", help="print raw results as JSON too")
    args = ap.parse_args(argv)
    if args.child:
        fn = child_naive if args.child == "naive" else child_optimized
        print(json.dumps(fn(args.model, args.mmproj, args.image, args.threads)))
        return 0
    from fada_desk.inference.llama_backend import physical_cores

    threads = args.threads or physical_cores()
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "devtools.shape_twin"], cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"building the shape twin failed:\n{proc.stderr[-4000:]}")
    model, mmproj = (Path(p) for p in proc.stdout.strip().splitlines()[-2:])
    print(f"shape twin: {model.name} {model.stat().st_size / 1e6:.0f} MB + {mmproj.name} "
          f"{mmproj.stat().st_size / 1e6:.0f} MB (ready in {time.perf_counter() - t0:.0f} s); threads={threads}")
    results = {}
    for path in ("naive", "optimized"):
        if args.only and path != args.only:
            continue
        results[path] = _run_child(path, model, mmproj, args.image, threads)
        print(f"{path}: done ({results[path]['image']})", flush=True)
    print(_table(results))
    if args.json:
        print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    # Both paths run with the backend's OpenMP setting (sleeping barrier waits), see llama_backend.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    sys.exit(main())
