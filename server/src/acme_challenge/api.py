"""The frame every API view runs in, and the reading of a request body: kept apart from the views so that each API
module (views.py's challenge push and delete and their batches, reports.py's certificate report) imports the frame,
not another view module.

:func:`api_call` checks the method, runs the view in one transaction, turns a :class:`~.refusal.Refused` into its
answer and writes the call's audit record (one per item of a batch: audit.Call.add_item) whatever happens;
:func:`read_body` and :func:`json_depth` bound what a client can make the site read or parse.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from functools import wraps

from django.core.exceptions import RequestDataTooBig
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from . import audit
from .conf import MAX_BODY_BYTES, MAX_JSON_DEPTH
from .models import AuditRecord
from .refusal import TEXT, Code, Refused
from .validation import is_token

logger = logging.getLogger(__name__)

#: An API view: the response and the one-line reason for the audit record.
_ApiView = Callable[..., tuple[HttpResponse, str]]
_View = Callable[..., HttpResponse]


#: What a client is told when something unexpected failed: nothing about why (the site's log says).
INTERNAL_ERROR = "internal error: the site could not handle this call; its operator finds why in the site's log"


def api_call(method: str, action: str) -> Callable[[_ApiView], _View]:
    """One API call: the method check, the transaction, the refusal answers and the audit record around a view.

    Every call is audited. Should the view fail unexpectedly, its transaction is rolled back (nothing it wrote
    stays) and the audit record is written in a transaction of its own, with the exception's type; the client gets
    a neutral 500."""

    def decorate(view: _ApiView) -> _View:
        @csrf_exempt
        @wraps(view)
        def wrapper(request: HttpRequest, **kwargs: str) -> HttpResponse:
            call = audit.Call(request, action if request.method == method else AuditRecord.Action.OTHER)
            if is_token(kwargs.get("token")):
                call.token = kwargs["token"]
            try:
                with transaction.atomic():
                    try:
                        if request.method != method:
                            raise Refused(
                                405,
                                f"method not allowed: this URL takes {method} only",
                                code=Code.METHOD_NOT_ALLOWED,
                                headers={"Allow": method},
                                kind="method",
                            )
                        response, reason = view(request, call, **kwargs)
                        kind = "ok"
                    except Refused as refusal:
                        response, reason, kind = refusal.response(), refusal.reason, refusal.kind
                        # The same line as the audit record: never the Authorization header or anything from it.
                        logger.info(
                            "%s refused with %s: %s", request.method, response.status_code, audit.one_line(reason, 500)
                        )
                    call.finish(response.status_code, reason, kind)
            except Exception as error:
                # The traceback for the operator; the audit record and the client get the type only (an exception's
                # text may quote what the client sent).
                logger.exception("%s %s failed unexpectedly", request.method, request.path)
                with transaction.atomic():
                    call.finish(500, f"unexpected error: {type(error).__name__}", "error")
                response = HttpResponse(f"{INTERNAL_ERROR}\n", status=500, content_type=TEXT)
            audit.maybe_purge()
            return response

        return wrapper

    return decorate


def read_body(
    request: HttpRequest,
    limit: int = MAX_BODY_BYTES,
    what: str = "a push is one form or JSON object of three short fields",
) -> bytes:
    """The request body, refused (400) beyond ``limit`` bytes, before it is read whole when the client says its
    length. ``what`` tells the client what fits."""
    too_large = Refused(400, f"body: larger than {limit} bytes; {what}", code=Code.BODY_TOO_LARGE, kind="body")
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        raise too_large
    try:
        body = request.body
    except RequestDataTooBig:
        raise too_large from None
    if len(body) > limit:
        raise too_large
    return body


def json_object(body: bytes, shape: str) -> dict[str, object]:
    """The JSON object ``body``, parsed only when it nests at most :data:`~.conf.MAX_JSON_DEPTH` deep; or
    :class:`Refused` (400, ``body-malformed``) with ``shape``, the body the client should have sent."""
    if json_depth(body) > MAX_JSON_DEPTH:
        raise Refused(
            400, f"body: JSON nested deeper than {MAX_JSON_DEPTH} levels; send {shape}", code=Code.BODY_MALFORMED
        )
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise Refused(400, f"body: is not valid JSON; send {shape}", code=Code.BODY_MALFORMED) from None
    if not isinstance(data, dict):
        raise Refused(400, f"body: must be a JSON object; send {shape}", code=Code.BODY_MALFORMED)
    return data


def json_depth(body: bytes) -> int:
    """How deeply arrays and objects nest in a JSON text, counted without parsing it (Python's parser recurses, and
    100,000 ``[`` made it raise RecursionError: a 500). Brackets inside strings do not count."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return deepest
