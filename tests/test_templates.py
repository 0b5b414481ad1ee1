"""Message templates: added, listed, removed (audited); sent with `${name}` values that then pass
the same rules as typed text; limited to a SIM type or group; the request records the template."""

from __future__ import annotations

import io
from typing import Any

from bot import templates
from bot.store import audit
from bot.store.db import Database
from bot.store.inventory import import_csv
from bot.store.models import SmsRequest
from tests.support.bot import Bot, form_action, values

MANX = "89440000000000000010"
KPN_C = "89310000000000000023"


def _inventory(database: Database) -> None:
    with database.session() as session:
        import_csv(
            session,
            io.StringIO(
                f"iccid,label,sim_type\n{MANX},pump 7,Manx Telecom\n{KPN_C},meter,Multinet KPN C\n"
            ),
            "cli:test",
        )


def test_templates_add_list_remove_and_send_with_values(smsbot, database: Database) -> None:  # type: ignore[no-untyped-def]
    _inventory(database)
    added = smsbot("templates", "add", "apn", "--text", "APN=${apn};PIN=${pin}")
    assert added.code == 0 and added.out.strip() == "template apn added (values: apn, pin)"
    assert smsbot("templates", "add", "reset", "--text", "reset modem").code == 0
    listed = smsbot("templates", "list")
    assert "apn  [default] 'APN=${apn};PIN=${pin}'  needs apn, pin" in listed.out
    sent = smsbot(
        "send", "--as", "UADMIN", "--sim", "pump 7", "--template", "apn",
        "--var", "apn=iot.example", "--var", "pin=1234",
    )  # fmt: skip
    assert sent.code == 0, sent.err
    assert "text='APN=iot.example;PIN=1234'" in sent.out
    with database.read() as session:
        req = session.query(SmsRequest).one()
        assert req.template_name == "apn"
        requested = next(r for r in audit.query(session) if r.event == "requested")
    assert '"template":"apn"' in requested.details and '"apn":"iot.example"' in requested.details
    missing = smsbot("send", "--as", "UADMIN", "--sim", "pump 7", "--template", "apn")
    assert missing.code == 1 and "Template `apn` needs apn=…, pin=…" in missing.err
    extra = smsbot(
        "send", "--as", "UADMIN", "--sim", "pump 7", "--template", "reset", "--var", "x=1"
    )
    assert extra.code == 1 and "Template `reset` has no x" in extra.err
    # The filled text passes the same rules as typed text: 161 characters are refused.
    long_value = smsbot(
        "send", "--as", "UADMIN", "--sim", "pump 7", "--template", "apn",
        "--var", "apn=" + "a" * 160, "--var", "pin=1",
    )  # fmt: skip
    assert long_value.code == 1 and "/160" in long_value.err
    assert smsbot("templates", "remove", "apn").code == 0
    gone = smsbot("send", "--as", "UADMIN", "--sim", "pump 7", "--template", "apn")
    assert gone.code == 1 and "There is no template `apn`" in gone.err
    with database.read() as session:
        events = [r.event for r in audit.query(session)]
    assert events.count("template_added") == 2 and events.count("template_removed") == 1


def test_a_template_for_one_sim_type_and_a_binary_one(smsbot, database: Database) -> None:  # type: ignore[no-untyped-def]
    _inventory(database)
    assert smsbot(
        "templates", "add", "frame", "--text", "AAH//oB/", "--binary",
        "--sim-type", "Multinet KPN C",
    ).code == 0  # fmt: skip
    bad = smsbot("templates", "add", "broken", "--text", "AAH${x}", "--binary")
    assert bad.code == 2 and "a binary template takes no placeholders" in bad.err
    dollar = smsbot("templates", "add", "cost", "--text", "price $5")
    assert dollar.code == 2 and "write `${name}` for one, `$$` for $" in dollar.err
    wrong = smsbot("send", "--as", "UADMIN", "--sim", "pump 7", "--template", "frame")
    assert wrong.code == 1 and "Template `frame` is for Multinet KPN C SIMs only." in wrong.err
    right = smsbot("send", "--as", "UADMIN", "--sim", "meter", "--template", "frame")
    assert right.code == 0, right.err
    assert "coding=binary" in right.out
    both = smsbot("send", "--as", "UADMIN", "--sim", "meter", "--template", "frame", "--text", "x")
    assert both.code == 2 and "--text or --template, one of them" in both.err


