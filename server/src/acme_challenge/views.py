"""The public challenge URL and the API the hooks call: the certbot-django protocol's push and delete, and their
batches (many challenges in one call, all or nothing; what a batch reads and how it says no is batch.py). The frame
the API views run in (method, transaction, refusal answer, audit record) is api.py.

The API authenticates only by a JWT bound to the request (authentication.py), so it is CSRF-exempt: CSRF protects
cookie-authenticated requests, and these views ignore cookies and sessions. Each API call runs in one transaction
that holds the nonce, the key's last use, the challenges and the call's audit records, and commits whether the call
is accepted or refused (a refused token's nonce stays spent). Responses are text/plain, one line, and name what to
fix (a batch's success is JSON); none echoes a credential.
"""

from __future__ import annotations

import contextlib

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from . import audit, batch, monitoring
from .api import api_call, json_object, read_body
from .authentication import Caller, authenticate
from .conf import ALLOWED_DOMAINS_SETTING, MAX_BATCH_BYTES, MAX_BATCH_ITEMS, conf
from .models import (
    MAX_VALUE_LENGTH,
    AuditRecord,
    Challenge,
    delete_challenges,
    delete_owned_challenge,
    maybe_purge_expired,
    servable_challenge,
    write_challenge,
    write_challenges,
)
from .names import matches, request_host_name
from .refusal import TEXT, Code, Refused
from .validation import ChallengeInput, InvalidChallenge, is_token, parse_challenge, parse_domain

ADD_PERMISSION = "acme_challenge.add_challenge"
DELETE_PERMISSION = "acme_challenge.delete_challenge"


# CSRF-exempt so that a POST gets this view's 405, not the CSRF middleware's HTML 403 page: nothing here is a form.
@csrf_exempt
def serve_challenge(request: HttpRequest, token: str) -> HttpResponse:
    """The URL the CA fetches: the key authorization, byte for byte, or 404. A challenge pushed for a name is served
    only to requests whose Host names it, so a key allowed to push for one name cannot validate another that this
    site also answers for. Also called by ServeChallengesFirstMiddleware, before the rest of the stack."""
    if request.method not in ("GET", "HEAD"):
        response = HttpResponse(
            "method not allowed: the CA fetches challenges with GET\n", status=405, content_type=TEXT
        )
        response["Allow"] = "GET, HEAD"
        return response
    found = servable_challenge(token) if len(token) <= MAX_VALUE_LENGTH else None
    if found is not None and found[1] and found[1] != request_host_name(request.META):
        # Recorded (once per address), because a CA fetching with another Host is a misconfiguration worth seeing.
        monitoring.record_fetch(request, found[2], found[3], token, found[1], 404)
        found = None
    if found is None:
        # The same answer as for an unknown token: another name's challenge must not be told apart.
        response = HttpResponse("no such challenge\n", status=404, content_type=TEXT)
    else:
        # The first fetch from each address, for the first few addresses: after that, nothing but the lookup above.
        monitoring.record_fetch(request, found[2], found[3], token, found[1], 200)
        # Exactly "text/plain" as the issue states; the body is base64url and '.', so ASCII.
        response = HttpResponse(found[0], content_type="text/plain")
    response["X-Content-Type-Options"] = "nosniff"
    # no-store on the 404 too: a cache or CDN that kept the 404 fetched before the push would fail the validation.
    response["Cache-Control"] = "no-store"
    return response


@api_call("POST", AuditRecord.Action.PUSH)
def create_challenge(request: HttpRequest, call: audit.Call) -> tuple[HttpResponse, str]:
    body = read_body(request)
    caller = authenticate(request, body, call, ADD_PERMISSION, legacy=True)
    _require_permission(caller, ADD_PERMISSION)
    data = _request_data(request, body)
    challenge = _checked_push(data, caller, call)
    # Posting a token again replaces it and restarts its TTL (the certbot-django protocol had no update call).
    if not write_challenge(challenge.token, challenge.validation, challenge.domain, caller.user.pk):
        # Only on a refusal: the owner, for the audit record (the upsert left the row locked, as it is).
        owner = Challenge.objects.select_related("owner").get(token=challenge.token).owner
        raise _held_by_another(challenge.token, owner, caller)
    maybe_purge_expired()
    message = f"created {challenge.token}"
    return HttpResponse(f"{message}\n", status=201, content_type=TEXT), message


