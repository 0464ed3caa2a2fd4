"""People read the portal, and their emails, in their own language."""

import re

import pytest
from django.test import Client

from accounts.models import User

from .conftest import body_html, body_text
from .helpers import log_in
from .test_messages import deliver

pytestmark = pytest.mark.django_db(transaction=True)

FRENCH_FAILURE = (
    "Nom d’utilisateur, mot de passe ou autorisations non valides. "
    "Veuillez vérifier que vous utilisez la bonne URL."
)


def test_the_browsers_language_is_used_and_named_on_the_page():
    page = Client(HTTP_ACCEPT_LANGUAGE="de-DE,de;q=0.9,en;q=0.5").get("/login/").content.decode()
    assert '<html lang="de">' in page and ">Weiter</button>" in page and "E-Mail-Adresse" in page
    page = Client(HTTP_ACCEPT_LANGUAGE="ja").get("/login/").content.decode()
    assert '<html lang="en">' in page and ">Next</button>" in page  # a language we do not have: English


def test_the_failure_box_in_french_with_its_facts(make_user):
    make_user("staff@example.com")
    visitor = Client(HTTP_ACCEPT_LANGUAGE="fr")
    page = log_in(visitor, "staff@example.com", "pas le bon").content.decode()
    assert FRENCH_FAILURE in page
    for label in ("Code de référence", "URL utilisée", "Date et heure", "Navigateur", "Copier"):
        assert label in page
    assert re.search(
        r"\d{1,2} (janvier|février|mars|avril|mai|juin|juillet|août|septembre|octobre"
        r"|novembre|décembre) \d{4}",
        page,
    )  # the date in French


def test_the_chooser_sets_the_language_and_the_account_remembers_it(make_user):
    user = make_user("staff@example.com")
    person = Client()
    log_in(person, "staff@example.com", "correct horse battery")
    response = person.post("/i18n/setlang/", {"language": "nl", "next": "/"}, follow=True)
    assert "Welkom, Sam Staff" in response.content.decode()
    user.refresh_from_db()
    assert user.language == "nl"
    # Another device, no choice made there: the account's language.
    elsewhere = Client(HTTP_ACCEPT_LANGUAGE="en")
    page = log_in(elsewhere, "staff@example.com", "correct horse battery").content.decode()
    assert "Welkom, Sam Staff" in page


def test_the_chooser_refuses_a_foreign_next_address():
    response = Client().post("/i18n/setlang/", {"language": "fr", "next": "https://evil.example/"})
    assert response["Location"] == "/"


def test_emails_go_out_in_the_language_the_recipient_last_used(hold_message, make_user, mailbox, settings):
    make_user("client@outside.example", kind="external", language="fr")
    hold_message(["client@outside.example"])
    notice = deliver(mailbox, 1)[0]
    assert notice["Subject"].strip() == "Vous avez un message sécurisé de sender@example.com"
    assert "vous a envoyé un message sécurisé" in body_text(notice)
    assert '<html lang="fr">' in body_html(notice)
    assert re.search(r"Disponible jusqu’au : \d{1,2} \w+ \d{4}", body_text(notice))


def test_a_first_time_recipient_gets_the_organisations_language(hold_message, mailbox, settings):
    settings.LANGUAGE_CODE = "de"
    hold_message(["new.client@outside.example"])
    subjects = sorted(m["Subject"].strip() for m in deliver(mailbox, 2))
    assert subjects == [
        "Ihr temporäres Passwort zum Lesen sicherer Nachrichten",
        "Sie haben eine sichere Nachricht von sender@example.com",
    ]
    assert User.objects.get(email="new.client@outside.example").language == ""
