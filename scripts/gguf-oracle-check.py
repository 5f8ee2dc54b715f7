#!/usr/bin/env python3
"""Development check of a GGUF file moe-merge wrote, with llama.cpp's own gguf-py (not a test: needs Python).

  ~/.cache/hfref/venv5/bin/python scripts/gguf-oracle-check.py MODEL_DIR FILE.gguf

Reads FILE.gguf with gguf.GGUFReader and MODEL_DIR's safetensors, and checks, independently of our code:
- names: every HF tensor's GGUF name from gguf.get_tensor_name_map (llama.cpp's HF-to-GGUF map), experts
  stacked as the converter stacks them (merged name without the expert index), fused gate_up split;
- bytes: every GGUF tensor equals the safetensors values (Q/K rows permuted as the converter's
  LlamaModel.permute for llama/deepseek) converted by gguf-py: numpy astype for F32/F16,
  gguf.quants.quantize for BF16 and Q8_0 (so our Q8_0 bytes are compared with gguf-py's quantizer);
- metadata: every key is one gguf-py's constants define (Keys.*, formatted with the architecture).
Prints a JSON summary; exit 1 on any mismatch.
"""
import json
import re
import sys
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

import gguf
from gguf.constants import GGMLQuantizationType as Q

model_dir, gguf_file = Path(sys.argv[1]), sys.argv[2]
reader = gguf.GGUFReader(gguf_file)
field = lambda k: reader.fields[k].contents() if k in reader.fields else None
arch = field("general.architecture")
arch_enum = {v: k for k, v in gguf.MODEL_ARCH_NAMES.items()}[arch]
config = json.loads((model_dir / "config.json").read_text())
n_layers = config["num_hidden_layers"]
tmap = gguf.get_tensor_name_map(arch_enum, n_layers)

hf = {}
for f in sorted(model_dir.glob("*.safetensors")):
    hf.update(load_file(str(f)))


def permute(w, n_head, n_head_kv):  # convert_hf_to_gguf.py LlamaModel.permute
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def gname(name):
    out = tmap.get_name(name, try_suffixes=(".weight", ".bias"))
    if out is None:
        raise SystemExit(f"gguf-py has no GGUF name for {name}")
    return out


expected, experts = {}, {}
n_head = config["num_attention_heads"]
n_kv = config.get("num_key_value_heads", n_head)
for name, t in hf.items():
    t = t.float()
    m = re.match(r"(.*\.experts)\.(\d+)\.(\w+)\.weight$", name)
    if m:
        experts.setdefault(f"{m[1]}.{m[3]}.weight", {})[int(m[2])] = t
        continue
    m = re.match(r"(.*\.experts)\.gate_up_proj$", name)
    if m:
        half = t.shape[1] // 2
        expected[gname(f"{m[1]}.gate_proj.weight")] = t[:, :half]
        expected[gname(f"{m[1]}.up_proj.weight")] = t[:, half:]
        continue
    m = re.match(r"(.*\.experts)\.down_proj$", name)
    if m:
        expected[gname(f"{m[1]}.down_proj.weight")] = t
        continue
    if arch in ("llama", "deepseek"):
        if name.endswith(("q_proj.weight", "q_proj.bias")):
            t = permute(t, n_head, n_head)
        if name.endswith(("k_proj.weight", "k_proj.bias")):
            t = permute(t, n_head, n_kv)
    expected[gname(name)] = t
for merged, parts in experts.items():
    assert sorted(parts) == list(range(len(parts))), merged
    expected[gname(merged)] = torch.stack([parts[i] for i in range(len(parts))])

problems, checked = [], 0
got = {t.name: t for t in reader.tensors}
for name in sorted(set(expected) - set(got)):
    problems.append(f"missing in the GGUF: {name}")
for name in sorted(set(got) - set(expected) - {"rope_freqs.weight"}):
    problems.append(f"not expected: {name}")
for name, t in got.items():
    if name not in expected:
        continue
    x = expected[name].numpy().astype(np.float32)
    if tuple(reversed([int(d) for d in t.shape])) != x.shape:
        problems.append(f"{name}: shape {list(t.shape)} vs {list(x.shape)}")
        continue
    qt = t.tensor_type
    if qt == Q.F32:
        want = x.tobytes()
    elif qt == Q.F16:
        want = x.astype(np.float16).tobytes()
    else:
        want = gguf.quants.quantize(x, qt).tobytes()
    if bytes(t.data.tobytes()) != want:
        problems.append(f"{name}: {qt.name} bytes differ from gguf-py's conversion of the safetensors values")
    checked += 1

known = set()
for cls in vars(gguf.Keys).values():
    if isinstance(cls, type):
        for v in vars(cls).values():
            if isinstance(v, str):
                known.add(v.replace("{arch}", arch))
unknown = [k for k in reader.fields if not k.startswith("GGUF.") and k not in known]
problems += [f"metadata key unknown to gguf-py: {k}" for k in unknown]
print(json.dumps({"file": gguf_file, "arch": arch, "tensors_checked": checked, "types": sorted({t.tensor_type.name for t in reader.tensors}),
                  "metadata_keys": len(reader.fields) - 3, "problems": problems}, indent=1))
sys.exit(1 if problems else 0)
