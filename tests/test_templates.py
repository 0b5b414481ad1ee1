"""Message templates: added, listed, removed (audited); sent with `${name}` values that then pass
the same rules as typed text; limited to a SIM type or group; the request records the template."""

from __future__ import annotations

import io

from bot.store import audit
from bot.store.db import Database
from bot.store.inventory import import_csv
from bot.store.models import SmsRequest

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
