#!/usr/bin/env python3
"""Seeds the fuzz corpora from the golden vectors (weshop-proto/tests/data/vectors.json).

Usage: fuzz/seed.py [VECTORS_JSON]   (default: the repository's copy of the golden vectors)
Writes corpus/decode/* and corpus/split_stream/* under fuzz/. The selector byte is the index of
the message in weshop_fuzz::frame_messages() (the schemas' frame messages, in order).
"""
import json, os, pathlib, sys

FRAME_MESSAGES = [
    ("world_amazon", "AConnect"), ("world_amazon", "AConnected"),
    ("world_amazon", "ACommands"), ("world_amazon", "AResponses"),
    ("world_ups", "UConnect"), ("world_ups", "UConnected"),
    ("world_ups", "UCommands"), ("world_ups", "UResponses"),
    ("ups_amazon", "ConnectWorldId"), ("ups_amazon", "AtoUCommands"), ("ups_amazon", "UtoACommands"),
]
LIMIT_DEFAULT = 2  # weshop_fuzz::max_frame_length(2) is the default maximum

here = pathlib.Path(__file__).resolve().parent
default = here.parent / "weshop-proto" / "tests" / "data" / "vectors.json"
path = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("WESHOP_VECTORS", default))
vectors = json.loads(path.read_text())

entries = [(c["name"], c["schema"], c["message"], c["frame_hex"]) for c in vectors["cases"]]
entries += [(s["name"], s["schema"], s["message"], s["stream_hex"]) for s in vectors["streams"]]
entries += [(m["name"], m["schema"], m["message"], m["stream_hex"]) for m in vectors["malformed"]]
for target in ("decode", "split_stream"):
    (here / "corpus" / target).mkdir(parents=True, exist_ok=True)
for name, schema, message, hex_text in entries:
    if (schema, message) not in FRAME_MESSAGES:
        continue
    selector = FRAME_MESSAGES.index((schema, message))
    stream = bytes.fromhex(hex_text)
    (here / "corpus" / "decode" / f"golden-{name}").write_bytes(bytes([selector, LIMIT_DEFAULT]) + stream)
    cut = len(stream) // 2
    split = bytes([selector, LIMIT_DEFAULT, 1]) + cut.to_bytes(2, "little") + stream
    (here / "corpus" / "split_stream" / f"golden-{name}").write_bytes(split)
print(f"seeded {len(entries)} entries from {path}")