def _checked_push(data: dict[str, object], caller: Caller, record: audit.Call | audit.Item) -> ChallengeInput:
    """The pushed challenge, checked as every push is, alone or in a batch: the fields, the site's allow-list and the
    key's scope; or :class:`Refused`. Ownership is checked by the write (:func:`_held_by_another`). ``record`` (the
    call's audit record, or the batch item's) learns the token and domain, those of them that are valid."""
    try:
        # A push without domain is the original plugin's: allowed to the users legacy mode names, as its tokens are.
        challenge = parse_challenge(data, domain_required=not conf.is_legacy_client(caller.user.get_username()))
    except InvalidChallenge as error:
        record.token = str(data["challenge"]) if is_token(data.get("challenge")) else ""
        with contextlib.suppress(InvalidChallenge):  # the error above may be another field's
            record.domain = parse_domain(data.get("domain"))
        raise Refused(400, str(error), code=Code.FIELD_INVALID) from None
    record.token, record.domain = challenge.token, challenge.domain

    allowed = conf.allowed_domains
    if allowed is not None and not (challenge.domain and matches(challenge.domain, allowed)):
        if not challenge.domain:
            raise Refused(
                403,
                f"domain: required here, because {ALLOWED_DOMAINS_SETTING} limits the domains",
                code=Code.DOMAIN_REQUIRED,
            )
        raise Refused(
            403,
            f"domain: '{challenge.domain}' is not in {ALLOWED_DOMAINS_SETTING}; "
            "add it (or a '*.' pattern covering it) to that setting on the site",
            code=Code.NAME_NOT_ALLOWED,
        )
    scope = list(caller.scope)
    if scope and not (challenge.domain and matches(challenge.domain, scope)):
        shown = challenge.domain or "(none given)"
        raise Refused(
            403,
            f"domain: '{shown}' is outside the scope of key {caller.fingerprint} ({', '.join(scope)}); "
            f"widen the scope on the site: manage.py certbot_client {caller.user.get_username()} "
            "--public-key-file KEY --domain PATTERN ...",
            code=Code.SCOPE_OUTSIDE_KEY,
        )
    return challenge


def _held_by_another(token: str, owner: AbstractBaseUser | None, caller: Caller) -> Refused:
    """The 409 for a push of a token another user holds. The client is not told whose it is: that would tell any key
    which users push which names; the audit record says."""
    return Refused(
        409,
        f"challenge {token} is held by another user; certbot makes a new token for each attempt, so "
        "retry the validation",
        code=Code.NOT_OWNER,
        reason=(
            f"challenge {token} belongs to user '{owner.get_username() if owner else ''}', "
            f"not to '{caller.user.get_username()}'"
        ),
    )


@api_call("DELETE", AuditRecord.Action.DELETE)
def delete_challenge(request: HttpRequest, call: audit.Call, token: str) -> tuple[HttpResponse, str]:
    body = read_body(request)
    caller = authenticate(request, body, call, DELETE_PERMISSION, legacy=True)
    _require_permission(caller, DELETE_PERMISSION)
    # Another user's challenge is not there for this caller: the same 404 as an unknown token, and nothing changes.
    # Rows from before owners existed may be deleted by any permitted caller whose key's scope covers their name: in
    # the one DELETE when the key has no scope, else after reading the row's name.
    domain = delete_owned_challenge(token, caller.user.pk, or_ownerless=not caller.scope)
    if domain is None and caller.scope:
        ownerless = Challenge.objects.filter(token=token, owner__isnull=True).values_list("pk", "domain").first()
        if ownerless is not None and ownerless[1] and matches(ownerless[1], list(caller.scope)):
            Challenge.objects.filter(pk=ownerless[0], owner__isnull=True).delete()
            domain = ownerless[1]
    if domain is None:
        raise Refused(404, f"no such challenge: {token}", code=Code.NO_SUCH_CHALLENGE)
    call.domain = domain
    return HttpResponse(status=204), f"deleted {token}"


#: The bodies of the batch calls, as their refusals show them.
BATCH_PUSH_SHAPE = (
    '{"challenges": [{"challenge": TOKEN, "response": VALIDATION, "domain": NAME}, ...]}, '
    f"1 to {MAX_BATCH_ITEMS} challenges"
)
BATCH_DELETE_SHAPE = f'{{"tokens": [TOKEN, ...]}}, 1 to {MAX_BATCH_ITEMS} tokens'
_BATCH_BODY = f"a batch is JSON of at most {MAX_BATCH_ITEMS} challenges"


