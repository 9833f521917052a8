#!/usr/bin/env python3
"""Make the tiny CLIP test model and the reference outputs for actinf-clip.

Writes, under crates/actinf-clip/tests/fixtures/:

* tiny-clip/ -- a Hugging Face CLIP directory: config.json and
  model.safetensors (a CLIPModel with seeded random weights: width 32, 2
  layers, 4 heads, projection 16, 48x48 images in 8x8 patches, a context of
  16 tokens), vocab.json + merges.txt (a byte-level BPE vocabulary learned
  here on a small embedded corpus), tokenizer.json and tokenizer_config.json
  (written by transformers' CLIPTokenizer), preprocessor_config.json.
* tiny_clip_image.png -- a 48x40 RGB test image drawn here.
* tiny_clip_reference.json -- what Hugging Face / PyTorch compute on them, in
  float64: token ids of ~20 strings (and one truncated), text embeddings,
  the CLS image embedding and MaskCLIP dense patch embeddings on the ViT grid
  and resampled to 4x4 and 9x9 grids.

The reference is computed from the Hugging Face modules, independently of
the Rust code. The image is resized whole (no centre crop) with
F.interpolate(mode="bilinear", align_corners=False, antialias=False),
scaled to [0, 1] and normalised by image_mean / image_std.

Run (no GPU needed; PyPI must be reachable once):

    python3 -m venv /tmp/clipvenv
    /tmp/clipvenv/bin/pip install torch transformers safetensors pillow numpy
    # (pip install torch --index-url https://download.pytorch.org/whl/cpu is
    #  smaller where that index is reachable)
    /tmp/clipvenv/bin/python scripts/make_tiny_clip.py

from the repository root. `ftfy` must not be installed (the Rust tokenizer
follows CLIPTokenizer without it). Written with transformers 5.23, torch 2.15.
"""

import collections
import json
import os
import sys

import numpy as np
import regex
import torch
import torch.nn.functional as F
from PIL import Image
from transformers import CLIPConfig, CLIPModel, CLIPTokenizer

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
FIXTURES = os.path.join(ROOT, "crates", "actinf-clip", "tests", "fixtures")
MODEL_DIR = os.path.join(FIXTURES, "tiny-clip")

PATTERN = regex.compile(
    r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"""
)
BOS, EOS = "<|startoftext|>", "<|endoftext|>"
N_MERGES = 300

CORPUS = """
A red striped disc lies on the grey table next to a blue square and a small
green triangle. The cat sat on the mat while the dog slept by the door. Two
people walk along the river at sunset; the water is calm and the sky turns
orange, then purple, then dark blue. A photo of a cat. A photo of a dog. A
picture of a car parked in the street, with trees and houses behind it.
Where is the ball? It's under the chair, isn't it? They're playing football
in the park, and we've got tickets for the match at 7 pm. I'll bring the
striped umbrella in case it rains. The children painted circles, stripes and
stars in bright colours: red, yellow, green, blue and white. An old man reads
a newspaper on a bench; a woman rides a bicycle past the fountain. The quick
brown fox jumps over the lazy dog. Find the red object in the image, then
the striped one, then the one in the corner of the picture.
"""

STRINGS = [
    "a red striped disc",
    "A photo of a CAT.",
    "the quick brown fox jumps over the lazy dog",
    "it's what they're doing, isn't it? we've, i'll, you'd, i'm",
    "Hello,   world!!  ",
    "  leading and trailing whitespace\t\n",
    "numbers: 2024, 3.14159 and 007",
    "café naïve résumé",
    "cafe\u0301 (decomposed accent)",
    "Ünïcödé ÀÉÎÕÜ ΟΔΟΣ straße",
    "日本語のテキスト",
    "emoji 🎉🐱 and symbols ©®™ — «quotes» “curly”",
    "tabs\tand\nnewlines\r\nmixed",
    "",
    "   ",
    "<|endoftext|> inside, and <|startoftext|> too",
    "e-mail: someone@example.com; url: https://example.org/a?b=c",
    "!!!???...,,,;;;",
    "x",
    "A very long caption that certainly does not fit into sixteen tokens of context at all",
]

TEXTS_FOR_EMBEDDING = [
    "a red striped disc",
    "a photo of a cat",
    "the dog slept by the door",
    "",
    "café 2024!",
]


def bytes_to_unicode():
    """GPT-2's byte -> printable unicode table."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    table, extra = {}, 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


def learn_bpe():
    """Byte-level base symbols (with and without </w>), N_MERGES merges
    learned by pair counting on CORPUS, then the two special tokens."""
    b2u = bytes_to_unicode()
    words = collections.Counter()
    for piece in PATTERN.findall(CORPUS.lower()):
        mapped = "".join(b2u[b] for b in piece.encode("utf-8"))
        words[tuple(mapped[:-1]) + (mapped[-1] + "</w>",)] += 1
    base = [b2u[b] for b in range(256)]
    vocab = base + [s + "</w>" for s in base]
    merges = []
    for _ in range(N_MERGES):
        pairs = collections.Counter()
        for word, n in words.items():
            for a, b in zip(word, word[1:]):
                pairs[(a, b)] += n
        if not pairs:
            break
        best = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))[0]
        merges.append(best)
        if best[0] + best[1] not in vocab:
            vocab.append(best[0] + best[1])
        merged = collections.Counter()
        for word, n in words.items():
            out, i = [], 0
            while i < len(word):
                if i + 1 < len(word) and (word[i], word[i + 1]) == best:
                    out.append(word[i] + word[i + 1])
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            merged[tuple(out)] += n
        words = merged
    vocab += [BOS, EOS]
    return {tok: i for i, tok in enumerate(vocab)}, merges


