"""Kinesis data streams: ListStreams (paged by hand), then DescribeStreamSummary per stream."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from scanner.engine.inventory import RegionScope
from scanner.engine.records.kinesis import SUMMARY, ListedStream, Stream
from scanner.model import ReadError, UnreadableResource

SKIPPED_STATUSES = frozenset({"DELETING"})
"""A stream being deleted is not judged: it cannot be changed and disappears on its own."""


def list_streams(scope: RegionScope) -> list[ListedStream]:
    """Every stream ListStreams returns, following whichever continuation AWS offers.

    Real AWS pages with ``NextToken``; ``ExclusiveStartStreamName`` (the last name of a
    page) is the older, still valid way and the only one moto 5.2 honours (gap
    kinesis-liststreams-no-nexttoken). The boto3 paginator follows ``NextToken`` only, so
    it stops after the first page on such a response; it is not used.
    """
    listed: dict[str, ListedStream] = {}
    params: dict[str, Any] = {}
    while True:
        page = scope.call("kinesis", "list_streams", **params)
        names = [str(name) for name in page.get("StreamNames", [])]
        for name in names:
            listed.setdefault(name, ListedStream(name=name))
        summaries = page.get("StreamSummaries", [])
        for summary in summaries:
            name = str(summary["StreamName"])
            listed[name] = ListedStream(
                name=name, arn=summary.get("StreamARN"), status=summary.get("StreamStatus")
            )
        if not page.get("HasMoreStreams"):
            break
        if page.get("NextToken"):
            following: dict[str, Any] = {"NextToken": page["NextToken"]}
        elif names or summaries:
            last = names[-1] if names else str(summaries[-1]["StreamName"])
            following = {"ExclusiveStartStreamName": last}
        else:
            break  # "more" but nothing to continue from
        if following == params:
            break  # no progress: never loop forever on a misbehaving endpoint
        params = following
    return list(listed.values())


def streams(scope: RegionScope) -> list[Stream | UnreadableResource]:
    """Every in-scope stream with its encryption and retention; DELETING streams are skipped.

    A stream whose summary (or, when the scope filters on tags, whose tags) cannot be read
    is listed as UnreadableResource. A stream deleted between the listing and those reads
    (ResourceNotFoundException) is skipped: it no longer exists.
    """
    listing = [item for item in list_streams(scope) if item.status not in SKIPPED_STATUSES]

    def read(item: ListedStream) -> Stream | UnreadableResource | None:
        tags: dict[str, str] | None = None
        if scope.scope.read_tags or scope.scope.needs_tags_of(item.name):
            found = scope.attempt(lambda: _tags(scope, item))
            if isinstance(found, ReadError):
                return (
                    None
                    if _gone(found)
                    else UnreadableResource(ref=item.ref, error=found, what=SUMMARY)
                )
            tags = found
        if not scope.scope.includes(item.name, tags):
            return None
        response = scope.attempt(
            lambda: scope.call("kinesis", "describe_stream_summary", **item.selector)
        )
        if isinstance(response, ReadError):
            return (
                None
                if _gone(response)
                else UnreadableResource(ref=item.ref, error=response, what=SUMMARY)
            )
        return _stream(response["StreamDescriptionSummary"], item, tags)

    described = scope.map(read, listing)
    return [
        stream
        for stream in described
        if stream is not None
        and not (isinstance(stream, Stream) and stream.status in SKIPPED_STATUSES)
    ]


def _gone(error: ReadError) -> bool:
    return error.code == "ResourceNotFoundException"


def _stream(summary: Mapping[str, Any], item: ListedStream, tags: dict[str, str] | None) -> Stream:
    encryption = str(summary.get("EncryptionType") or "NONE")
    mode = summary.get("StreamModeDetails") or {}
    shards = summary.get("OpenShardCount")
    return Stream(
        name=str(summary.get("StreamName") or item.name),
        arn=str(summary.get("StreamARN") or item.arn or ""),
        status=str(summary.get("StreamStatus", "")),
        encryption_type=encryption,
        kms_key_id=summary.get("KeyId") if encryption == "KMS" else None,
        retention_hours=int(summary["RetentionPeriodHours"]),
        stream_mode=mode.get("StreamMode"),
        open_shard_count=int(shards) if shards is not None else None,
        tags=tags,
    )


def _tags(scope: RegionScope, item: ListedStream) -> dict[str, str]:
    """ListTagsForStream, paged by ExclusiveStartTagKey while HasMoreTags."""
    tags: dict[str, str] = {}
    start: dict[str, str] = {}
    while True:
        page = scope.call("kinesis", "list_tags_for_stream", **item.selector, **start)
        found = page.get("Tags", [])
        for tag in found:
            tags[str(tag["Key"])] = str(tag.get("Value", ""))
        if not page.get("HasMoreTags") or not found:
            return tags
        start = {"ExclusiveStartTagKey": str(found[-1]["Key"])}
