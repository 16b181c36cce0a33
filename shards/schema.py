"""The per-shard parquet schema (SPEC command 3). Extra input columns follow these."""
import pyarrow as pa

METADATA_FIELDS = [
    pa.field("key", pa.string()),
    pa.field("uid", pa.string()),
    pa.field("url", pa.string()),
    pa.field("caption", pa.string()),
    pa.field("status", pa.string()),
    pa.field("error_message", pa.string()),
    pa.field("width", pa.int64()),
    pa.field("height", pa.int64()),
    pa.field("original_width", pa.int64()),
    pa.field("original_height", pa.int64()),
    pa.field("sha256", pa.string()),
    pa.field("phash", pa.string()),
]
METADATA_COLUMNS = [f.name for f in METADATA_FIELDS]
SUCCESS = "success"


def rows_to_table(rows: list[dict]) -> pa.Table:
    """Fixed columns first with fixed types, then any extra columns in first-seen order."""
    extra: list[str] = []
    for row in rows:
        for name in row:
            if name not in METADATA_COLUMNS and name not in extra:
                extra.append(name)
    arrays = [pa.array([row.get(f.name) for row in rows], type=f.type) for f in METADATA_FIELDS]
    fields = list(METADATA_FIELDS)
    for name in extra:
        array = pa.array([row.get(name) for row in rows])
        arrays.append(array)
        fields.append(pa.field(name, array.type))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))