# ---- the Slack form --------------------------------------------------------------------------
def _pick(name: str, values_text: str | None = None) -> dict[str, Any]:
    state: dict[str, Any] = {
        "template": {"template": {"type": "static_select", "selected_option": {"value": name}}}
    }
    if values_text is not None:
        state["template_vars"] = {
            "template_vars": {"type": "plain_text_input", "value": values_text}
        }
    return state


def _add(database: Database, name: str, text: str, **kw: Any) -> None:
    with database.session() as session:
        templates.add(session, name, text, actor="UADMIN", **kw)


def test_the_form_offers_templates_and_sends_the_filled_text(bot: Bot) -> None:
    _inventory(bot.runtime.db)
    _add(bot.runtime.db, "apn", "APN=${apn};PIN=${pin}")
    _add(bot.runtime.db, "frame", "AAH//oB/", binary=True, sim_type="Multinet KPN C")
    bot.grant("U0SENDER")
    modal = bot.open_modal()
    blocks = {b["block_id"]: b for b in modal.args["view"]["blocks"]}
    offered = [o["value"] for o in blocks["template"]["element"]["options"]]
    assert offered == ["-", "apn", "frame"]
    assert "template_vars" not in blocks and blocks["message_text"]["optional"] is False
    # Choosing a template shows what it sends and asks for its values (the stand-in checks the
    # updated view against Slack's rules).
    opened = modal.answer["view"]
    state = {**values(text=""), **_pick("apn")}
    view = {**modal.args["view"], "id": opened["id"], "hash": opened["hash"]}
    chosen = form_action(view, state, "template")
    assert bot.client.interaction(chosen).status_code == 200
    update = bot.slack.wait_for("views.update")[0].args["view"]
    shown = {b["block_id"]: b for b in update["blocks"]}
    assert "APN=${apn};PIN=${pin}" in shown["template_info"]["elements"][0]["text"]
    assert "apn, pin" in shown["template_vars"]["hint"]["text"]
    assert shown["message_text"]["optional"] is True
    assert shown["template"]["element"]["initial_option"]["value"] == "apn"
    # A line without `=`, a missing value, a template for another SIM type: field errors,
    # each audited, nothing sent.
    bad = bot.submit(modal, {**state, **_pick("apn", "apn iot.example")}, view=update).json()
    assert bad["response_action"] == "errors"
    assert "has no `=`" in bad["errors"]["template_vars"]
    missing = bot.submit(modal, {**state, **_pick("apn", "apn=iot.example")}, view=update).json()
    assert "needs pin=…" in missing["errors"]["template_vars"]
    wrong = bot.submit(modal, {**values(text=""), **_pick("frame")}, view=modal.args["view"])
    assert "is for Multinet KPN C SIMs only" in wrong.json()["errors"]["template"]
    assert bot.events().count("invalid") == 3 and bot.portal_sends == []
    # Filled in: the filled text is what the rules check, the approver would see and the portal
    # receives; the request records the template.
    done = bot.submit(
        modal, {**state, **_pick("apn", "apn = iot.example\npin=1234\n")}, view=update
    )
    assert done.text == ""
    bot.slack.wait_for("chat.postMessage", lambda c: "Accepted" in c.args.get("text", ""))
    assert bot.portal_sends[-1].findtext("message_text") == "APN=iot.example;PIN=1234"
    with bot.runtime.db.read() as session:
        req = session.query(SmsRequest).one()
        assert (req.template_name, req.message_text) == ("apn", "APN=iot.example;PIN=1234")
