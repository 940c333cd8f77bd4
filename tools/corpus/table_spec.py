#!/usr/bin/env python3
"""Prints squeeze-bench's --tables argument for a corpus file, from the corpus manifest.

    squeeze-bench --input tests/data/corpus/d64_late_fwd_r3_to_r0.f32 \\
        --tables "$(python3 tools/corpus/table_spec.py tests/data/corpus/d64_late_fwd_r3_to_r0.f32)"

The manifest beside the file (manifest.json) lists each file's row width and the column range of
every table in a row; full-corpus files (data/corpus/<config>/...) are found through the sample
entries' "source_file", or through data/corpus/manifest.json.
"""
import json
import os
import sys


def spec_for(path, rows=False):
    path = os.path.abspath(path)
    directory = os.path.dirname(path)
    candidates = [os.path.join(directory, "manifest.json"),
                  os.path.join(os.path.dirname(directory), "manifest.json")]
    base = os.path.basename(path)
    rel = os.path.join(os.path.basename(directory), base)
    for manifest in candidates:
        if not os.path.exists(manifest):
            continue
        with open(manifest) as f:
            m = json.load(f)
        for entry in m.get("files", []):
            names = {entry.get("file"), entry.get("source_file"), entry.get("path")}
            if base in names or rel in names:
                tables = entry["tables"]
                cols = ",".join("%d-%d" % (t["begin"], t["end"]) +
                                ("@%d" % t["rows"] if rows and t.get("rows") else "")
                                for t in tables)
                return "%d:%s" % (entry["row_width"], cols)
    raise SystemExit("table_spec.py: %s is in no manifest.json beside it" % path)


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--rows"]
    if len(args) != 1:
        raise SystemExit("usage: table_spec.py [--rows] FILE  (--rows: each table's rows after @)")
    print(spec_for(args[0], rows="--rows" in sys.argv[1:]))
