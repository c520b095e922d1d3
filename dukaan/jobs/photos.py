"""Jobs about product photos: making a photo's renditions, and removing a deleted one's files.

Both are recorded in the transaction of the change that asks for them
(``dukaan.photos``), so an upload that rolls back processes nothing and a
deletion that rolls back removes no file.
"""

from __future__ import annotations

from . import job


@job("photos.process")
def process(photo_id: int) -> None:
    from .. import photos

    photos.process(photo_id)


@job("photos.delete_files")
def delete_files(key: str, widths: list[int] | None = None) -> None:
    from .. import photos

    photos.delete_files(key, widths)
