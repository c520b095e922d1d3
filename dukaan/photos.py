"""A product's photos: what an upload must be, adding, ordering, deleting, and making renditions.

An upload is checked whole in the request, by decoding it (never by its
name or declared type): JPEG, PNG or WebP, at most ``MAX_BYTES`` and
``MAX_PIXELS``, and at most ``MAX_PHOTOS`` per product. A refused upload
leaves nothing behind; one bad file refuses the whole upload (``Refused``
names every bad file), so the vendor never wonders which of their photos
went in. An accepted one waits in storage under ``incoming/`` and the job
``photos.process`` (recorded in the same transaction) makes its WebP
renditions, after which the store shows it. Customers only ever get files
this module re-encoded, with no metadata (a phone photo carries the GPS
position of the merchant's home).
"""

from __future__ import annotations

import hashlib
import io
import logging
import unicodedata
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps
from sqlalchemy import Select, func, select
from sqlalchemy.orm import aliased

from . import jobs, media
from .extensions import db
from .models import PhotoState, Product, ProductPhoto, Vendor

log = logging.getLogger(__name__)

MAX_PHOTOS = 8
MAX_BYTES = 15 * 1024 * 1024
MAX_PIXELS = 40_000_000
FORMATS = {"JPEG", "PNG", "WEBP"}
# Rendition widths; a photo narrower than one gets its own width instead (never upscaled).
# The widest is the master: nothing larger is kept.
WIDTHS = (320, 640, 1280)
WEBP_QUALITY = 72
# Pillow warns above its own limit and refuses at twice it; ours is lower and checked first.
Image.MAX_IMAGE_PIXELS = MAX_PIXELS


class Refused(ValueError):
    """An upload refused whole: ``messages`` name each bad file and what is wrong with it."""

    def __init__(self, messages: list[str]):
        super().__init__(" ".join(messages))
        self.messages = messages


@dataclass(frozen=True)
class Upload:
    """One file as the vendor sent it."""

    filename: str
    data: bytes


@dataclass(frozen=True)
class Cover:
    """What an ``<img>`` needs of a ready photo: its URLs by width and its size."""

    src: str
    srcset: str
    width: int
    height: int
    urls: dict[int, str]

    @classmethod
    def of(cls, photo: ProductPhoto) -> Cover:
        return cls.make(photo.key, photo.widths, photo.width, photo.height)

    @classmethod
    def make(cls, key: str, widths: str, width: int, height: int) -> Cover:
        """From a ready photo's ``key``, ``widths`` ("320 640 1280") and size."""
        urls = {w: media.url(rendition_key(key, w)) for w in (int(w) for w in widths.split())}
        # 640 (or the largest below it) for browsers that ignore srcset.
        src = urls[max((w for w in urls if w <= 640), default=min(urls))]
        return cls(src, ", ".join(f"{u} {w}w" for w, u in urls.items()), width, height, urls)


def file_name(sent: str | None) -> str:
    """The name of a file as the vendor's device sent it, fit to show and to store: no folders,
    no control characters (PostgreSQL cannot store NUL), at most 255 characters."""
    name = (sent or "").replace("\\", "/").rsplit("/", 1)[-1]
    return "".join(c for c in name if unicodedata.category(c) != "Cc").strip()[:255]


def rendition_key(key: str, width: int) -> str:
    return f"{media.PUBLIC}{key[:2]}/{key}-{width}.webp"


def incoming_key(key: str) -> str:
    return f"{media.INCOMING}{key}"


# --- reading ------------------------------------------------------------------------


def for_vendor(vendor: Vendor):
    """The vendor's photos and nobody else's."""
    return ProductPhoto.owned_by(vendor)


def get(vendor: Vendor, photo_id: int) -> ProductPhoto | None:
    return db.session.scalar(for_vendor(vendor).where(ProductPhoto.id == photo_id))


def of_product(product: Product) -> list[ProductPhoto]:
    """All of ``product``'s photos, in order, whatever their state (the dashboard's view)."""
    return list(db.session.scalars(
        select(ProductPhoto).where(ProductPhoto.product_id == product.id)
        .order_by(ProductPhoto.position, ProductPhoto.id)
    ))


