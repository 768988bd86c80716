"""What a batch call of the challenge API reads and how it says no (views.py's ``push_batch`` and ``delete_batch``).

A batch is all or nothing: each item is checked as a single push or delete is, every refused item is collected
(:class:`Refusals`), and if there is any, the call answers the first one's status and code with one line naming them
all, and stores nothing. The bounds are :data:`~.conf.MAX_BATCH_ITEMS` items (Let's Encrypt's names per certificate)
and :data:`~.conf.MAX_BATCH_BYTES` of body.
"""

from __future__ import annotations

from django.http import HttpRequest

from .api import json_object
from .audit import Item
from .conf import MAX_BATCH_ITEMS
from .refusal import Code, Refused


def read_list(request: HttpRequest, body: bytes, field: str, shape: str) -> list[object]:
    """The list under ``field`` in the JSON object ``body``: 1 to :data:`~.conf.MAX_BATCH_ITEMS` entries, not yet
    checked one by one; or :class:`Refused` (400). ``shape`` shows the client the body expected."""
    if request.content_type != "application/json":
        raise Refused(400, f"body: send JSON (Content-Type: application/json), {shape}", code=Code.BODY_MALFORMED)
    entries = json_object(body, shape).get(field)
    if not isinstance(entries, list):
        raise Refused(400, f"body: must be a JSON object; send {shape}", code=Code.BODY_MALFORMED)
    if not entries:
        raise Refused(400, f"{field}: is empty; a batch holds 1 to {MAX_BATCH_ITEMS} items", code=Code.BODY_MALFORMED)
    if len(entries) > MAX_BATCH_ITEMS:
        raise Refused(
            400,
            f"{field}: {len(entries)} items, more than the {MAX_BATCH_ITEMS} a batch holds (a certificate's names); "
            f"send them in batches of at most {MAX_BATCH_ITEMS}",
            code=Code.BATCH_TOO_LARGE,
        )
    return entries


def label(field: str, index: int, item: Item) -> str:
    """How the refusal line names an item: its name and token as far as they are valid, else its place."""
    if item.domain and item.token:
        return f"{item.domain} ({item.token})"
    return item.token or item.domain or f"{field}[{index}]"


class Refusals:
    """The refused items of one batch call, each recorded on its audit :class:`~.audit.Item`."""

    def __init__(self, noun: str, done: str) -> None:
        #: "challenges" or "tokens"; and what nothing was: "stored" or "deleted".
        self.noun, self.done = noun, done
        self.found: list[tuple[str, Refused]] = []

    def add(self, item: Item, name: str, refusal: Refused) -> None:
        item.reason, item.refused = refusal.reason, True
        self.found.append((name, refusal))

    def check(self, total: int) -> None:
        """Raise the batch's refusal if an item was refused: the first one's status, code and headers, and one line
        that names every refused item with what to fix."""
        if not self.found:
            return
        named = "; ".join(f"{name}: {refusal.message}" for name, refusal in self.found)
        raise self.found[0][1].restated(
            f"nothing {self.done}: {len(self.found)} of {total} {self.noun} refused: {named}"
        )
