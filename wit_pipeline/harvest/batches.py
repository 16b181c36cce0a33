"""The unit of work between harvest's steps: a batch of image references, not one image.

One Beam element per archive chunk keeps the per-element cost of the runner (a few
microseconds per element and step, more at a shuffle) off the per-image path: a page has
tens of images and most of them are dropped before the shuffle.

- `IMAGE_SCHEMA`: the columns of an image batch, one per `ImageRef` field (a field added
  to `ImageRef` -- a text source, a page region -- becomes a column with nothing else to
  change); `ImageBatchBuilder` collects `ImageRef`s into `pa.RecordBatch`es of about
  `BATCH_ROWS` rows, never splitting a page's images over two batches (the site-level
  rule counts pages per batch).
- `Tally`: what a reader counted (skips by reason, records seen) and the few smallest
  examples of each skip reason, kept locally so that a file's thousand `data_url` skips
  cost one counter update and five examples, not a thousand Beam elements.
"""
from __future__ import annotations

import dataclasses
import operator
import typing

import pyarrow as pa

from wit_pipeline.harvest.sources.html import ImageRef

BATCH_ROWS = 4096
_ARROW_TYPES = {str: pa.string(), int: pa.int32(), float: pa.float64(), bool: pa.bool_()}


def _arrow_type(annotation) -> pa.DataType:
    if isinstance(annotation, str):
        annotation = eval(annotation, vars(typing))  # `from __future__ import annotations`: "int | None"
    for python_type, arrow_type in _ARROW_TYPES.items():
        if annotation is python_type or python_type in typing.get_args(annotation):
            return arrow_type
    raise TypeError(f"ImageRef field type {annotation!r} has no Arrow column type")


IMAGE_FIELDS = tuple(field.name for field in dataclasses.fields(ImageRef))
IMAGE_SCHEMA = pa.schema([(field.name, _arrow_type(field.type)) for field in dataclasses.fields(ImageRef)])
_field_values = operator.attrgetter(*IMAGE_FIELDS)


class ImageBatchBuilder:
    """ImageRefs in, `pa.RecordBatch`es of IMAGE_SCHEMA out, a page's images always in one batch."""

    def __init__(self, max_rows: int = BATCH_ROWS) -> None:
        self.max_rows = max_rows
        self._columns: list[list] = [[] for _ in IMAGE_FIELDS]
        self._page: str | None = None

    def __len__(self) -> int:
        return len(self._columns[0])

    def add(self, ref: ImageRef) -> pa.RecordBatch | None:
        """Add one reference; when it starts another page (a URL-list row is a page of its own)
        and the builder already holds `max_rows`, first hand those over as a batch."""
        full = None
        if len(self._columns[0]) >= self.max_rows and (ref.page_url is None or ref.page_url != self._page):
            full = self.flush()
        for column, value in zip(self._columns, _field_values(ref)):
            column.append(value)
        self._page = ref.page_url
        return full

    def add_page(self, rows: list[tuple]) -> pa.RecordBatch | None:
        """`add` for the images of one page (one page_url, not None) given as rows of ImageRef's
        fields (archives.PageRows)."""
        full = None
        page_url = rows[0][2]
        if len(self._columns[0]) >= self.max_rows and page_url != self._page:
            full = self.flush()
        for column, values in zip(self._columns, zip(*rows)):
            column.extend(values)
        self._page = rows[-1][2]
        return full

    def flush(self) -> pa.RecordBatch | None:
        """The collected references as one batch (None when there are none); the builder is emptied."""
        if not self._columns[0]:
            return None
        batch = pa.RecordBatch.from_arrays([pa.array(column, type=field.type)
                                            for column, field in zip(self._columns, IMAGE_SCHEMA)],
                                           schema=IMAGE_SCHEMA)
        self._columns = [[] for _ in IMAGE_FIELDS]
        return batch


def image_refs(batch: pa.RecordBatch) -> list[ImageRef]:
    """The references of a batch (tests, and readers of small batches)."""
    return [ImageRef(**row) for row in batch.to_pylist()]


class Tally:
    """Counts by name and the `examples` smallest details per skip reason."""

    def __init__(self, examples: int) -> None:
        self.examples = examples
        self.counts: dict[str, int] = {}
        self._smallest: dict[str, list[str]] = {}   # per reason, sorted once full

    def count(self, name: str, n: int = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + n

    def skip(self, reason: str, detail: str, n: int = 1) -> None:
        self.count(f"skipped.{reason}", n)
        kept = self._smallest.setdefault(reason, [])
        if len(kept) < self.examples:
            kept.append(detail)
            if len(kept) == self.examples:
                kept.sort()
        elif detail < kept[-1]:
            kept[-1] = detail
            kept.sort()

    def examples_found(self) -> list[tuple[str, str]]:
        """(reason, detail) pairs: at most `examples` per reason, the smallest ones."""
        return [(reason, detail) for reason, details in sorted(self._smallest.items()) for detail in sorted(details)]
