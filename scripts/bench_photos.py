"""The photo targets: CPU seconds to process a 12-megapixel phone photo (target: at most 1.5 s)
and the size of its 320-px rendition (target: at most 25 KB).

The photo is drawn here (dukaan.sample_photos): 4000 x 3000, gradients under sensor noise,
stored sideways with an EXIF orientation and a GPS position, JPEG quality 90, as a phone writes
it. Processing is what the job does (``photos.render``): decode, turn upright, strip, and encode
the WebP renditions. CPU time is this process's, so other load on the machine inflates it little;
the median of ``--repeat`` runs is printed.

Usage: .venv/bin/python scripts/bench_photos.py [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dukaan import photos  # noqa: E402
from dukaan.sample_photos import phone_jpeg  # noqa: E402

CPU_TARGET = 1.5
CARD_TARGET = 25 * 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    options = parser.parse_args()
    photo = phone_jpeg(4000, 3000, orientation=6, gps=True)
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    print(f"photo: 4000 x 3000 JPEG (12.0 MP), {len(photo) / 1024 / 1024:.1f} MB, EXIF orientation 6 and GPS")
    seconds, made = [], None
    for _ in range(options.repeat):
        started = time.process_time()
        made = photos.render(photo)
        seconds.append(time.process_time() - started)
    cpu = statistics.median(seconds)
    sizes = ", ".join(f"{width} px {len(data) / 1024:.1f} KB" for width, data in sorted(made.files.items()))
    card = len(made.files[min(made.files)])
    print(f"renditions: {sizes} (upright: {made.width} x {made.height})")
    print(f"CPU to process: median {cpu:.3f} s of {options.repeat} (min {min(seconds):.3f}, max {max(seconds):.3f})"
          f"  [{'met' if cpu <= CPU_TARGET else 'NOT met'}: at most {CPU_TARGET} s]")
    print(f"320-px rendition: {card:,} bytes ({card / 1024:.1f} KB)"
          f"  [{'met' if card <= CARD_TARGET else 'NOT met'}: at most 25 KB]")
    print(f"machine: load average {os.getloadavg()[0]:.2f} at the end")
    return 0 if cpu <= CPU_TARGET and card <= CARD_TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
