#!/usr/bin/env python3
"""Trains word2vec embedding tables (gensim) on English prose and writes them as raw float32.

Used by scripts/make_real_table.sh. Corpus: the reStructuredText sources of the Python 3.11
documentation shipped by Debian's python3.11-doc (/usr/share/doc/python3.11/html/_sources,
~11 MB, ~500 files: tutorials, library reference, HOWTOs, FAQ; mostly prose with some code).

Tokenization: lower-case runs of letters per line; lines that look like code (interpreter
prompts, reST directives) and lines with fewer than 3 tokens are dropped. Each line is one
"sentence". Tables are the trained word vectors in descending word-frequency order, shape
[vocab, dim], row-major, little-endian float32, exactly what an embedding table holds.
"""
import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import time

WORD = re.compile(r"[a-z]+")


def corpus_lines(root):
    for dirpath, _, files in sorted(os.walk(root)):
        for name in sorted(files):
            if not name.endswith(".txt"):
                continue
            with open(os.path.join(dirpath, name), encoding="utf-8", errors="replace") as f:
                for line in f:
                    s = line.strip()
                    if s.startswith((">>>", "...", "..", "$", "#", "{", "}")):
                        continue
                    toks = WORD.findall(s.lower())
                    if len(toks) >= 3:
                        yield toks


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--package", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--dims", default="32,64,128")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    import gensim
    from gensim.models import Word2Vec

    sentences = list(corpus_lines(args.corpus))
    tokens = sum(len(s) for s in sentences)
    print(f"w2v: corpus {args.corpus}: {len(sentences)} lines, {tokens} tokens", flush=True)
    if tokens < 500_000:
        sys.exit(f"w2v: corpus too small ({tokens} tokens)")
    try:
        version = subprocess.run(["dpkg-query", "-W", "-f=${Version}", args.package],
                                 capture_output=True, text=True).stdout.strip()
    except OSError:
        version = ""
    os.makedirs(args.out, exist_ok=True)
    manifest = {
        "corpus_package": args.package, "corpus_package_version": version,
        "corpus_path": args.corpus, "corpus_lines": len(sentences), "corpus_tokens": tokens,
        "gensim_version": gensim.__version__,
        "params": {"sg": 0, "window": 5, "min_count": 5, "negative": 5, "epochs": args.epochs,
                   "workers": args.workers, "seed": args.seed},
        "note": "multi-worker gensim training is not bit-reproducible; sha256 identifies the bytes",
        "tables": [],
    }
    for dim in [int(d) for d in args.dims.split(",")]:
        t0 = time.time()
        model = Word2Vec(sentences=sentences, vector_size=dim, window=5, min_count=5, sg=0,
                         negative=5, epochs=args.epochs, workers=args.workers, seed=args.seed)
        vec = model.wv.vectors.astype("<f4", copy=False)
        path = os.path.join(args.out, f"w2v_d{dim}.f32")
        vec.tofile(path + ".tmp")
        os.replace(path + ".tmp", path)
        entry = {"file": os.path.basename(path), "dtype": "f32", "rows": int(vec.shape[0]),
                 "dim": dim, "bytes": os.path.getsize(path), "sha256": sha256(path),
                 "std": float(vec.std()), "min": float(vec.min()), "max": float(vec.max()),
                 "train_seconds": round(time.time() - t0, 1)}
        manifest["tables"].append(entry)
        print(f"w2v: {entry}", flush=True)
    with open(os.path.join(args.out, "w2v_manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)


if __name__ == "__main__":
    main()