def test_image():
    """48x40 RGB: a colour gradient, a red disc with white stripes, a blue square."""
    h, w = 40, 48
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.zeros((h, w, 3))
    img[..., 0] = 40 + 120 * x / w
    img[..., 1] = 60 + 100 * y / h
    img[..., 2] = 90 + 60 * (x + y) / (w + h)
    disc = (x - 14) ** 2 + (y - 22) ** 2 < 11**2
    img[disc] = [220, 30, 30]
    img[disc & ((y.astype(int) // 3) % 2 == 0)] = [250, 250, 250]
    img[6:18, 30:44] = [20, 40, 200]
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def write_vocabulary(model_dir):
    """Learn the BPE vocabulary and write vocab.json and merges.txt."""
    vocab, merges = learn_bpe()
    with open(os.path.join(model_dir, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False)
    with open(os.path.join(model_dir, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n")
        for a, b in merges:
            f.write(f"{a} {b}\n")
    return vocab, merges


def pixel_values(image, size, mean, std):
    """The vision tower's float64 input: the whole image resized to size x size
    (bilinear, align_corners=False, no antialias), in [0, 1], normalised."""
    px = torch.from_numpy(image).double().permute(2, 0, 1)[None] / 255.0
    px = F.interpolate(px, size=(size, size), mode="bilinear", align_corners=False, antialias=False)
    return (px - torch.tensor(mean, dtype=torch.float64)[None, :, None, None]) / torch.tensor(
        std, dtype=torch.float64
    )[None, :, None, None]


def maskclip_dense(m, px):
    """MaskCLIP dense embeddings: the last vision layer with attention replaced
    by its value path (residual and MLP kept), post-LayerNorm and the visual
    projection per patch token. Returns them on the n x n ViT grid
    ([n*n, D]), n, and resampled to 4x4 and 9x9 grids (flattened, row-major,
    channels last)."""
    vm = m.vision_model
    out = vm(pixel_values=px, output_hidden_states=True)
    hs = out.hidden_states
    assert len(hs) == len(vm.encoder.layers) + 1
    assert torch.allclose(hs[-1], out.last_hidden_state)
    x = hs[-2]
    last = vm.encoder.layers[-1]
    v = x + last.self_attn.out_proj(last.self_attn.v_proj(last.layer_norm1(x)))
    v = v + last.mlp(last.layer_norm2(v))
    dense = m.visual_projection(vm.post_layernorm(v))[0, 1:]
    n = int(round(dense.shape[0] ** 0.5))
    fmap = dense.reshape(n, n, -1).permute(2, 0, 1)[None]  # [1, D, n, n]
    grids = {}
    for g in (4, 9):
        r = F.interpolate(fmap, size=(g, g), mode="bilinear", align_corners=False, antialias=False)
        grids[str(g)] = r[0].permute(1, 2, 0).reshape(-1).tolist()
    return dense, n, grids


def main():
    os.makedirs(MODEL_DIR, exist_ok=True)
    try:
        import ftfy  # noqa: F401

        sys.exit("uninstall ftfy: the reference must be CLIPTokenizer without it")
    except ImportError:
        pass

    vocab, merges = write_vocabulary(MODEL_DIR)

    tokenizer = CLIPTokenizer.from_pretrained(MODEL_DIR, model_max_length=16)
    assert tokenizer.convert_tokens_to_ids(EOS) == vocab[EOS]
    tokenizer.save_pretrained(MODEL_DIR)

    torch.manual_seed(0)
    config = CLIPConfig(
        text_config=dict(
            vocab_size=len(vocab),
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            max_position_embeddings=16,
            hidden_act="quick_gelu",
            bos_token_id=vocab[BOS],
            eos_token_id=vocab[EOS],
            pad_token_id=vocab[EOS],
        ),
        vision_config=dict(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            image_size=48,
            patch_size=8,
            hidden_act="gelu",
        ),
        projection_dim=16,
    )
    model = CLIPModel(config).eval()
    with torch.no_grad():
        # Perturb every parameter so that LayerNorm gains, biases and all
        # other tensors differ from their initial constants.
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    model.save_pretrained(MODEL_DIR, safe_serialization=True)

    mean = [0.48145466, 0.4578275, 0.40821073]
    std = [0.26862954, 0.26130258, 0.27577711]
    preprocessor = {
        "crop_size": {"height": 48, "width": 48},
        "do_center_crop": True,
        "do_convert_rgb": True,
        "do_normalize": True,
        "do_rescale": True,
        "do_resize": True,
        "image_mean": mean,
        "image_processor_type": "CLIPImageProcessor",
        "image_std": std,
        "resample": 3,
        "rescale_factor": 1 / 255,
        "size": {"shortest_edge": 48},
    }
    with open(os.path.join(MODEL_DIR, "preprocessor_config.json"), "w") as f:
        json.dump(preprocessor, f, indent=2)

    image = test_image()
    Image.fromarray(image).save(os.path.join(FIXTURES, "tiny_clip_image.png"))

    # ---- references, float64 ----
    m = model.double()
    tokens = {s: tokenizer(s)["input_ids"] for s in STRINGS}
    long_text = STRINGS[-1]
    truncated = tokenizer(long_text, truncation=True, max_length=16)["input_ids"]

    text_embeddings = {}
    with torch.no_grad():
        for s in TEXTS_FOR_EMBEDDING:
            ids = torch.tensor([tokens.get(s) or tokenizer(s)["input_ids"]])
            assert ids.shape[1] <= 16, s
            text_embeddings[s] = m.get_text_features(input_ids=ids).pooler_output[0].tolist()

        px = pixel_values(image, 48, mean, std)
        cls = m.get_image_features(pixel_values=px).pooler_output[0]
        dense, n, grids = maskclip_dense(m, px)  # dense: [36, 16]

    reference = {
        "transformers": __import__("transformers").__version__,
        "torch": torch.__version__,
        "tokens": [{"text": s, "ids": tokens[s]} for s in STRINGS],
        "truncated": {"text": long_text, "max_length": 16, "ids": truncated},
        "text_embeddings": [{"text": s, "embedding": e} for s, e in text_embeddings.items()],
        "image": "tiny_clip_image.png",
        "pixel_values": px[0].reshape(-1).tolist(),
        "image_embedding": cls.tolist(),
        "vit_grid": n,
        "dense_vit": dense.reshape(-1).tolist(),
        "dense_grids": grids,
    }
    with open(os.path.join(FIXTURES, "tiny_clip_reference.json"), "w", encoding="utf-8") as f:
        json.dump(reference, f, ensure_ascii=False)
    print(f"vocab {len(vocab)}, merges {len(merges)}; wrote {MODEL_DIR} and the reference")


if __name__ == "__main__":
    main()
