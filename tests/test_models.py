"""The accounts models' own rules."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError

from accounts.models import AuthProfile, EmailAlias, User, new_reference

pytestmark = pytest.mark.django_db


def test_addresses_are_stored_lower_cased(make_user):
    user = make_user("  Sam.Staff@Example.COM ")
    assert User.objects.get(pk=user.pk).email == "sam.staff@example.com"
    assert User.objects.get_by_natural_key("SAM.staff@example.com") == user


def test_a_user_created_without_a_password_has_no_cloud_password(make_user):
    assert not make_user("staff@example.com", None).has_usable_password()


def test_cloud_passwords_are_argon2id_at_owasp_minimum(make_user):
    user = make_user("staff@example.com", "correct horse battery")
    assert user.password.startswith("argon2$argon2id$v=19$m=19456,t=2,p=1$")


def test_an_alias_finds_its_user_and_may_not_be_anothers_primary_address(make_user):
    sam = make_user("sam@example.com")
    make_user("kim@example.com")
    EmailAlias.objects.create(user=sam, email="SAMUEL@example.com")
    assert User.objects.find_by_address("samuel@example.com") == (sam, True)
    assert User.objects.find_by_address("sam@example.com") == (sam, False)
    assert User.objects.find_by_address("nobody@example.com") == (None, False)
    with pytest.raises(ValidationError):
        EmailAlias(user=sam, email="kim@example.com").full_clean()


def test_the_profile_comes_from_the_user_then_the_domain_then_the_default(make_user, make_profile):
    default = AuthProfile.objects.get(is_default=True)  # made by the migration
    corp = make_profile("Corp", domains="corp.example\nsub.corp.example", methods="network,cloud")
    own = make_profile("Own", methods="cloud")
    assert make_user("a@corp.example").profile() == corp
    assert make_user("b@elsewhere.example").profile() == default
    assert make_user("c@corp.example", auth_profile=own).profile() == own
    assert corp.method_list() == ["network", "cloud"]


def test_only_one_profile_is_the_default(make_profile):
    with pytest.raises(IntegrityError):
        make_profile("Second default", is_default=True)


def test_a_domain_belongs_to_one_profile_only(make_profile):
    make_profile("Corp", domains="corp.example")
    with pytest.raises(ValidationError, match="corp.example"):
        AuthProfile(name="Other", domains="Corp.Example, other.example").full_clean()


def test_reference_codes_are_short_and_easy_to_read_out():
    codes = {new_reference() for _ in range(200)}
    assert len(codes) == 200
    for code in codes:
        assert len(code) == 9 and code[4] == "-"
        assert not set(code) & set("01OIL")
