"""Passwords as NIST SP 800-63B-4 says: 15 characters alone, 8 with a second factor, no composition
rules, the rule said before one types, existing passwords untouched."""

import pytest
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.test import Client

from accounts import twostep

from .helpers import log_in

pytestmark = pytest.mark.django_db
PASSWORD = "correct horse battery"


def refused(password, user=None):
    try:
        validate_password(password, user)
    except ValidationError as error:
        return error.messages
    return []


def test_a_single_factor_needs_fifteen_characters_and_nothing_else(make_user):
    person = make_user("pat@example.com")
    assert refused("fourteen chars", person) == [
        "This password is too short. It must contain at least 15 characters."
    ]
    assert refused("fifteen chars!!", person) == []
    assert refused("all lower case words", person) == []  # no rule about digits or symbols
    assert refused("9" * 15 + "12345", person) == []  # digits alone are fine when long
    assert refused("x" * 257, person) == ["This password is longer than 256 characters."]
    assert refused("x" * 256, person) == []


def test_with_a_second_factor_eight_characters_are_enough(make_user):
    person = make_user("pat@example.com")
    device = twostep.start_enrolment(person)
    device.confirmed = True
    device.save()
    assert refused("tiger-52", person) == []
    assert refused("tiger-5", person) == [
        "This password is too short. It must contain at least 8 characters."
    ]


def test_common_passwords_the_portals_name_and_the_address_are_refused(make_user, settings):
    settings.PORTAL_NAME = "Acme Secure"
    person = make_user("patricia.long@example.com")
    assert "This password is too common." in refused("1q2w3e4r5t6y7u8i9o0p", person)
    assert refused("my acme secure login", person) == [
        "This password contains this portal's name or your address."
    ]
    assert "This password contains this portal's name or your address." in refused(
        "x patricia.long@example.com", person
    )
    assert "The password is too similar to the email address." in refused("patricia.long.1", person)
    assert refused("the client chosen secret", make_user("client@outside.example")) == []


def test_the_change_page_says_the_rule_before_one_types_and_existing_passwords_work(make_user):
    make_user("pat@example.com", "short pass")  # chosen under an older rule
    client = Client()
    assert "Welcome" in log_in(client, "pat@example.com", "short pass").content.decode()
    page = client.get("/password/change/").content.decode()
    assert "At least 15 characters" in page and "no rule about digits or symbols" in page
    answer = client.post(
        "/password/change/",
        {
            "old_password": "short pass",
            "new_password1": "too short",
            "new_password2": "too short",
        },
    ).content.decode()
    assert "at least 15 characters" in answer
    done = client.post(
        "/password/change/",
        {
            "old_password": "short pass",
            "new_password1": "a much longer phrase",
            "new_password2": "a much longer phrase",
        },
        follow=True,
    )
    assert "Your password has been changed." in done.content.decode()
