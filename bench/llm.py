#!/usr/bin/env python3
"""LLM benchmark: SongForge's `llm` graph against llama.cpp, side by side.

Same GGUF (the installed smollm2-135m-instruct, Q4_1), same chat prompt, same thread count,
greedy decoding, in one run, best of RUNS each:
  - llama.cpp (the `xllamacpp` binary wheel, installed by this script into a throwaway venv;
    flash attention off, the path our attention matches);
  - our engine alone (the `generate` example of engines/llm, no HTTP, no wasm).
Prints prompt-processing and generation speed (tokens/s) and ours/theirs; the target is
generation at least 0.7x llama.cpp's speed on the CPU.

Usage: python3 bench/llm.py   (THREADS defaults to the core count, RUNS to 3, TOKENS to 128)
"""
import json, os, subprocess, sys, textwrap

RUNS = int(os.environ.get("RUNS", "3"))
THREADS = int(os.environ.get("THREADS", os.cpu_count() or 1))
TOKENS = int(os.environ.get("TOKENS", "128"))
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STORE = os.environ.get("SONGFORGE_MODELS", os.path.join(ROOT, "models", "store"))
MODEL_DIR = os.path.join(STORE, "smollm2-135m-instruct")
VENV = os.environ.get("BENCH_VENV", "/tmp/songforge-llmbench-venv")
EXAMPLE = os.path.join(ROOT, "target", "debug", "examples", "generate")
PROMPT = (
    "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
    "<|im_start|>user\nWrite a long pop song about summer rain, with two verses, a chorus and a bridge.<|im_end|>\n"
    "<|im_start|>assistant\n"
)

PEER = textwrap.dedent("""
    import json, sys
    import xllamacpp as x
    path, threads, runs, tokens, prompt = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    p = x.CommonParams()
    p.model.path = path
    p.n_ctx = 2048
    p.cpuparams.n_threads = threads
    p.cpuparams_batch.n_threads = threads
    p.n_parallel = 1
    p.flash_attn_type = x.llama_flash_attn_type.LLAMA_FLASH_ATTN_TYPE_DISABLED
    s = x.Server(p)
    best = None
    for _ in range(runs):
        r = s.handle_completions({"prompt": prompt, "n_predict": tokens, "temperature": 0, "top_k": 1,
                                  "samplers": ["top_k"], "cache_prompt": False, "ignore_eos": True})
        t = r["timings"]
        run = {"prompt_tps": t["prompt_per_second"], "gen_tps": t["predicted_per_second"],
               "prompt_n": t["prompt_n"], "gen_n": t["predicted_n"]}
        if best is None or run["gen_tps"] > best["gen_tps"]:
            best = run
    print(json.dumps(best))
""")


def peer():
    python = os.path.join(VENV, "bin", "python")
    if not os.path.exists(python):
        subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
        subprocess.run([python, "-m", "pip", "install", "-q", "xllamacpp"], check=True)
    out = subprocess.run(
        [python, "-c", PEER, os.path.join(MODEL_DIR, "model.gguf"), str(THREADS), str(RUNS), str(TOKENS), PROMPT],
        check=True, capture_output=True, text=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def ours():
    subprocess.run(["cargo", "build", "-q", "-p", "songforge-llm", "--example", "generate"], cwd=ROOT, check=True)
    request = json.dumps({"prompt": PROMPT, "max_tokens": TOKENS, "temperature": 0, "repeat_penalty": 1.0})
    best = None
    for _ in range(RUNS):
        out = subprocess.run([EXAMPLE, MODEL_DIR, request], check=True, capture_output=True, text=True,
                             env={**os.environ, "THREADS": str(THREADS)}).stdout
        r = json.loads(out)
        t = r["timings"]
        run = {"prompt_tps": t["prompt_tokens_per_second"], "gen_tps": t["generation_tokens_per_second"],
               "prompt_n": r["prompt_tokens"], "gen_n": r["completion_tokens"]}
        if best is None or run["gen_tps"] > best["gen_tps"]:
            best = run
    return best


def main():
    if not os.path.exists(os.path.join(MODEL_DIR, "model.gguf")):
        sys.exit(f"{MODEL_DIR} is missing: run `songforge models pull smollm2-135m-instruct`")
    theirs = peer()
    mine = ours()
    print(f"SmolLM2-135M-Instruct Q4_1, {THREADS} threads, greedy, best of {RUNS}")
    print(f"{'':22}{'llama.cpp':>12}{'songforge':>12}{'ours/theirs':>13}")
    for key, label in (("prompt_tps", "prompt tokens/s"), ("gen_tps", "generation tokens/s")):
        print(f"{label:22}{theirs[key]:12.1f}{mine[key]:12.1f}{mine[key] / theirs[key]:12.2f}x")
    print(f"(prompt {mine['prompt_n']} tokens; generated {theirs['gen_n']} / {mine['gen_n']} tokens)")


if __name__ == "__main__":
    main()
