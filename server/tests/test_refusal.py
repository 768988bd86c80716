"""Refusal codes (refusal.py): every refusal the API can make carries a stable code in the ``Acme-Challenge-Refusal``
header, documented in server/README.md; the hooks decide on the code, never on the English line.

The source is walked for every ``Refused(...)`` and every helper that builds one, so a refusal added without a code,
or a code without a README row, fails here; a sample of refusals is then made to happen through the test client."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest
from django.test import Client

import acme_challenge
from acme_challenge.refusal import HEADER, Code

from .conftest import API, FORM, TOKEN, VALIDATION, auth, bound_auth, delete, form, make_user, push, sign

APP = Path(acme_challenge.__file__).parent
README = Path(__file__).resolve().parents[1] / "README.md"
REPORTS = "/.well-known/certificates/"
#: The functions that return a Refused built from a code they are given (authentication.py).
BUILDERS = {"_binding_refused"}


def _refusals() -> list[tuple[str, int, ast.Call]]:
    """Every call of Refused or of a builder in the app's source, outside refusal.py and the builders' own bodies
    (which pass on the code they are given): (file, line, call)."""
    found = []
    for path in sorted(APP.rglob("*.py")):
        if path.name == "refusal.py":
            continue
        tree = ast.parse(path.read_text(), str(path))
        inside_builders = {
            id(node)
            for builder in ast.walk(tree)
            if isinstance(builder, ast.FunctionDef) and builder.name in BUILDERS
            for node in ast.walk(builder)
        }
        for node in ast.walk(tree):
            called = node.func.id if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) else None
            if (called == "Refused" or called in BUILDERS) and id(node) not in inside_builders:
                found.append((path.name, node.lineno, node))
    return found


def _code_of(call: ast.Call) -> str | None:
    """The member name of the Code the call passes (``code=Code.X``, or a builder's first argument), else None."""
    given = [keyword.value for keyword in call.keywords if keyword.arg == "code"] + call.args[:1]
    for value in given:
        if isinstance(value, ast.Attribute) and isinstance(value.value, ast.Name) and value.value.id == "Code":
            return value.attr
    return None


def _documented() -> dict[str, str]:
    """The README's refusal-code table: code -> status."""
    rows = re.findall(r"^\| `([a-z-]+)` \| (\d{3}) \| .+ \| .+ \|$", README.read_text(), re.MULTILINE)
    return dict(rows)


def test_every_refusal_in_the_source_passes_a_code() -> None:
    calls = _refusals()
    assert len(calls) > 40  # the walk found the app's refusals, not nothing
    uncoded = [f"{name}:{line}" for name, line, call in calls if _code_of(call) is None]
    assert uncoded == []


def test_every_code_is_raised_somewhere_and_documented_in_the_readme() -> None:
    raised = {_code_of(call) for _, _, call in _refusals()} - {None}
    assert raised == {code.name for code in Code}
    assert set(_documented()) == {code.value for code in Code}


def test_codes_are_lower_case_words_joined_by_hyphens() -> None:
    assert [code.value for code in Code if not re.fullmatch(r"[a-z]+(-[a-z]+)+", code.value)] == []


# Through the test client: the header is sent, and all the reasons a JWT fails share one code.


def _assert_code(response, status: int, code: Code) -> None:
    assert response.status_code == status
    assert response[HEADER] == code.value
    assert _documented()[code.value] == str(status)


@pytest.mark.django_db
def test_every_unauthenticated_reason_answers_the_same_code(client: Client, certbot_user, rsa_key, ed25519_key):
    body = form(challenge=TOKEN, response=VALIDATION, domain="example.com")
    stranger = sign(ed25519_key, "nobody", htm="POST", htu=f"https://testserver{API}")
    replayed = bound_auth(ed25519_key, "POST", API, body)
    assert client.post(API, body, content_type=FORM, headers=replayed).status_code == 201
    answers = [
        client.post(API, body, content_type=FORM),  # no header
        client.post(API, body, content_type=FORM, headers={"Authorization": "Bearer x"}),  # scheme
        client.post(API, body, content_type=FORM, headers={"Authorization": "JWT not.a.jwt"}),  # malformed
        client.post(API, body, content_type=FORM, headers={"Authorization": f"JWT {stranger}"}),  # unknown user
        client.post(API, body, content_type=FORM, headers=replayed),  # replayed nonce
        push(client, rsa_key, headers=bound_auth(rsa_key, "POST", API, body, timestamp=1_000_000_000)),  # stale
    ]
    for response in answers:
        _assert_code(response, 401, Code.JWT_REFUSED)
    assert len({response.content for response in answers}) == 1


@pytest.mark.django_db
def test_refusals_after_a_verified_signature_carry_their_own_codes(
    client: Client, settings, certbot_user, rsa_key, ed25519_key
) -> None:
    body = form(challenge=TOKEN, response=VALIDATION, domain="example.com")
    _assert_code(client.get(API), 405, Code.METHOD_NOT_ALLOWED)
    _assert_code(client.post(API, body, content_type=FORM, headers=auth(rsa_key)), 401, Code.LEGACY_NOT_ALLOWED)
    other = bound_auth(ed25519_key, "POST", API, form(challenge="other", response="other.x"))
    _assert_code(client.post(API, body, content_type=FORM, headers=other), 401, Code.BINDING_MISMATCH)
    partial = {"Authorization": "JWT " + sign(ed25519_key, htm="POST")}
    _assert_code(client.post(API, body, content_type=FORM, headers=partial), 401, Code.BINDING_MALFORMED)
    _assert_code(push(client, ed25519_key, validation="nope"), 400, Code.FIELD_INVALID)
    _assert_code(push(client, ed25519_key, domain="a" * 5000), 400, Code.BODY_TOO_LARGE)
    settings.ACME_CHALLENGE_ALLOWED_DOMAINS = ["a.example.com"]
    _assert_code(push(client, ed25519_key, domain="b.example.com"), 403, Code.NAME_NOT_ALLOWED)
    settings.ACME_CHALLENGE_ALLOWED_DOMAINS = None
    assert push(client, ed25519_key).status_code == 201
    make_user("bob", [rsa_key], ("add_challenge", "delete_challenge"))
    _assert_code(push(client, rsa_key, username="bob"), 409, Code.NOT_OWNER)
    _assert_code(delete(client, rsa_key, username="bob"), 404, Code.NO_SUCH_CHALLENGE)
    report = json.dumps({"chain": "x"}).encode()
    bound = bound_auth(ed25519_key, "POST", REPORTS, report)
    _assert_code(
        client.post(REPORTS, report, content_type="application/json", headers=bound), 403, Code.PERMISSION_MISSING
    )


@pytest.mark.django_db
def test_an_accepted_call_carries_no_refusal_code(client: Client, certbot_user, ed25519_key) -> None:
    response = push(client, ed25519_key)
    assert response.status_code == 201
    assert HEADER not in response
