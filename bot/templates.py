"""Message templates: the same few device commands without typing them at 3 a.m.

A template's text has `${name}` placeholders (Python's `string.Template`; `$$` is a literal `$`),
filled from `--var name=value` at send time. The filled text then passes exactly the rules typed
text does. A template may be limited to one SIM type or one SIM group. Binary templates take no
placeholders (a base64 payload is checked whole when the template is added).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from string import Template

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.sms.binary import check_binary
from bot.sms.message import SimInfo
from bot.sms.problems import Problem
from bot.sms.simtypes import canonical_type
from bot.store import audit
from bot.store.models import MessageTemplate

_NAME = re.compile(r"\A[a-z0-9][a-z0-9_-]{0,39}\Z")


class TemplateError(ValueError):
    """A template that cannot be added or removed: the message says what to fix."""


def placeholders(text: str) -> list[str]:
    template = Template(text)
    if not template.is_valid():
        raise TemplateError(
            "the text has a `$` that is not a placeholder: write `${name}` for one, `$$` for $"
        )
    return template.get_identifiers()


def active(session: Session, name: str) -> MessageTemplate | None:
    return session.execute(
        select(MessageTemplate).where(
            MessageTemplate.name == name, MessageTemplate.removed_at.is_(None)
        )
    ).scalar_one_or_none()


def listed(session: Session) -> list[MessageTemplate]:
    return list(
        session.execute(
            select(MessageTemplate)
            .where(MessageTemplate.removed_at.is_(None))
            .order_by(MessageTemplate.name)
        ).scalars()
    )


def add(
    session: Session,
    name: str,
    text: str,
    *,
    actor: str,
    binary: bool = False,
    sim_type: str | None = None,
    group: str | None = None,
) -> MessageTemplate:
    if not _NAME.match(name):
        raise TemplateError("the name must be 1–40 lower-case letters, digits, _ or -")
    if not text or len(text) > 1000:
        raise TemplateError("the text must be 1–1000 characters")
    names = placeholders(text)
    if binary:
        if names:
            raise TemplateError("a binary template takes no placeholders")
        problems = check_binary(text)
        if problems:
            raise TemplateError(problems[0].message)
    if active(session, name) is not None:
        raise TemplateError(f"a template `{name}` exists: remove it first")
    template = MessageTemplate(
        name=name,
        message_text=text,
        data_coding="binary" if binary else "default",
        sim_type=sim_type,
        group_name=group,
        created_by=actor,
        created_at=audit.utc_now(),
    )
    session.add(template)
    session.flush()
    audit.append(
        session,
        "template_added",
        actor,
        details={
            "name": name,
            "message_text": text,
            "data_coding": template.data_coding,
            "sim_type": sim_type,
            "group": group,
            "placeholders": names,
        },
    )
    return template


def remove(session: Session, name: str, *, actor: str) -> None:
    template = active(session, name)
    if template is None:
        raise TemplateError(f"there is no template `{name}`")
    template.removed_at = audit.utc_now()
    template.removed_by = actor
    audit.append(session, "template_removed", actor, details={"name": name})


@dataclass(frozen=True)
class Filled:
    text: str
    data_coding: str
    problems: list[Problem]


def fill(
    template: MessageTemplate | None,
    name: str,
    variables: dict[str, str],
    sim: SimInfo | None,
) -> Filled:
    """The template's text with the variables in, or what is wrong (field `template`)."""
    if template is None:
        return Filled("", "default", [_problem("unknown", f"There is no template `{name}`.")])
    wanted = template.sim_type
    if wanted and (sim is None or canonical_type(sim.sim_type) != canonical_type(wanted)):
        return Filled(
            "",
            template.data_coding,
            [_problem("wrong_sim", f"Template `{name}` is for {wanted} SIMs only.")],
        )
    if template.group_name and (sim is None or sim.group_name != template.group_name):
        return Filled(
            "",
            template.data_coding,
            [
                _problem(
                    "wrong_sim", f"Template `{name}` is for SIMs of group {template.group_name}."
                )
            ],
        )
    needed = placeholders(template.message_text)
    missing = [n for n in needed if n not in variables]
    extra = sorted(set(variables) - set(needed))
    problems = []
    if missing:
        problems.append(
            _problem(
                "missing_value",
                f"Template `{name}` needs " + ", ".join(f"{n}=…" for n in missing) + ".",
            )
        )
    if extra:
        problems.append(_problem("unknown_value", f"Template `{name}` has no {', '.join(extra)}."))
    if problems:
        return Filled("", template.data_coding, problems)
    text = Template(template.message_text).substitute(variables)
    return Filled(text, template.data_coding, [])


def parse_values(text: str) -> tuple[tuple[tuple[str, str], ...], list[Problem]]:
    """`name=value` lines → the command's variables, or what to fix (field `template_vars`).
    Values keep inner spaces; blank lines are skipped."""
    pairs: list[tuple[str, str]] = []
    problems: list[Problem] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        name, sep, value = line.partition("=")
        if not sep or not name.strip():
            problems.append(
                Problem(
                    "template_vars",
                    "bad_value",
                    f"Write one name=value per line; `{line.strip()[:40]}` has no `=`.",
                )
            )
            continue
        pairs.append((name.strip(), value.strip()))
    return tuple(pairs), problems


def _problem(code: str, message: str) -> Problem:
    return Problem("template", code, message)
