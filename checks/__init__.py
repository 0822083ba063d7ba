"""Every baseline control, one module per service. Importing this package registers them.

Modules are imported explicitly (no discovery by reflection) so a missing module fails loudly.
"""

from checks import (  # noqa: F401
    apigateway,
    cloudformation,
    ec2,
    ecs,
    efs,
    elasticache,
    iam,
    kinesis,
    kms,
    logs,
    rds,
    secretsmanager,
    tagging,
    vpc,
)
