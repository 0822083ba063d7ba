"""What botocore's bundled data says about AWS: partitions and service shapes.

Read from the files botocore ships, never from AWS (no request, no credentials), so that
the report formats can use it without importing the AWS SDK themselves.
"""

from __future__ import annotations

import functools

import botocore.exceptions
import botocore.session


@functools.cache
def _botocore() -> botocore.session.Session:
    return botocore.session.get_session()


@functools.cache
def partition_of(region: str) -> str:
    """``us-east-1`` -> ``aws``, ``cn-north-1`` -> ``aws-cn`` (botocore's endpoint data; a
    region newer than it is taken for the commercial partition)."""
    try:
        return str(_botocore().get_partition_for_region(region))
    except botocore.exceptions.UnknownRegionError:
        return "aws"


@functools.cache
def shape_members(service: str, shape: str) -> tuple[str, ...]:
    """The member names of one of a service's API shapes (``securityhub``,
    ``ResourceDetails`` -> ``AwsEc2Vpc``...)."""
    return tuple(_botocore().get_service_model(service).shape_for(shape).members)
