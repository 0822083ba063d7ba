"""AWS Security Hub: ASFF findings through BatchImportFindings, at most 100 a call.

Findings go to the Security Hub of their own region (``securityhub``) or all to one
(``securityhub:REGION``), as the account's custom integration
(``product/ACCOUNT/default``). Throttling and 5xx are retried by botocore (adaptive mode);
a finding the API refuses (``FailedFindings``) is reported with its error and not resent.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from reports.asff import document
from scanner.delivery.interface import DeliveryFailed, Destination, Item, Outgoing, Rejected, Sent
from scanner.engine.inventory import read_error
from scanner.engine.session import AWS_FAILURES, AwsSession

MAX_FINDINGS_PER_CALL = 100


def _region(item: Item) -> str:
    """The Security Hub region an item is imported into: its ProductArn's."""
    return str(item.payload["ProductArn"]).split(":")[3]


class SecurityHub:
    max_items = MAX_FINDINGS_PER_CALL
    max_bytes = 4 * 1024 * 1024

    def __init__(self, destination: Destination, session: AwsSession) -> None:
        self.destination = destination
        self._session = session

    def items(self, outgoing: Outgoing) -> Iterator[Item]:
        """ASFF findings (with who changed it, when the scan knows); a gone finding is
        archived."""
        meta, region = outgoing.result.metadata, self.destination.region
        attributions = outgoing.result.attributions
        return (
            Item(
                scan_id=meta.scan_id,
                finding_id=f.finding_id,
                payload=document(
                    f,
                    meta,
                    region,
                    archived=archived,
                    attribution=None if archived else attributions.get(f.finding_id),
                ),
            )
            for findings, archived in ((outgoing.result.findings, False), (outgoing.gone, True))
            for f in findings
        )

    def send(self, batch: Sequence[Item]) -> Sent:
        """One call, for the leading items that share a region and have distinct Ids (an
        older scan's spooled finding and this scan's go in order, in separate calls); the
        rest of the batch waits its turn."""
        region = _region(batch[0])
        run: list[Item] = []
        ids: set[str] = set()
        for item in batch:
            if _region(item) != region or item.payload["Id"] in ids:
                break
            run.append(item)
            ids.add(item.payload["Id"])
        client = self._session.client("securityhub", region)
        try:
            answer = client.batch_import_findings(Findings=[dict(item.payload) for item in run])
        except AWS_FAILURES as exc:
            error = read_error(exc, "securityhub:BatchImportFindings")
            raise DeliveryFailed(
                f"securityhub:BatchImportFindings in {region}: {error.code}: {error.detail}"
            ) from None
        by_id = {item.payload["Id"]: item for item in run}
        rejected = tuple(
            Rejected(
                item=by_id[failure["Id"]],
                reason=f"{failure.get('ErrorCode', 'error')}: {failure.get('ErrorMessage', '')}",
            )
            for failure in answer.get("FailedFindings", [])
            if failure.get("Id") in by_id
        )
        return Sent(settled=len(run), rejected=rejected)
