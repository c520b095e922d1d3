"""Photos drawn with Pillow, for the demo store, the benchmarks and the tests (no files shipped)."""

from __future__ import annotations

import io
import zlib

from PIL import Image, ImageDraw

# EXIF tags: the orientation, and the GPS block (a phone photo's home address).
ORIENTATION = 0x0112
GPS_IFD = 0x8825


def phone_jpeg(width: int = 4000, height: int = 3000, orientation: int | None = 6, gps: bool = True,
               seed: int = 0, quality: int = 90) -> bytes:
    """A photo as a phone takes it: gradients under sensor noise (which compresses like a real
    scene, not like a flat colour), stored sideways with an EXIF orientation and a GPS position."""
    red = Image.linear_gradient("L").resize((width, height))
    green = Image.linear_gradient("L").rotate(90).resize((width, height))
    blue = Image.radial_gradient("L").resize((width, height))
    picture = Image.merge("RGB", (red, green, blue))
    noise = Image.effect_noise((width, height), 40 + seed % 7).convert("RGB")
    picture = Image.blend(picture, noise, 0.25)
    draw = ImageDraw.Draw(picture)
    for i in range(12):  # some shapes, so the picture has edges to keep
        x, y = (seed * 97 + i * 331) % width, (seed * 53 + i * 211) % height
        draw.ellipse((x, y, x + width // 6, y + height // 6), fill=((i * 40) % 256, 90, (255 - i * 20) % 256))
    exif = Image.Exif()
    if orientation:
        exif[ORIENTATION] = orientation
    if gps:
        # Latitude 18° 31' N, longitude 73° 51' E: Pune.
        exif.get_ifd(GPS_IFD).update({1: "N", 2: (18.0, 31.0, 0.0), 3: "E", 4: (73.0, 51.0, 0.0)})
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=quality, exif=exif)
    return out.getvalue()


def product_picture(name: str, width: int = 640, height: int = 480, fmt: str = "JPEG") -> bytes:
    """A small, flat picture for a demo product: a colour of its own and its initials."""
    hue = zlib.crc32(name.encode())
    background = (80 + hue % 150, 80 + (hue >> 8) % 150, 80 + (hue >> 16) % 150)
    picture = Image.new("RGB", (width, height), background)
    draw = ImageDraw.Draw(picture)
    draw.ellipse((width // 4, height // 6, width * 3 // 4, height * 5 // 6), fill=(250, 245, 235))
    initials = "".join(word[0] for word in name.split()[:2]).upper()
    draw.text((width // 2, height // 2), initials, fill=background, anchor="mm", font_size=height // 4)
    out = io.BytesIO()
    picture.save(out, fmt, quality=85)
    return out.getvalue()
