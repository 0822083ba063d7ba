"""The framework requirements a control evidences, declared once per control by ``@check``.

A control is mapped to the AWS Security Hub controls that judge the same requirement; the
NIST SP 800-53 Rev. 5 controls and CIS AWS Foundations Benchmark items are the ones AWS lists
as each Security Hub control's "Related requirements", never our own guesses. Which of those
Security Hub controls belong to the AWS Foundational Security Best Practices (FSBP) standard
comes from the standard's own list: some (KMS.4, CloudWatch.16) are only in the CIS, NIST or
PCI standards, so they carry no FSBP id.

Sources (AWS Security Hub CSPM User Guide, read December 2026):
- FSBP membership: https://docs.aws.amazon.com/securityhub/latest/userguide/fsbp-standard.html
- each control: the per-service page named in its ``source``.

CIS numbering is the CIS AWS Foundations Benchmark v5.0.0's, the newest version Security Hub
lists (``CIS AWS Foundations Benchmark v5.0.0/3.6`` for KMS.4); a Security Hub control for
which AWS lists no v5.0.0 item has none here, even where an older version had one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

CIS_VERSION = "v5.0.0"

FSBP_STANDARD = "AWS Foundational Security Best Practices v1.0.0"
NIST_STANDARD = "NIST SP 800-53 Rev. 5"
CIS_STANDARD = f"CIS AWS Foundations Benchmark {CIS_VERSION}"

SECURITY_HUB_ID = re.compile(r"^[A-Za-z0-9]+\.[1-9][0-9]*$")
"""A Security Hub control id (standard-agnostic), e.g. ``RDS.2``, ``CloudWatch.16``."""
NIST_ID = re.compile(r"^[A-Z]{2}-[1-9][0-9]*(\([1-9][0-9]*\))?$")
"""A NIST SP 800-53 control or enhancement, e.g. ``SC-12``, ``SC-12(2)``."""
CIS_ID = re.compile(r"^[1-9][0-9]*(\.[1-9][0-9]*)+$")
"""A CIS benchmark recommendation number, e.g. ``3.6``, ``2.2.1``."""

_USER_GUIDE = "https://docs.aws.amazon.com/securityhub/latest/userguide/"


class Framework(StrEnum):
    """The frameworks a control can evidence (the values of ``scan --compliance``)."""

    FSBP = "fsbp"
    CIS = "cis"
    NIST_800_53 = "nist-800-53"


STANDARDS = {
    Framework.FSBP: FSBP_STANDARD,
    Framework.NIST_800_53: NIST_STANDARD,
    Framework.CIS: CIS_STANDARD,
}
"""Each framework's standard, by name and version."""


@dataclass(frozen=True, kw_only=True)
class SecurityHubControl:
    """A Security Hub control as AWS publishes it."""

    id: str
    title: str
    resource_types: tuple[str, ...]
    """The CloudFormation types it judges: a finding of another type is not its result."""
    fsbp: bool
    """Listed in the FSBP standard (v1.0.0)."""
    nist_800_53: tuple[str, ...] = ()
    cis: tuple[str, ...] = ()
    """CIS AWS Foundations Benchmark items, in CIS_VERSION's numbering."""
    source: str

    def __post_init__(self) -> None:
        if not SECURITY_HUB_ID.match(self.id):
            raise ValueError(f"malformed Security Hub control id {self.id!r}")
        for nist in self.nist_800_53:
            if not NIST_ID.match(nist):
                raise ValueError(f"{self.id}: malformed NIST SP 800-53 id {nist!r}")
        for cis in self.cis:
            if not CIS_ID.match(cis):
                raise ValueError(f"{self.id}: malformed CIS item {cis!r}")


