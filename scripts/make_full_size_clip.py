#!/usr/bin/env python3
"""A CLIP ViT-B/16-shaped model with random weights, for checking
actinf-clip at real sizes (not committed: ~600 MB).

Writes into OUT_DIR (default /tmp/clip-b16-random):

* model/ -- a Hugging Face CLIP directory with OpenAI's ViT-B/16 shapes
  (text: width 512, 12 layers, 8 heads, context 77, the legacy
  eos_token_id = 2 that pools at the largest id; vision: width 768, 12
  layers, 12 heads, 224x224 images in 16x16 patches; projection 512;
  quick_gelu), seeded random weights, and the tiny BPE vocabulary of
  make_tiny_clip.py (no real vocabulary is reachable here);
* reference.json -- Hugging Face / PyTorch float64 outputs in the layout of
  crates/actinf-clip/tests/fixtures/tiny_clip_reference.json (text
  embeddings, CLS image embedding, MaskCLIP dense embeddings on the 14x14
  ViT grid and resampled to 4x4 and 9x9) for the test image of
  make_tiny_clip.py, written as image.png.

Then compare and time the Rust side:

    /tmp/clipvenv/bin/python scripts/make_full_size_clip.py /tmp/clip-b16-random
    cargo run --release -p actinf-clip --example check_reference -- \\
        /tmp/clip-b16-random/model /tmp/clip-b16-random/reference.json /tmp/clip-b16-random/image.png

Same environment as make_tiny_clip.py (transformers 5.23, torch 2.15).
"""

import json
import os
import sys

import torch
from PIL import Image
from transformers import CLIPConfig, CLIPModel, CLIPTokenizer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_tiny_clip as tiny  # noqa: E402

MEAN = [0.48145466, 0.4578275, 0.40821073]
STD = [0.26862954, 0.26130258, 0.27577711]


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "/tmp/clip-b16-random"
    model_dir = os.path.join(out, "model")
    os.makedirs(model_dir, exist_ok=True)
    vocab, _ = tiny.write_vocabulary(model_dir)
    tokenizer = CLIPTokenizer.from_pretrained(model_dir, model_max_length=77)
    tokenizer.save_pretrained(model_dir)

    torch.manual_seed(1)
    config = CLIPConfig(
        text_config=dict(
            vocab_size=len(vocab),
            hidden_size=512,
            intermediate_size=2048,
            num_hidden_layers=12,
            num_attention_heads=8,
            max_position_embeddings=77,
            hidden_act="quick_gelu",
            bos_token_id=0,
            eos_token_id=2,
            pad_token_id=1,
        ),
        vision_config=dict(
            hidden_size=768,
            intermediate_size=3072,
            num_hidden_layers=12,
            num_attention_heads=12,
            image_size=224,
            patch_size=16,
            hidden_act="quick_gelu",
        ),
        projection_dim=512,
    )
    model = CLIPModel(config).eval()
    model.save_pretrained(model_dir, safe_serialization=True)
    with open(os.path.join(model_dir, "preprocessor_config.json"), "w") as f:
        json.dump(
            {
                "image_mean": MEAN,
                "image_std": STD,
                "rescale_factor": 1 / 255,
                "do_rescale": True,
                "do_normalize": True,
                "size": {"shortest_edge": 224},
                "crop_size": {"height": 224, "width": 224},
            },
            f,
            indent=2,
        )

    image = tiny.test_image()
    Image.fromarray(image).save(os.path.join(out, "image.png"))
    m = model.double()
    texts = ["a red striped disc", "a photo of a cat", "the quick brown fox jumps over the lazy dog"]
    with torch.no_grad():
        text_embeddings = [
            {
                "text": s,
                "embedding": m.get_text_features(input_ids=torch.tensor([tokenizer(s)["input_ids"]]))
                .pooler_output[0]
                .tolist(),
            }
            for s in texts
        ]
        px = tiny.pixel_values(image, 224, MEAN, STD)
        cls = m.get_image_features(pixel_values=px).pooler_output[0]
        dense, n, grids = tiny.maskclip_dense(m, px)
    with open(os.path.join(out, "reference.json"), "w", encoding="utf-8") as f:
        json.dump(
            {
                "text_embeddings": text_embeddings,
                "image_embedding": cls.tolist(),
                "vit_grid": n,
                "dense_vit": dense.reshape(-1).tolist(),
                "dense_grids": grids,
            },
            f,
        )
    print(f"wrote {model_dir} and {out}/reference.json")


if __name__ == "__main__":
    main()
