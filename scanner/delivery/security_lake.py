"""Amazon Security Lake custom source: OCSF Compliance Finding events as Parquet.

What the Security Lake user guide ("Collecting data from custom sources in Security Lake")
asks of a custom source, and what driftscan does:

- one OCSF event class per source: every object holds Compliance Finding (2003) events;
- OCSF 1.3 or earlier: events are ``--format ocsf``'s, at 1.3.0
  (``reports.ocsf.at_security_lake_version``);
- Parquet, zstandard-compressed, data pages of at most 1 MB, row groups of at most 256 MB;
- partitions ``ext/SOURCE/region=REGION/accountId=ACCOUNT/eventDay=YYYYMMDD/``: REGION and
  ACCOUNT are the findings' own, eventDay the UTC day of the event's ``time``;
- records ordered by time;
- objects sent between every 5 minutes and once a day: one object per partition per scan,
  so scans at least 5 minutes apart keep to it.

Column types follow OCSF's: integer_t is int32, long_t int64, timestamp_t (milliseconds
since the epoch) int64, as in Security Lake's own tables; objects are structs, arrays lists;
json_t (``resources[].data``, the evidence read) is a JSON string, as its shape varies
from control to control.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from reports import ocsf
from scanner.errors import ConfigError

if TYPE_CHECKING:
    import pyarrow as pa

    from scanner.delivery.interface import Outgoing

EXTRA = "driftscan[securitylake]"
CONTENT_TYPE = "application/vnd.apache.parquet"
DATA_PAGE_BYTES = 1024 * 1024
ROWS_PER_GROUP = 50_000
"""A row group of 50,000 events is about 20 MB compressed: far below the 256 MB the guide
allows."""


def require_pyarrow() -> None:
    """ConfigError (exit 2) naming the extra to install when pyarrow is missing."""
    try:
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        raise ConfigError(
            f"--send security-lake:// writes Parquet, which needs pyarrow: pip install '{EXTRA}'"
        ) from None


def events(outgoing: Outgoing, location: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """OCSF 1.3.0 events, each with the key of its object: one object per (region, account,
    eventDay); a finding that is gone since the previous scan is a Close event."""
    meta = outgoing.result.metadata
    for findings, gone in ((outgoing.result.findings, False), (outgoing.gone, True)):
        for finding in findings:
            event = ocsf.event(finding, meta)
            event = ocsf.at_security_lake_version(ocsf.closed(event) if gone else event)
            at = datetime.fromtimestamp(event["time"] / 1000, UTC)
            key = (
                f"{location}region={finding.region}/accountId={finding.account_id}/"
                f"eventDay={at:%Y%m%d}/{at:%Y%m%dT%H%M%SZ}_{meta.scan_id}.parquet"
            )
            yield key, event


def in_time_order(events: list[dict[str, Any]]) -> None:
    """An object's events in time order (then by finding), as Security Lake queries expect."""
    events.sort(key=lambda event: (event["time"], event["finding_info"]["uid"]))


def schema() -> pa.Schema:
    """The Parquet columns of an OCSF 1.3.0 Compliance Finding event (cloud profile), as
    ``reports.ocsf`` fills them."""
    import pyarrow as pa

    def struct(**fields: pa.DataType) -> pa.DataType:
        return pa.struct([pa.field(name, kind) for name, kind in fields.items()])

    string, integer, long = pa.string(), pa.int32(), pa.int64()
    strings = pa.list_(string)
    return pa.schema(
        [
            ("activity_id", integer),
            ("activity_name", string),
            ("category_uid", integer),
            ("category_name", string),
            ("class_uid", integer),
            ("class_name", string),
            ("type_uid", long),
            ("type_name", string),
            ("time", long),
            ("severity_id", integer),
            ("severity", string),
            ("status_id", integer),
            ("status", string),
            ("message", string),
            (
                "metadata",
                struct(
                    version=string,
                    product=struct(name=string, vendor_name=string, version=string),
                    profiles=strings,
                    event_code=string,
                    correlation_uid=string,
                ),
            ),
            (
                "cloud",
                struct(
                    provider=string,
                    region=string,
                    account=struct(uid=string, type_id=integer, type=string),
                ),
            ),
            ("finding_info", struct(uid=string, title=string, desc=string)),
            (
                "compliance",
                struct(
                    control=string,
                    standards=strings,
                    requirements=strings,
                    status_id=integer,
                    status=string,
                ),
            ),
            ("remediation", struct(desc=string)),
            (
                "resources",
                pa.list_(
                    struct(
                        uid=string,
                        name=string,
                        type=string,
                        region=string,
                        cloud_partition=string,
                        data=string,
                    )
                ),
            ),
        ]
    )


JSON_COLUMNS = (("resources", "data"),)
"""json_t attributes, written as JSON text: (array attribute, attribute of its objects)."""


def parquet(events: Sequence[dict[str, Any]]) -> bytes:
    """The events as one Parquet file (a missing attribute is a null)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [_json_as_text(event) for event in events]
    table = pa.Table.from_pylist(rows, schema=schema())
    buffer = io.BytesIO()
    pq.write_table(
        table,
        buffer,
        compression="zstd",
        data_page_size=DATA_PAGE_BYTES,
        row_group_size=ROWS_PER_GROUP,
    )
    return buffer.getvalue()


def _json_as_text(event: dict[str, Any]) -> dict[str, Any]:
    row = dict(event)
    for array, attribute in JSON_COLUMNS:
        row[array] = [
            {**item, attribute: json.dumps(item[attribute], sort_keys=True, default=str)}
            if attribute in item
            else item
            for item in row.get(array, ())
        ]
    return row
