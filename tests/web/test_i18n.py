"""The catalogs: every message the pages use has its Chinese, and the catalogs compile."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from puhui.web import admin_credit, admin_customers, admin_home, customer_pages, i18n, nav

PAGES = (admin_credit, admin_customers, admin_home, customer_pages)  # they register their nav

WEB = Path(i18n.__file__).parent
METHOD_MAP = [("**/templates/**.html", "jinja2"), ("**.py", "python")]
OPTIONS = {"**/templates/**.html": {"extensions": "jinja2.ext.i18n"}}


def used_messages() -> set[str | tuple[str, ...]]:
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
    found = extract_from_dir(
        WEB, METHOD_MAP, options_map=OPTIONS, keywords=keywords, strip_comment_tags=True
    )
    return {msg for _file, _line, msg, _comments, _context in found}


def test_every_message_has_its_chinese():
    with (WEB / "locale/zh_CN/LC_MESSAGES/messages.po").open("rb") as f:
        catalog = read_po(f)
    translated = {m.id for m in catalog if m.id and m.string and all(m.string)}
    missing = sorted(map(str, used_messages() - translated))
    assert missing == []


def test_catalogs_compile_and_translate():
    with i18n.using("zh_CN"):
        assert i18n.gettext("Sign in") == "登录"
        assert i18n.ngettext("%(num)d day old", "%(num)d days old", 3) == "已%(num)d天"
    with i18n.using("en"):
        assert i18n.gettext("Sign in") == "Sign in"
    with i18n.using("xx"):  # an unknown language falls back to the default
        assert i18n.current() == i18n.DEFAULT


def test_navigation_labels_are_translated_and_filtered_by_permission():
    customer = nav.items("customer")
    assert [i.key for i in customer][:2] == ["home", "verify"]
    admin = {i.key for i in nav.items("admin", {"customers.read"})}
    assert {"dashboard", "customers", "decisions"} <= admin and "audit" not in admin
    with i18n.using("zh_CN"):
        assert i18n.gettext(customer[0].label) == "我的账户"