@api_call("POST", AuditRecord.Action.PUSH)
def push_batch(request: HttpRequest, call: audit.Call) -> tuple[HttpResponse, str]:
    """Many pushes in one call, all or nothing: each item is checked as :func:`create_challenge` checks one, and one
    refused item stores none. Only request-bound tokens: the original plugin never calls this URL."""
    body = read_body(request, MAX_BATCH_BYTES, _BATCH_BODY)
    caller = authenticate(request, body, call, ADD_PERMISSION)
    _require_permission(caller, ADD_PERMISSION)
    entries = batch.read_list(request, body, "challenges", BATCH_PUSH_SHAPE)
    refusals = batch.Refusals("challenges", "stored")
    accepted: list[tuple[int, audit.Item, ChallengeInput]] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(entries):
        item = call.add_item()
        try:
            if not isinstance(entry, dict):
                raise Refused(
                    400, "must be an object with 'challenge', 'response' and 'domain'", code=Code.FIELD_INVALID
                )
            challenge = _checked_push(entry, caller, item)
            if challenge.token in seen:
                raise Refused(
                    400,
                    f"challenge: {challenge.token} is also challenges[{seen[challenge.token]}]; "
                    "a batch names each token once",
                    code=Code.FIELD_INVALID,
                )
        except Refused as refusal:
            refusals.add(item, batch.label("challenges", index, item), refusal)
            continue
        seen[challenge.token] = index
        accepted.append((index, item, challenge))
    refusals.check(len(entries))

    # A savepoint: a refusal below undoes these writes, while the call's transaction still keeps the spent nonce and
    # the audit records.
    with transaction.atomic():
        rows = [(challenge.token, challenge.validation, challenge.domain) for _, _, challenge in accepted]
        if not write_challenges(rows, caller.user.pk):
            # Only on a refusal: which tokens other users hold, and whose they are for the audit records.
            held = (
                Challenge.objects.select_related("owner")
                .filter(token__in=[row[0] for row in rows])
                .exclude(owner=None)
                .exclude(owner=caller.user.pk)
            )
            owners = {row.token: row.owner for row in held}
            for index, item, challenge in accepted:
                if challenge.token in owners:
                    held_by = _held_by_another(challenge.token, owners[challenge.token], caller)
                    refusals.add(item, batch.label("challenges", index, item), held_by)
            refusals.check(len(entries))
    maybe_purge_expired()
    for _, item, challenge in accepted:
        item.reason = f"created {challenge.token}"
    message = f"stored {len(accepted)} challenges"
    return JsonResponse({"stored": len(accepted)}, status=201), message


@api_call("POST", AuditRecord.Action.DELETE)
def delete_batch(request: HttpRequest, call: audit.Call) -> tuple[HttpResponse, str]:
    """Many deletes in one call, each as :func:`delete_challenge` does one: another user's challenge, or one that is
    not there, counts as absent and stays as it is."""
    body = read_body(request, MAX_BATCH_BYTES, _BATCH_BODY)
    caller = authenticate(request, body, call, DELETE_PERMISSION)
    _require_permission(caller, DELETE_PERMISSION)
    entries = batch.read_list(request, body, "tokens", BATCH_DELETE_SHAPE)
    refusals = batch.Refusals("tokens", "deleted")
    seen: dict[str, int] = {}
    for index, entry in enumerate(entries):
        item = call.add_item(str(entry) if is_token(entry) else "")
        if not item.token:
            refusal = Refused(
                400,
                f"must be an ACME token: 1 to {MAX_VALUE_LENGTH} characters from A-Z a-z 0-9 _ -",
                code=Code.FIELD_INVALID,
            )
        elif item.token in seen:
            refusal = Refused(
                400,
                f"is also tokens[{seen[item.token]}]; a batch names each token once",
                code=Code.FIELD_INVALID,
            )
        else:
            seen[item.token] = index
            continue
        refusals.add(item, batch.label("tokens", index, item), refusal)
    refusals.check(len(entries))

    deleted = delete_challenges(list(seen), caller.user.pk, caller.scope)
    for item in call.items:
        if item.token in deleted:
            item.domain, item.reason = deleted[item.token], f"deleted {item.token}"
        else:
            item.reason = f"no such challenge: {item.token}"
    absent = len(seen) - len(deleted)
    return JsonResponse({"deleted": len(deleted), "absent": absent}), f"deleted {len(deleted)}, absent {absent}"


def _require_permission(caller: Caller, permission: str) -> None:
    if not caller.permitted:
        name = caller.user.get_username()
        raise Refused(
            403,
            f"user '{name}' lacks the permission {permission}; grant it with: manage.py certbot_client {name}",
            code=Code.PERMISSION_MISSING,
        )


def _request_data(request: HttpRequest, body: bytes) -> dict[str, object]:
    """The pushed fields, from a form (as certbot-django's client and the hooks send them) or a JSON object."""
    if request.content_type == "application/json":
        return json_object(body, "one flat object with 'challenge', 'response' and 'domain'")
    fields: dict[str, object] = {}
    for field in ("challenge", "response", "domain"):
        values = request.POST.getlist(field)
        if len(values) > 1:
            raise Refused(400, f"{field}: was given more than once", code=Code.FIELD_INVALID)
        fields[field] = values[0] if values else None
    return fields