@dataclass(frozen=True, kw_only=True)
class Compliance:
    """What a control evidences. Declare exactly one of:

    - ``same_as``: Security Hub controls that judge the same requirement (a threshold the
      baseline sets, like a minimum retention, counts as the same requirement);
    - ``stricter_than``: Security Hub controls whose requirement ours includes and goes beyond
      (e.g. encryption with a customer-managed key vs encryption at rest): our PASS passes
      them, but our FAIL may not fail them, so a finding never claims to be their result;
    - ``none_because``: why no framework requirement matches (a mapping is never guessed).
    """

    same_as: tuple[SecurityHubControl, ...] = ()
    stricter_than: tuple[SecurityHubControl, ...] = ()
    none_because: str = ""
    note: str = ""
    """How a match is partial, when it is (scope, thresholds)."""

    def __post_init__(self) -> None:
        mapped = bool(self.same_as or self.stricter_than)
        if mapped == bool(self.none_because):
            raise ValueError("declare Security Hub controls or none_because, exactly one")
        ids = [control.id for control in self.controls]
        if len(ids) != len(set(ids)):
            raise ValueError(f"a Security Hub control is declared twice: {ids}")

    @classmethod
    def none(cls, reason: str) -> Compliance:
        return cls(none_because=reason)

    @property
    def controls(self) -> tuple[SecurityHubControl, ...]:
        return self.same_as + self.stricter_than

    @property
    def security_hub(self) -> tuple[str, ...]:
        return tuple(control.id for control in self.controls)

    @property
    def fsbp(self) -> tuple[str, ...]:
        return tuple(control.id for control in self.controls if control.fsbp)

    @property
    def nist_800_53(self) -> tuple[str, ...]:
        return _union(control.nist_800_53 for control in self.controls)

    @property
    def cis(self) -> tuple[str, ...]:
        return _union(control.cis for control in self.controls)

    def ids(self, framework: Framework) -> tuple[str, ...]:
        """The requirements of ``framework`` it evidences, in that framework's numbering."""
        match framework:
            case Framework.FSBP:
                return self.fsbp
            case Framework.CIS:
                return self.cis
            case Framework.NIST_800_53:
                return self.nist_800_53

    def evidences(self, framework: Framework) -> bool:
        return bool(self.ids(framework))

    def standards(self) -> tuple[str, ...]:
        """The names of the frameworks it evidences."""
        return tuple(name for framework, name in STANDARDS.items() if self.evidences(framework))

    def requirements(self) -> tuple[str, ...]:
        """Every requirement, spelt as Security Hub spells related requirements in ASFF:
        ``AWS Foundational Security Best Practices v1.0.0/RDS.2``, ``NIST.800-53.r5 SC-12``,
        ``CIS AWS Foundations Benchmark v5.0.0/3.6``."""
        return (
            tuple(f"{FSBP_STANDARD}/{fsbp}" for fsbp in self.fsbp)
            + tuple(f"NIST.800-53.r5 {nist}" for nist in self.nist_800_53)
            + tuple(f"{CIS_STANDARD}/{cis}" for cis in self.cis)
        )

    def control_for(self, resource_type: str) -> str | None:
        """The Security Hub control a finding on ``resource_type`` is a result of: the one
        ``same_as`` control that judges that type (never a ``stricter_than`` one)."""
        matching = [c.id for c in self.same_as if resource_type in c.resource_types]
        return matching[0] if len(matching) == 1 else None

    def as_dict(self) -> dict[str, list[str]]:
        """The JSON form: each framework's ids (empty lists when none matches)."""
        return {
            "security_hub": list(self.security_hub),
            "fsbp": list(self.fsbp),
            "nist_800_53": list(self.nist_800_53),
            "cis": list(self.cis),
        }

    def summary(self) -> str:
        """One short line for listings: ``FSBP RDS.2; CIS 2.2.3; NIST (8)``."""
        if self.none_because:
            return "none"
        parts = []
        if self.fsbp:
            parts.append("FSBP " + ", ".join(self.fsbp))
        if other := [i for i in self.security_hub if i not in self.fsbp]:
            parts.append("Security Hub " + ", ".join(other))
        if self.cis:
            parts.append("CIS " + ", ".join(self.cis))
        if self.nist_800_53:
            parts.append(f"NIST ({len(self.nist_800_53)})")
        return "; ".join(parts)

    def lines(self) -> list[str]:
        """The full declaration for ``checks show`` and the docs, a line per statement."""
        if self.none_because:
            return [f"none: {self.none_because}"]
        lines = [
            *(
                f"same requirement as Security Hub {c.id} ({_fsbp(c)}): {c.title}"
                for c in self.same_as
            ),
            *(
                f"stricter than Security Hub {c.id} ({_fsbp(c)}): {c.title}"
                for c in self.stricter_than
            ),
        ]
        lines.append("NIST SP 800-53 Rev. 5: " + (", ".join(self.nist_800_53) or "none listed"))
        lines.append(
            f"CIS AWS Foundations {CIS_VERSION}: " + (", ".join(self.cis) or "none listed")
        )
        if self.note:
            lines.append(f"note: {self.note}")
        lines += [f"source: {url}" for url in dict.fromkeys(c.source for c in self.controls)]
        return lines


