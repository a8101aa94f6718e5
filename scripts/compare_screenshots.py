#!/usr/bin/python3
"""The comparison behind scripts/compare-screenshots.sh: OUT/before-1,
before-2, after-1, after-2 hold the same screenshots. For each, prints whether
before-1 and after-1 are byte-identical, else how many pixels differ and
whether any differ outside the bounding boxes where before-1/before-2 or
after-1/after-2 differ (a build against itself: what timing moves), or
inside a one-line box where any screenshot differs from itself (the header
line with the measured speedup is in every view, and two runs may happen to
time alike). Exit status 1 when some difference is left outside those boxes."""
import os
import sys

from PIL import Image, ImageChops


def diff_mask(a, b):
    ia, ib = Image.open(a).convert("RGB"), Image.open(b).convert("RGB")
    if ia.size != ib.size:
        raise SystemExit(f"{a} is {ia.size}, {b} is {ib.size}")
    return ImageChops.difference(ia, ib).convert("L").point(lambda v: 255 if v else 0)


def main(out):
    left_over = 0
    names = sorted(f for f in os.listdir(os.path.join(out, "before-1")) if f.endswith(".png"))

    def own_variation(name):
        runs = [(os.path.join(out, d + "-1", name), os.path.join(out, d + "-2", name)) for d in ("before", "after")]
        return [box for box in (diff_mask(x, y).getbbox() for x, y in runs) if box]

    own = {name: own_variation(name) for name in names}
    one_line = [box for boxes in own.values() for box in boxes if box[3] - box[1] <= 16]
    for name in names:
        b1, b2, a1, a2 = (os.path.join(out, d, name) for d in ("before-1", "before-2", "after-1", "after-2"))
        with open(b1, "rb") as f, open(a1, "rb") as g:
            if f.read() == g.read():
                print(f"{name:24} byte-identical")
                continue
        mask = diff_mask(b1, a1)
        changed = sum(1 for v in mask.getdata() if v)
        self_boxes = own[name]
        for box in self_boxes + one_line:
            mask.paste(0, box)
        rest = mask.getbbox()
        where = ", ".join(str(b) for b in self_boxes) or "nowhere"
        if rest is None:
            print(f"{name:24} {changed} pixels differ, all where a build differs from itself ({where})")
        else:
            left_over += 1
            print(f"{name:24} {changed} pixels differ; outside a build's own variation: box {rest}")
    print(f"{left_over} of {len(names)} screenshots differ beyond a build's own variation")
    return 1 if left_over else 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: compare_screenshots.py OUT_DIR")
    sys.exit(main(sys.argv[1]))
