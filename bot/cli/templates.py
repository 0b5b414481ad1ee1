"""`smsbot templates add|list|remove`: named messages with `${name}` placeholders."""

from __future__ import annotations

import click

from bot import templates
from bot.cli.common import EXIT_USAGE, Fail, _database, _operator, cli, say


@cli.group("templates")
def templates_group() -> None:
    """Message templates (send them with `smsbot send --template NAME --var KEY=VALUE`)."""


@templates_group.command("add")
@click.argument("name")
@click.option("--text", required=True, help="The message; `${name}` marks a placeholder.")
@click.option("--sim-type", default=None, help="Only for SIMs of this type.")
@click.option("--group", default=None, help="Only for SIMs of this inventory group.")
@click.option("--binary", is_flag=True, help="TEXT is a base64 payload (no placeholders).")
def templates_add(
    name: str, text: str, sim_type: str | None, group: str | None, binary: bool
) -> None:
    """Add a template (audited)."""
    with _database() as database, database.session() as session:
        try:
            added = templates.add(
                session,
                name,
                text,
                actor=_operator(),
                binary=binary,
                sim_type=sim_type,
                group=group,
            )
        except templates.TemplateError as exc:
            raise Fail(f"template {name!r}: {exc}", EXIT_USAGE) from None
        needs = templates.placeholders(added.message_text)
    say(f"template {name} added" + (f" (values: {', '.join(needs)})" if needs else ""))


@templates_group.command("list")
def templates_list() -> None:
    """The templates, with what they need and where they apply."""
    with _database() as database, database.read() as session:
        rows = templates.listed(session)
        if not rows:
            say("no templates yet: `smsbot templates add NAME --text …`")
        for t in rows:
            limits = ", ".join(
                x
                for x in (
                    t.sim_type and f"type {t.sim_type}",
                    t.group_name and f"group {t.group_name}",
                )
                if x
            )
            needs = ", ".join(templates.placeholders(t.message_text))
            say(
                f"{t.name}  [{t.data_coding}] {t.message_text!r}"
                + (f"  needs {needs}" if needs else "")
                + (f"  only {limits}" if limits else "")
            )


@templates_group.command("remove")
@click.argument("name")
def templates_remove(name: str) -> None:
    """Remove a template (requests that used it keep its name; audited)."""
    with _database() as database, database.session() as session:
        try:
            templates.remove(session, name, actor=_operator())
        except templates.TemplateError as exc:
            raise Fail(str(exc), EXIT_USAGE) from None
    say(f"template {name} removed")