def requirement_ids(framework: Framework, declarations: Iterable[Compliance]) -> tuple[str, ...]:
    """Every requirement of ``framework`` the declarations evidence, once, in natural order."""
    return _union(compliance.ids(framework) for compliance in declarations)


def _fsbp(control: SecurityHubControl) -> str:
    return "FSBP" if control.fsbp else "not in FSBP"


def _union(groups: Iterable[tuple[str, ...]]) -> tuple[str, ...]:
    """Every id once, in a natural order (AC-2 before AC-2(1) before AC-10; 2.2 before 2.10)."""
    return tuple(sorted({item for group in groups for item in group}, key=_natural))


def _natural(item: str) -> tuple[object, ...]:
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", item))


# The Security Hub controls our controls map to. Titles, resource types, FSBP membership and
# the NIST / CIS v5.0.0 "Related requirements" are AWS's, from each control's page.

APIGATEWAY_1 = SecurityHubControl(
    id="APIGateway.1",
    title="API Gateway REST and WebSocket API execution logging should be enabled",
    resource_types=("AWS::ApiGateway::Stage", "AWS::ApiGatewayV2::Stage"),
    fsbp=True,
    nist_800_53=(
        "AC-4(26)",
        "AU-10",
        "AU-12",
        "AU-2",
        "AU-3",
        "AU-6(3)",
        "AU-6(4)",
        "CA-7",
        "SC-7(9)",
        "SI-7(8)",
    ),
    source=_USER_GUIDE + "apigateway-controls.html#apigateway-1",
)
CLOUDWATCH_16 = SecurityHubControl(
    id="CloudWatch.16",
    title="CloudWatch log groups should be retained for a specified time period",
    resource_types=("AWS::Logs::LogGroup",),
    fsbp=False,
    nist_800_53=("AU-10", "AU-11", "AU-6(3)", "AU-6(4)", "CA-7", "SI-12"),
    source=_USER_GUIDE + "cloudwatch-controls.html#cloudwatch-16",
)
EC2_18 = SecurityHubControl(
    id="EC2.18",
    title="Security groups should only allow unrestricted incoming traffic for authorized ports",
    resource_types=("AWS::EC2::SecurityGroup",),
    fsbp=True,
    nist_800_53=(
        "AC-4",
        "AC-4(21)",
        "SC-7",
        "SC-7(11)",
        "SC-7(16)",
        "SC-7(21)",
        "SC-7(4)",
        "SC-7(5)",
    ),
    source=_USER_GUIDE + "ec2-controls.html#ec2-18",
)
EC2_19 = SecurityHubControl(
    id="EC2.19",
    title="Security groups should not allow unrestricted access to ports with high risk",
    resource_types=("AWS::EC2::SecurityGroup",),
    fsbp=True,
    nist_800_53=(
        "AC-4",
        "AC-4(21)",
        "CA-9(1)",
        "CM-2",
        "CM-2(2)",
        "CM-7",
        "SC-7",
        "SC-7(11)",
        "SC-7(16)",
        "SC-7(21)",
        "SC-7(4)",
        "SC-7(5)",
    ),
    source=_USER_GUIDE + "ec2-controls.html#ec2-19",
)
ECS_12 = SecurityHubControl(
    id="ECS.12",
    title="ECS clusters should use Container Insights",
    resource_types=("AWS::ECS::Cluster",),
    fsbp=True,
    nist_800_53=("AU-6(3)", "AU-6(4)", "CA-7", "SI-2"),
    source=_USER_GUIDE + "ecs-controls.html#ecs-12",
)
_AT_REST = ("CA-9(1)", "CM-3(6)", "SC-13", "SC-28", "SC-28(1)", "SC-7(10)", "SI-7(6)")
"""The NIST list AWS gives every encryption-at-rest control cited here."""
EFS_1 = SecurityHubControl(
    id="EFS.1",
    title="Elastic File System should be configured to encrypt file data at-rest using AWS KMS",
    resource_types=("AWS::EFS::FileSystem",),
    fsbp=True,
    nist_800_53=_AT_REST,
    cis=("2.3.1",),
    source=_USER_GUIDE + "efs-controls.html#efs-1",
)
EFS_7 = SecurityHubControl(
    id="EFS.7",
    title="EFS file systems should have automatic backups enabled",
    resource_types=("AWS::EFS::FileSystem",),
    fsbp=True,
    source=_USER_GUIDE + "efs-controls.html#efs-7",
)
EFS_8 = SecurityHubControl(
    id="EFS.8",
    title="EFS file systems should be encrypted at rest",
    resource_types=("AWS::EFS::FileSystem",),
    fsbp=True,
    cis=("2.3.1",),
    source=_USER_GUIDE + "efs-controls.html#efs-8",
)
_REPLICATION_GROUP = ("AWS::ElastiCache::ReplicationGroup",)
_BACKUP = ("CP-10", "CP-6", "CP-6(1)", "CP-6(2)", "CP-9", "SC-5(2)", "SI-12", "SI-13(5)")
"""The NIST list AWS gives the automatic-backup controls cited here."""
ELASTICACHE_1 = SecurityHubControl(
    id="ElastiCache.1",
    title="ElastiCache (Redis OSS) clusters should have automatic backups enabled",
    resource_types=("AWS::ElastiCache::CacheCluster", *_REPLICATION_GROUP),
    fsbp=True,
    nist_800_53=_BACKUP,
    source=_USER_GUIDE + "elasticache-controls.html#elasticache-1",
)
ELASTICACHE_3 = SecurityHubControl(
    id="ElastiCache.3",
    title="ElastiCache replication groups should have automatic failover enabled",
    resource_types=_REPLICATION_GROUP,
    fsbp=True,
    nist_800_53=("CP-10", "SC-36", "SC-5(2)", "SI-13(5)"),
    source=_USER_GUIDE + "elasticache-controls.html#elasticache-3",
)
ELASTICACHE_4 = SecurityHubControl(
    id="ElastiCache.4",
    title="ElastiCache replication groups should be encrypted at rest",
    resource_types=_REPLICATION_GROUP,
    fsbp=True,
    nist_800_53=_AT_REST,
    source=_USER_GUIDE + "elasticache-controls.html#elasticache-4",
)
ELASTICACHE_5 = SecurityHubControl(
    id="ElastiCache.5",
    title="ElastiCache replication groups should be encrypted in transit",
    resource_types=_REPLICATION_GROUP,
    fsbp=True,
    nist_800_53=(
        "AC-17(2)",
        "AC-4",
        "IA-5(1)",
        "SC-12(3)",
        "SC-13",
        "SC-23",
        "SC-23(3)",
        "SC-7(4)",
        "SC-8",
        "SC-8(1)",
        "SC-8(2)",
        "SI-7(6)",
    ),
    source=_USER_GUIDE + "elasticache-controls.html#elasticache-5",
)
_LEAST_PRIVILEGE = ("AC-2", "AC-2(1)", "AC-3", "AC-3(15)", "AC-3(7)", "AC-5", "AC-6", "AC-6(3)")
IAM_1 = SecurityHubControl(
    id="IAM.1",
    title='IAM policies should not allow full "*" administrative privileges',
    resource_types=("AWS::IAM::Policy",),
    fsbp=True,
    nist_800_53=(*_LEAST_PRIVILEGE, "AC-6(10)", "AC-6(2)"),
    source=_USER_GUIDE + "iam-controls.html#iam-1",
)
KINESIS_1 = SecurityHubControl(
    id="Kinesis.1",
    title="Kinesis streams should be encrypted at rest",
    resource_types=("AWS::Kinesis::Stream",),
    fsbp=True,
    nist_800_53=_AT_REST,
    source=_USER_GUIDE + "kinesis-controls.html#kinesis-1",
)
KINESIS_3 = SecurityHubControl(
    id="Kinesis.3",
    title="Kinesis streams should have an adequate data retention period",
    resource_types=("AWS::Kinesis::Stream",),
    fsbp=True,
    source=_USER_GUIDE + "kinesis-controls.html#kinesis-3",
)
KMS_2 = SecurityHubControl(
    id="KMS.2",
    title=(
        "IAM principals should not have IAM inline policies that allow decryption actions"
        " on all KMS keys"
    ),
    resource_types=("AWS::IAM::Group", "AWS::IAM::Role", "AWS::IAM::User"),
    fsbp=True,
    nist_800_53=_LEAST_PRIVILEGE,
    source=_USER_GUIDE + "kms-controls.html#kms-2",
)
KMS_4 = SecurityHubControl(
    id="KMS.4",
    title="AWS KMS key rotation should be enabled",
    resource_types=("AWS::KMS::Key",),
    fsbp=False,
    nist_800_53=("SC-12", "SC-12(2)", "SC-28(3)"),
    cis=("3.6",),
    source=_USER_GUIDE + "kms-controls.html#kms-4",
)
RDS_2 = SecurityHubControl(
    id="RDS.2",
    title=(
        "RDS DB Instances should prohibit public access, as determined by the"
        " PubliclyAccessible configuration"
    ),
    resource_types=("AWS::RDS::DBInstance",),
    fsbp=True,
    nist_800_53=(
        "AC-4",
        "AC-4(21)",
        "SC-7",
        "SC-7(11)",
        "SC-7(16)",
        "SC-7(21)",
        "SC-7(4)",
        "SC-7(5)",
    ),
    cis=("2.2.3",),
    source=_USER_GUIDE + "rds-controls.html#rds-2",
)
RDS_3 = SecurityHubControl(
    id="RDS.3",
    title="RDS DB instances should have encryption at-rest enabled",
    resource_types=("AWS::RDS::DBInstance",),
    fsbp=True,
    nist_800_53=_AT_REST,
    cis=("2.2.1",),
    source=_USER_GUIDE + "rds-controls.html#rds-3",
)
RDS_7 = SecurityHubControl(
    id="RDS.7",
    title="RDS clusters should have deletion protection enabled",
    resource_types=("AWS::RDS::DBCluster",),
    fsbp=True,
    nist_800_53=("CM-3", "SC-5(2)"),
    source=_USER_GUIDE + "rds-controls.html#rds-7",
)
RDS_8 = SecurityHubControl(
    id="RDS.8",
    title="RDS DB instances should have deletion protection enabled",
    resource_types=("AWS::RDS::DBInstance",),
    fsbp=True,
    nist_800_53=("CM-3", "SC-5(2)", "SI-13(5)"),
    source=_USER_GUIDE + "rds-controls.html#rds-8",
)
RDS_11 = SecurityHubControl(
    id="RDS.11",
    title="RDS instances should have automatic backups enabled",
    resource_types=("AWS::RDS::DBInstance",),
    fsbp=True,
    nist_800_53=_BACKUP,
    source=_USER_GUIDE + "rds-controls.html#rds-11",
)
RDS_15 = SecurityHubControl(
    id="RDS.15",
    title="RDS DB clusters should be configured for multiple Availability Zones",
    resource_types=("AWS::RDS::DBCluster",),
    fsbp=True,
    nist_800_53=("CP-10", "CP-6(2)", "SC-36", "SC-5(2)", "SI-13(5)"),
    cis=("2.2.4",),
    source=_USER_GUIDE + "rds-controls.html#rds-15",
)
RDS_27 = SecurityHubControl(
    id="RDS.27",
    title="RDS DB clusters should be encrypted at rest",
    resource_types=("AWS::RDS::DBCluster",),
    fsbp=True,
    nist_800_53=_AT_REST,
    source=_USER_GUIDE + "rds-controls.html#rds-27",
)
SECRETSMANAGER_1 = SecurityHubControl(
    id="SecretsManager.1",
    title="Secrets Manager secrets should have automatic rotation enabled",
    resource_types=("AWS::SecretsManager::Secret",),
    fsbp=True,
    nist_800_53=("AC-2(1)", "AC-3(15)"),
    source=_USER_GUIDE + "secretsmanager-controls.html#secretsmanager-1",
)
