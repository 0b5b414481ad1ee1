"""Which Slack workspace and app the bot serves: requests from any other are refused and audited.

Slack signs every request with the app's signing secret (or delivers it over the app's own Socket
Mode connection), so a foreign request means the app was installed somewhere it should not serve
(a distributed app, an Enterprise Grid org-wide install) or a secret leaked. With `SLACK_TEAM_ID`
and `SLACK_APP_ID` unset, every workspace the app is installed in is served.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bot.store import audit
from bot.store.db import Database


@dataclass(frozen=True)
class Tenancy:
    team_id: str | None = None
    app_id: str | None = None

    def refusal(self, team_ids: Iterable[str], app_id: str | None) -> str | None:
        """None when the request is ours; else why not. `team_ids`: every workspace and org id the
        request names (a Grid request may carry the org, the user's team or both)."""
        if self.app_id is not None and app_id != self.app_id:
            return f"request for app {app_id or 'unknown'}, not {self.app_id}"
        teams = set(team_ids)
        if self.team_id is not None and self.team_id not in teams:
            shown = ", ".join(sorted(teams)) or "no workspace"
            return f"request from {shown}, not {self.team_id}"
        return None


def record_foreign_request(db: Database, actor: str, reason: str, kind: str) -> None:
    """Audit a refused foreign request (actor and ids as Slack sent them, capped)."""
    with db.session() as session:
        audit.append(
            session,
            "foreign_request_refused",
            actor[:64] or "unknown",
            details={"reason": reason[:300], "kind": kind[:40]},
        )
