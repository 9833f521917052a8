"""Conformance fixtures for actinf-relevance's `faithful` texture array.

Recomputes ARR-COC-0-1's 13-channel texture array and its propositional and
perspectival scores with the reference packages (torch + kornia), on small
deterministic test images, and writes them as JSON to
crates/actinf-relevance/tests/fixtures/texture_faithful.json.

    python3 -m venv /tmp/relref && /tmp/relref/bin/pip install torch kornia numpy
    /tmp/relref/bin/python scripts/relevance_fixtures.py

The pipeline (as ARR-COC-0-1's ARR_COC/texture.py and knowing.py compute it):
image in [0,1] -> bilinear (align_corners=False, no antialias) to 16g x 16g ->
RGB, LAB L*/100 and (a*+128)/255, Sobel (kornia spatial_gradient, normalized)
on grey, each bilinearly resized to g x g; the Sobel channels min-max
normalised (+1e-8); y, x = linspace(0,1,g); eccentricity over its maximum;
channel 11 = channel 7, channel 12 = channel 3.
"""

import json
import pathlib

import kornia
import numpy as np
import torch
import torch.nn.functional as F


def resize(x, size):
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)


def texture_array(image, grid):
    """image: [1,3,H,W] in [0,1]; returns [13, grid, grid]."""
    inter = resize(image, 16 * grid)
    out = torch.zeros(13, grid, grid, dtype=image.dtype)
    out[0:3] = resize(inter, grid)[0]
    lab = kornia.color.rgb_to_lab(inter)
    out[3] = resize(lab[:, 0:1], grid)[0, 0] / 100.0
    out[4] = (resize(lab[:, 1:2], grid)[0, 0] + 128.0) / 255.0
    gray = kornia.color.rgb_to_grayscale(inter)
    grads = kornia.filters.spatial_gradient(gray, mode="sobel", normalized=True)
    gx, gy = grads[:, :, 0], grads[:, :, 1]
    mag = torch.sqrt(gx**2 + gy**2 + 1e-8)
    for c, g in ((5, gx), (6, gy), (7, mag)):
        out[c] = resize(g, grid)[0, 0]
        out[c] = (out[c] - out[c].min()) / (out[c].max() - out[c].min() + 1e-8)
    lin = torch.linspace(0, 1, grid, dtype=image.dtype)
    yy, xx = torch.meshgrid(lin, lin, indexing="ij")
    out[8], out[9] = yy, xx
    ecc = torch.sqrt((yy - 0.5) ** 2 + (xx - 0.5) ** 2)
    out[10] = ecc / ecc.max()
    out[11] = out[7]
    out[12] = out[3]
    return out


def information_score(tex):
    p = torch.softmax(tex, dim=0)
    h = -(p * torch.log(p + 1e-10)).sum(dim=0)
    return (h - h.min()) / (h.max() - h.min() + 1e-8)


def test_image(width, height, seed):
    """Smooth colour ramps, a disc, a bar and some noise: every channel varies."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    r = 255 * x / (width - 1)
    g = 255 * y / (height - 1)
    b = 128 + 100 * np.sin(x / 5.0) * np.cos(y / 7.0)
    disc = (x - 0.6 * width) ** 2 + (y - 0.4 * height) ** 2 < (0.2 * min(width, height)) ** 2
    r[disc], g[disc], b[disc] = 230, 40, 40
    bar = (np.abs(x - 0.25 * width) < 3) & (y > 0.5 * height)
    r[bar], g[bar], b[bar] = 10, 10, 10
    img = np.stack([r, g, b], axis=-1) + rng.normal(0, 12, (height, width, 3))
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def case(width, height, seed, grid, dtype, decimals):
    pixels = test_image(width, height, seed)
    image = torch.from_numpy(pixels.astype(np.float64) / 255.0).to(dtype).permute(2, 0, 1)[None]
    with torch.no_grad():
        tex = texture_array(image, grid)
        info = information_score(tex)
    return {
        "width": width,
        "height": height,
        "grid": grid,
        "dtype": str(dtype).replace("torch.", ""),
        "pixels": pixels.tolist(),
        "texture": np.round(tex.double().numpy(), decimals).tolist(),
        "information": np.round(info.double().numpy(), decimals).tolist(),
    }


def main():
    out = {
        "source": "scripts/relevance_fixtures.py",
        "torch": torch.__version__,
        "kornia": kornia.__version__,
        "cases": [
            # ARR-COC's configuration (grid 32, 512x512 intermediate), float32 as it runs.
            case(96, 80, 1, 32, torch.float32, 8),
            # A small grid in float64: the arithmetic itself, free of float32 rounding.
            case(37, 53, 2, 8, torch.float64, 12),
        ],
    }
    path = pathlib.Path(__file__).resolve().parent.parent / "crates/actinf-relevance/tests/fixtures/texture_faithful.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, separators=(",", ":")) + "\n")
    print(f"wrote {path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
