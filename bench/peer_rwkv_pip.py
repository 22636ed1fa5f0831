#!/usr/bin/env python3
"""bench/peer_rwkv_pip.py: the peer row of bench/gpu-check.sh (phase f).

Times the official `rwkv` pip package (its RWKV-7 model class, RWKV_V7_ON=1) on random weights of
the synthetic v7 shapes that `rwkv-run bench --synthetic` uses (read from
`rwkv-run bench --list-synthetic`, so both sides run the same shapes): a 512-token prefill and
B=1 decode steps, in bf16 on the GPU. Prints one line per model, starting with "peer".

The weights are made on the GPU with PyTorch and handed to the package through torch.load (the
package reads its model only from a .pth path); values are in the ranges that keep an RWKV-7
forward finite, which is all a speed figure needs. Tooling only: nothing here is part of the
runtime. Environment: RWKV_V7_ON=1 (required), RWKV_CUDA_ON=1 for the package's CUDA WKV op
(compiled at import), PYTHONPATH holding the package.
"""
import argparse
import os
import subprocess
import sys
import time


def synthetic_shapes(rwkv_run, name):
    """(C, L, V, F, lora w/a/v/g) of a synthetic model, from rwkv-run bench --list-synthetic."""
    out = subprocess.run([rwkv_run, "bench", "--list-synthetic"], check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        f = line.split()
        if f and f[0] == name:
            c, n_layer, vocab, ffn = (int(x) for x in f[2:6])
            lora = [int(x) for x in f[7].split("/")]
            return c, n_layer, vocab, ffn, lora
    raise SystemExit(f"peer: {name} is not in rwkv-run bench --list-synthetic")


def make_weights(torch, shapes, dev, head_size=64):
    """An official RWKV-7 state dict (names and shapes) with random values, on `dev`, in bf16."""
    c, n_layer, vocab, ffn, (dw, da, dv, dg) = shapes
    dt = torch.bfloat16
    g = torch.Generator(device=dev).manual_seed(0)

    def rnd(*shape, scale=1.0, mean=0.0):
        return (torch.randn(*shape, generator=g, device=dev, dtype=torch.float32) * scale + mean).to(dt)

    def mat(rows, cols):  # weights as nn.Linear stores them: [out, in], std 1/sqrt(in)
        return rnd(rows, cols, scale=cols ** -0.5)

    z = {"emb.weight": rnd(vocab, c, scale=1e-1), "head.weight": mat(vocab, c),
         "ln_out.weight": rnd(c, scale=0.1, mean=1.0), "ln_out.bias": rnd(c, scale=0.1),
         "blocks.0.ln0.weight": rnd(c, scale=0.1, mean=1.0), "blocks.0.ln0.bias": rnd(c, scale=0.1)}
    for i in range(n_layer):
        p = f"blocks.{i}."
        for ln in ("ln1", "ln2"):
            z[p + ln + ".weight"], z[p + ln + ".bias"] = rnd(c, scale=0.1, mean=1.0), rnd(c, scale=0.1)
        a = p + "att."
        for x in ("x_r", "x_w", "x_k", "x_v", "x_a", "x_g"):
            z[a + x] = rnd(1, 1, c, scale=0.2, mean=0.5)
        z[a + "w0"] = rnd(1, 1, c, scale=0.5, mean=-3.0)
        z[a + "a0"], z[a + "v0"] = rnd(1, 1, c, scale=0.5), rnd(1, 1, c, scale=0.5, mean=1.0)
        for name, d in (("w", dw), ("a", da), ("v", dv), ("g", dg)):
            z[a + name + "1"], z[a + name + "2"] = rnd(c, d, scale=0.1), rnd(d, c, scale=0.1)
        z[a + "k_k"], z[a + "k_a"] = rnd(1, 1, c, scale=0.1, mean=0.8), rnd(1, 1, c, scale=0.1, mean=1.0)
        z[a + "r_k"] = rnd(c // head_size, head_size, scale=0.1)
        for w in ("receptance", "key", "value", "output"):
            z[a + w + ".weight"] = mat(c, c)
        z[a + "ln_x.weight"], z[a + "ln_x.bias"] = rnd(c, scale=0.1, mean=1.0), rnd(c, scale=0.1)
        z[p + "ffn.x_k"] = rnd(1, 1, c, scale=0.2, mean=0.5)
        z[p + "ffn.key.weight"], z[p + "ffn.value.weight"] = mat(ffn, c), mat(c, ffn)
    return z


def seconds(torch, fn):
    sync = torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)
    sync()
    t0 = time.perf_counter()
    fn()
    sync()
    return time.perf_counter() - t0


def bench_model(torch, model_cls, name, shapes, prompt, steps, dev):
    weights = make_weights(torch, shapes, dev)
    real_load = torch.load
    torch.load = lambda *a, **k: weights  # the package loads "<path>.pth": give it the dict above
    try:
        model = model_cls(f"synthetic-{name}", f"{dev} bf16")
    finally:
        torch.load = real_load
    tokens = [(t * 7919 + 1) % shapes[2] for t in range(prompt)]
    with torch.no_grad():
        # Warm-up: the TorchScript profiling runs (a function is optimised after its first calls),
        # kernels loaded, allocator caches filled.
        for _ in range(2):
            model.forward(tokens, None)
        pp = seconds(torch, lambda: model.forward(tokens, None))
        _, state = model.forward(tokens, None)
        tg = 0.0
        if steps:
            for t in range(3):
                model.forward([tokens[t]], [x.clone() for x in state])

            def decode():
                s = state
                for t in range(steps):
                    _, s = model.forward([tokens[t]], s)
            tg = steps / seconds(torch, decode)
    del model, weights
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return prompt / pp, tg


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rwkv-run", required=True, help="the rwkv-run binary (for the synthetic shapes)")
    ap.add_argument("--models", default="v7-0.1B,v7-1.5B")
    ap.add_argument("--pp", type=int, default=512, help="prefill tokens")
    ap.add_argument("--tg", type=int, default=128, help="decode steps (B=1); 0: prefill only")
    ap.add_argument("--device", default="cuda", help="cuda (default), or cpu for a smoke test of this script")
    args = ap.parse_args()
    if os.environ.get("RWKV_V7_ON") != "1":
        raise SystemExit("peer: set RWKV_V7_ON=1 (the package's RWKV-7 class)")
    import torch
    if os.environ.get("RWKV_CUDA_ON") == "1":
        # The package then compiles its v4-v6 op (wkv_cuda) and the RWKV-7 op (wkv7s) at import;
        # RWKV-7 uses only wkv7s, so the other is skipped (its load registers ops and returns
        # nothing the package keeps), halving the compile time. Without wkv_cuda the package's
        # TorchScript of its v4 helper cannot compile, so TorchScript is off for this run
        # (RWKV_JIT_ON=0; the prefill time is the op's and the matmuls').
        os.environ["RWKV_JIT_ON"] = "0"
        import torch.utils.cpp_extension as ext
        real_ext_load = ext.load

        def load_only_wkv7(name, *a, **k):
            if name != "wkv7s":
                return None
            return real_ext_load(name, *a, **k)
        ext.load = load_only_wkv7
    t0 = time.perf_counter()
    import rwkv
    from rwkv.model import RWKV_x070
    import_s = time.perf_counter() - t0
    version = getattr(rwkv, "__version__", None) or "?"
    try:
        from importlib.metadata import version as dist_version
        version = dist_version("rwkv")
    except Exception:
        pass
    cuda_op = os.environ.get("RWKV_CUDA_ON") == "1"
    gpu = torch.cuda.get_device_name(0) if args.device == "cuda" else "cpu"
    print(f"# rwkv pip {version}, torch {torch.__version__}, {gpu}, "
          f"WKV: {'the package CUDA op, TorchScript off' if cuda_op else 'pure PyTorch (RWKV_CUDA_ON=0)'}, import {import_s:.0f} s",
          flush=True)
    for name in args.models.split(","):
        shapes = synthetic_shapes(args.rwkv_run, name)
        pp, tg = bench_model(torch, RWKV_x070, name, shapes, args.pp, args.tg, args.device)
        mode = "cuda-op" if cuda_op else "torch"
        decode = f", tg B=1 {tg:.1f} tok/s ({args.tg} steps)" if args.tg else ""
        print(f"peer rwkv-pip[{mode}] {name} bf16 on {args.device}: pp{args.pp} {pp:.0f} tok/s{decode}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
