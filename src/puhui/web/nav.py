"""The navigation of each area, as a registry that page modules add themselves to.

A page module registers its entries when it is imported (``register("admin", NavItem(...))``)
and mounts its router in ``puhui.web.install``; the layout then shows every entry the visitor
may use (an admin entry names the permission it needs). So a new domain's pages — lending's
apply, offer, schedule and repay for customers, the review queue, collections and end-of-day
for staff — plug in by adding one module, without editing the layout or the other pages.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal

Area = Literal["customer", "admin"]


@dataclass(frozen=True)
class NavItem:
    key: str  # unique within the area; marks the current page
    label: str  # an English message id, translated when shown
    path: str
    order: int = 100  # lower first
    permission: str | None = None  # admin: the permission the page needs


_REGISTRY: dict[Area, dict[str, NavItem]] = {"customer": {}, "admin": {}}


def register(area: Area, item: NavItem) -> NavItem:
    """Add (or replace, by key) an entry of ``area``'s navigation."""
    _REGISTRY[area][item.key] = item
    return item


def items(area: Area, permissions: Collection[str] | None = None) -> list[NavItem]:
    """The entries of ``area`` the visitor may use, in order; ``permissions`` is None for a
    customer (every customer entry is theirs)."""
    found = sorted(_REGISTRY[area].values(), key=lambda i: (i.order, i.key))
    if permissions is None:
        return found
    return [i for i in found if i.permission is None or i.permission in permissions]
