from django.core.management.base import BaseCommand, CommandError

from environments import audit, audit_verify, selectors


class Command(BaseCommand):
    help = (
        "Check the audit log's hash chains (SPEC §12) link by link: one line per chain, OK or "
        "the first broken event (chain, seq, id, what is wrong), then a total. Exits 1 when a "
        "chain is broken. Streams the events, so a log of millions needs little memory."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--deployment",
            metavar="NAME",
            help="check only this deployment's chain (also one deleted since)",
        )
        parser.add_argument(
            "--global",
            dest="global_chain",
            action="store_true",
            help="check only the global chain (events without a deployment: logins, tokens)",
        )

    def handle(self, *args, deployment=None, global_chain=False, **options):
        chain = None
        if global_chain:
            chain = audit.GLOBAL_CHAIN
        elif deployment:
            chain = selectors.audit_chain_named(deployment)
            if chain is None:
                raise CommandError(f"No audit events for a deployment named {deployment!r}.")
        reports = audit_verify.verify(chain=chain)
        broken = [r for r in reports if r.broken]
        for report in reports:
            self.stdout.write(_line(report))
        events = sum(r.events for r in reports)
        pruned = sum(r.pruned for r in reports)
        if broken:
            raise CommandError(
                f"audit log BROKEN in {len(broken)} of {len(reports)} chains", returncode=1
            )
        self.stdout.write(f"OK {len(reports)} chains, {events} events, {pruned} pruned")


def _line(report: audit_verify.ChainReport) -> str:
    name = "global" if report.chain == audit.GLOBAL_CHAIN else report.name or "?"
    where = f"chain {report.chain} ({name})"
    if report.broken:
        b = report.broken
        event = f" (event id {b.event_id})" if b.event_id else ""
        return f"BROKEN {where} at seq {b.seq}{event}: {b.what}"
    pruned = ""
    if report.pruned:
        ranges = ", ".join(f"{a}–{b}" if a != b else f"{a}" for a, b in report.pruned_ranges)
        hidden = report.pruned_range_count - len(report.pruned_ranges)
        more = f" and {hidden} more ranges" if hidden else ""
        pruned = f", {report.pruned} pruned (seq {ranges}{more})"
    return f"OK {where}: {report.events} events{pruned}, head {report.head_seq} {report.head_hash}"