def by_product(product_ids: list[int], ready_only: bool = False, session=None) -> dict[int, list[ProductPhoto]]:
    """The photos (``ready_only``: the ready ones) of each of ``product_ids``, in order: one query
    (on ``session``: the replica's for a list that may be a moment old)."""
    if not product_ids:
        return {}
    query = select(ProductPhoto).where(ProductPhoto.product_id.in_(product_ids))
    if ready_only:
        query = query.where(ProductPhoto.state == PhotoState.READY)
    found: dict[int, list[ProductPhoto]] = {}
    for photo in (session or db.session).scalars(query.order_by(ProductPhoto.product_id, ProductPhoto.position,
                                                   ProductPhoto.id)):
        found.setdefault(photo.product_id, []).append(photo)
    return found


def with_cover(query: Select) -> Select:
    """``query`` (of products) with four more columns: the key, widths, width and height of each
    product's first ready photo (None without one), found by its index: no query more."""
    cover = aliased(ProductPhoto, name="cover")
    first = (select(ProductPhoto.id)
             .where(ProductPhoto.product_id == Product.id, ProductPhoto.state == PhotoState.READY)
             .order_by(ProductPhoto.position, ProductPhoto.id).limit(1).correlate(Product).scalar_subquery())
    return query.outerjoin(cover, cover.id == first).add_columns(cover.key, cover.widths, cover.width, cover.height)


def cover_from(key: str | None, widths: str | None, width: int | None, height: int | None) -> Cover | None:
    """The cover from ``with_cover``'s columns."""
    return None if key is None else Cover.make(key, widths, width, height)


def annotate(found: list[Product], session=None) -> None:
    """Set on each product (for the dashboard) its ``cover`` (its first ready photo, or None),
    ``photo_count`` and ``photos_waiting`` (still processing): one query for all (on ``session``,
    the app's by default)."""
    photos_of = by_product([p.id for p in found], session=session)
    for product in found:
        photos = photos_of.get(product.id, [])
        first = next((photo for photo in photos if photo.ready), None)
        product.cover = Cover.of(first) if first else None
        product.photo_count = len(photos)
        product.photos_waiting = sum(photo.state == PhotoState.PROCESSING for photo in photos)


# --- checking an upload -------------------------------------------------------------


