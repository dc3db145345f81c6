#!/usr/bin/env python3
"""Writes a tiny random LLaMA checkpoint in the Hugging Face layout (config.json +
model.safetensors, F32, no tokenizer.json) for the tests of what milmc and
milm-run do with such a checkpoint.

  make_tiny_safetensors.py OUT_DIR [--max-position-embeddings N]
"""
import json
import random
import struct
import sys


def main(argv):
    out = argv[1]
    ctx = 64
    if len(argv) > 3 and argv[2] == "--max-position-embeddings":
        ctx = int(argv[3])
    vocab, hidden, ffn, heads, kv, layers = 32, 32, 64, 4, 2, 1
    head_dim = hidden // heads
    shapes = {"model.embed_tokens.weight": [vocab, hidden],
              "model.norm.weight": [hidden],
              "lm_head.weight": [vocab, hidden]}
    for i in range(layers):
        p = f"model.layers.{i}."
        shapes.update({
            p + "input_layernorm.weight": [hidden],
            p + "post_attention_layernorm.weight": [hidden],
            p + "self_attn.q_proj.weight": [heads * head_dim, hidden],
            p + "self_attn.k_proj.weight": [kv * head_dim, hidden],
            p + "self_attn.v_proj.weight": [kv * head_dim, hidden],
            p + "self_attn.o_proj.weight": [hidden, heads * head_dim],
            p + "mlp.gate_proj.weight": [ffn, hidden],
            p + "mlp.up_proj.weight": [ffn, hidden],
            p + "mlp.down_proj.weight": [hidden, ffn]})
    rng = random.Random(1)
    header, blobs, off = {}, [], 0
    for name, shape in shapes.items():
        n = 1
        for d in shape:
            n *= d
        if name.endswith("norm.weight"):
            vals = [1.0] * n
        else:
            vals = [rng.uniform(-0.2, 0.2) for _ in range(n)]
        blob = struct.pack(f"<{n}f", *vals)
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [off, off + len(blob)]}
        blobs.append(blob)
        off += len(blob)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(f"{out}/model.safetensors", "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
    config = {"architectures": ["LlamaForCausalLM"], "model_type": "llama",
              "vocab_size": vocab, "hidden_size": hidden, "intermediate_size": ffn,
              "num_hidden_layers": layers, "num_attention_heads": heads,
              "num_key_value_heads": kv, "max_position_embeddings": ctx,
              "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "hidden_act": "silu",
              "tie_word_embeddings": False, "torch_dtype": "float32"}
    with open(f"{out}/config.json", "w") as f:
        json.dump(config, f)


if __name__ == "__main__":
    main(sys.argv)
