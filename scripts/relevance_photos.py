"""Natural backgrounds for actinf-relevance's quality benchmark.

Writes three of scikit-image's sample photographs, centre-cropped to a square
and resized to 320x320, as JPEG (quality 88) into
crates/actinf-relevance/data/photos/. Licences (skimage.data
docstrings): astronaut — NASA, public domain; chelsea — CC0 (Stefan van der
Walt); coffee — CC0 (Rachel Michetti).

    /tmp/relref/bin/pip install scikit-image pillow
    /tmp/relref/bin/python scripts/relevance_photos.py
"""

import pathlib

from PIL import Image
from skimage import data

OUT = pathlib.Path(__file__).resolve().parent.parent / "crates/actinf-relevance/data/photos"


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for name in ("astronaut", "chelsea", "coffee"):
        img = Image.fromarray(getattr(data, name)()).convert("RGB")
        w, h = img.size
        side = min(w, h)
        box = ((w - side) // 2, (h - side) // 2, (w - side) // 2 + side, (h - side) // 2 + side)
        img = img.crop(box).resize((320, 320), Image.LANCZOS)
        path = OUT / f"{name}.jpg"
        img.save(path, quality=88)
        print(f"wrote {path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