def check(upload: Upload) -> str | None:
    """Why ``upload`` cannot be a photo, in words naming the file, or None if it can."""
    name = upload.filename or "A file"
    if len(upload.data) > MAX_BYTES:
        return f"{name} is larger than {MAX_BYTES // (1024 * 1024)} MB."
    if not upload.data:
        return f"{name} is empty."
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(upload.data)) as image:
                if image.format not in FORMATS:
                    return f"{name} is not a JPEG, PNG or WebP photo."
                if image.width * image.height > MAX_PIXELS:
                    return f"{name} has more than {MAX_PIXELS // 1_000_000} megapixels."
                image.verify()
            # verify() misses a truncated JPEG: decode it too (at a fraction of its size, cheaply).
            with Image.open(io.BytesIO(upload.data)) as image:
                image.draft("RGB", (image.width // 8 or 1, image.height // 8 or 1))
                image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return f"{name} has more than {MAX_PIXELS // 1_000_000} megapixels."
    except Exception:
        return f"{name} is not a JPEG, PNG or WebP photo we can read."
    return None


# --- changes -----------------------------------------------------------------------


def add(product: Product, uploads: list[Upload]) -> list[ProductPhoto]:
    """Add ``uploads`` to ``product`` after its photos, and ask for their renditions.

    Raises ``Refused`` (nothing stored, nothing written) when any file is not a
    photo we take, or when the product would have more than ``MAX_PHOTOS``.
    """
    if not uploads:
        raise Refused(["Choose one or more photos to upload."])
    problems = [problem for upload in uploads if (problem := check(upload))]
    if problems:
        raise Refused(problems)
    _check_room(product.id, uploads)
    # No transaction stays open while the files are written: a bucket is a network away.
    db.session.rollback()
    store = media.storage()
    saved: list[str] = []
    try:
        for upload in uploads:
            key = hashlib.sha256(upload.data).hexdigest()
            store.save(incoming_key(key), upload.data, "application/octet-stream")
            saved.append(key)
        # The product's row locked, and counted again: two uploads at once cannot both take
        # the last places.
        db.session.execute(select(Product.id).where(Product.id == product.id).with_for_update())
        last = _check_room(product.id, uploads)
        added = [ProductPhoto(product_id=product.id, vendor_id=product.vendor_id, position=last + 1 + i,
                              state=PhotoState.PROCESSING, filename=upload.filename[:255], key=key)
                 for i, (upload, key) in enumerate(zip(uploads, saved, strict=True))]
        db.session.add_all(added)
        db.session.flush()
        for photo in added:
            jobs.record("photos.process", photo_id=photo.id)
        db.session.commit()
    except Exception:
        db.session.rollback()
        for key in saved:
            if not _key_in_use(key):
                store.delete(incoming_key(key))
        raise
    return added


def _check_room(product_id: int, uploads: list[Upload]) -> int:
    """The last position among the product's photos (-1: none); raises ``Refused`` when
    ``uploads`` would take it past ``MAX_PHOTOS``."""
    have, last = db.session.execute(
        select(func.count(), func.max(ProductPhoto.position)).where(ProductPhoto.product_id == product_id)
    ).one()
    if have + len(uploads) > MAX_PHOTOS:
        over = [u.filename or "a file" for u in uploads[max(0, MAX_PHOTOS - have):]]
        raise Refused([f"A product can have at most {MAX_PHOTOS} photos: it has {have}, so "
                       f"{', '.join(over)} cannot be added."])
    return -1 if last is None else last


def add_processed(product: Product, upload: Upload) -> ProductPhoto:
    """Add ``upload`` as ``product``'s next photo, made ready here and now with no job (loading
    demo and benchmark data: quick, and nothing waits on a job). Commits; raises ``Refused``."""
    if problem := check(upload):
        raise Refused([problem])
    key = hashlib.sha256(upload.data).hexdigest()
    made = render(upload.data)
    store = media.storage()
    for width, data in made.files.items():
        store.save(rendition_key(key, width), data, "image/webp")
    last = db.session.scalar(select(func.max(ProductPhoto.position)).where(ProductPhoto.product_id == product.id))
    photo = ProductPhoto(product_id=product.id, vendor_id=product.vendor_id, position=0 if last is None else last + 1,
                         state=PhotoState.READY, filename=upload.filename[:255], key=key,
                         widths=" ".join(str(w) for w in made.files), width=made.width, height=made.height)
    db.session.add(photo)
    db.session.commit()
    return photo


def move(photo: ProductPhoto, offset: int) -> None:
    """Move ``photo`` ``offset`` places (-1: earlier, 1: later) among its product's photos;
    the first is the cover. Moving past either end leaves it where it is."""
    photos = of_product(photo.product)
    index = next(i for i, p in enumerate(photos) if p.id == photo.id)
    target = index + offset
    if 0 <= target < len(photos):
        photos.insert(target, photos.pop(index))
    for position, each in enumerate(photos):
        if each.position != position:
            each.position = position
    db.session.commit()


def remove(photo: ProductPhoto) -> None:
    """Delete ``photo``; its files go after the commit (``photos.delete_files``)."""
    product = photo.product
    db.session.delete(photo)
    db.session.flush()
    for position, each in enumerate(of_product(product)):
        each.position = position
    jobs.record("photos.delete_files", key=photo.key, widths=photo.rendition_widths)
    db.session.commit()


def forget_product(product: Product) -> None:
    """Ask, in the current transaction, for the files of ``product``'s photos to go once it is
    deleted (the database deletes the rows with the product)."""
    for photo in db.session.scalars(select(ProductPhoto).where(ProductPhoto.product_id == product.id)):
        jobs.record("photos.delete_files", key=photo.key, widths=photo.rendition_widths)


def retry(photo: ProductPhoto) -> None:
    """Process a failed photo again."""
    if photo.state != PhotoState.FAILED:
        return
    photo.state = PhotoState.PROCESSING
    photo.error = None
    jobs.record("photos.process", photo_id=photo.id)
    db.session.commit()


# --- the job's work ----------------------------------------------------------------


@dataclass(frozen=True)
class Renditions:
    """The WebP files of one photo, by width, and the largest one's size."""

    files: dict[int, bytes]
    width: int
    height: int


def render(data: bytes) -> Renditions:
    """Decode ``data``, turn it upright (EXIF orientation) and encode a WebP at each of
    ``WIDTHS`` (no wider than the photo), with no metadata at all."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        image = Image.open(io.BytesIO(data))
        # A JPEG decodes straight at a fraction of its size (DCT scaling): a 12 MP photo
        # costs a quarter of a full decode.
        largest = max(WIDTHS)
        image.draft("RGB", (largest, largest))
        image = ImageOps.exif_transpose(image)
    if image.mode not in ("RGB", "RGBA"):
        image = image.convert("RGBA" if "transparency" in image.info or image.mode in ("LA", "PA") else "RGB")
    files = {}
    size = (0, 0)
    for width in sorted({min(w, image.width) for w in WIDTHS}):
        height = max(1, round(image.height * width / image.width))
        scaled = image if width == image.width else image.resize((width, height), Image.Resampling.LANCZOS,
                                                                 reducing_gap=3.0)
        out = io.BytesIO()
        # No exif=, icc_profile= or xmp=: Pillow writes none of them.
        scaled.save(out, "WEBP", quality=WEBP_QUALITY, method=4)
        files[width] = out.getvalue()
        size = (width, height)
    return Renditions(files, *size)


def process(photo_id: int) -> None:
    """Make the renditions of photo ``photo_id`` and mark it ready (the store then shows it);
    on failure mark it failed with the reason. Idempotent: a photo that is gone, or is not
    waiting, is left alone, and files are written under the same names each time. No
    transaction is held open while it decodes and writes files."""
    photo = db.session.get(ProductPhoto, photo_id)
    if photo is None or photo.state != PhotoState.PROCESSING:
        return
    key = photo.key
    db.session.rollback()
    store = media.storage()
    try:
        made = render(store.load(incoming_key(key)))
        for width, data in made.files.items():
            store.save(rendition_key(key, width), data, "image/webp")
    except Exception as error:
        log.warning("photo %s failed: %r", photo_id, error)
        db.session.rollback()
        photo = _locked(photo_id)
        if photo is not None and photo.state == PhotoState.PROCESSING:
            photo.state = PhotoState.FAILED
            photo.error = (f"{photo.filename or 'This photo'} could not be processed. "
                           "Try again, or upload another photo.")
        db.session.commit()
        return
    photo = _locked(photo_id)
    if photo is None:  # the vendor deleted it meanwhile: its files were looked for too early
        db.session.commit()
        delete_files(key, list(made.files))
        return
    if photo.state == PhotoState.PROCESSING:
        photo.state = PhotoState.READY
        photo.widths = " ".join(str(w) for w in made.files)
        photo.width, photo.height = made.width, made.height
    db.session.commit()
    if not db.session.scalar(select(func.count()).where(ProductPhoto.key == key,
                                                         ProductPhoto.state != PhotoState.READY)):
        store.delete(incoming_key(key))


def _locked(photo_id: int) -> ProductPhoto | None:
    """Photo ``photo_id`` read afresh and locked until the commit, or None if it is gone."""
    return db.session.scalar(select(ProductPhoto).where(ProductPhoto.id == photo_id).with_for_update()
                             .execution_options(populate_existing=True))


def _key_in_use(key: str) -> bool:
    return db.session.scalar(select(func.count()).where(ProductPhoto.key == key)) > 0


def delete_files(key: str, widths: list[int] | None = None) -> None:
    """Remove the files of ``key`` (its renditions at ``WIDTHS`` and ``widths``, and a waiting
    upload) unless another photo, the same picture elsewhere, still uses them. Idempotent."""
    if _key_in_use(key):
        return
    store = media.storage()
    store.delete(incoming_key(key))
    for width in sorted(set(WIDTHS) | set(widths or ())):
        store.delete(rendition_key(key, width))
