"""In a real Chromium: an administrator brands the portal; recipients read it in French and German."""

import re

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from accounts.models import User

from .conftest import body_text
from .test_branding import SVG, png
from .test_messages import LINK, TEMPORARY, deliver

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_administrator_brands_the_portal_and_pages_and_emails_wear_it(
    tab_for, make_user, hold_message, mailbox, tmp_path
):
    admin = make_user("admin@example.com", is_staff=True, is_superuser=True)
    page = tab_for(admin)
    page.goto("/admin/")
    page.get_by_role("link", name="Branding").first.click()
    page.get_by_label("Organisation name").fill("Northwind Legal")
    page.get_by_label("Primary colour").fill("#ffcc00")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_text("White text on this colour has a contrast of 1.51:1")).to_be_visible()

    svg = tmp_path / "logo.svg"
    svg.write_bytes(SVG)
    page.get_by_label("Primary colour").fill("#1f4e3d")
    page.locator("#id_upload").set_input_files(str(svg))
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_text("The logo must be a PNG, JPEG or WebP image (never SVG).")).to_be_visible()

    logo = tmp_path / "logo.png"
    logo.write_bytes(png())
    page.locator("#id_upload").set_input_files(str(logo))
    page.get_by_label("Footer and disclaimer").fill("Northwind Legal LLP. Confidential.")
    page.get_by_label("Notification subject").fill("{sender} sent you a Northwind secure message")
    page.get_by_label("Notification introduction").fill("Northwind Legal holds a message for you.")
    with page.expect_popup() as preview:
        page.get_by_role("button", name="Preview").click()
    shown = preview.value
    expect(shown.get_by_text("Preview: nothing is saved yet.")).to_be_visible()
    expect(shown.get_by_role("link", name="Northwind Legal")).to_be_visible()
    expect(shown.get_by_text("Northwind Legal holds a message for you.")).to_be_visible()
    shown.close()
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_text("was changed successfully")).to_be_visible()

    visitor = tab_for(make_user("someone@example.com"))
    visitor.goto("/login/")
    expect(visitor).to_have_title(re.compile("Northwind Legal"))
    banner = visitor.get_by_role("banner")
    expect(banner.get_by_role("link", name="Northwind Legal")).to_be_visible()
    assert visitor.locator("header img.logo").evaluate("img => img.naturalWidth") == 40
    background = visitor.locator(".site-header").evaluate("el => getComputedStyle(el).backgroundColor")
    assert background == "rgb(31, 78, 61)"
    expect(visitor.get_by_text("Northwind Legal LLP. Confidential.")).to_be_visible()

    client = make_user("client@outside.example", kind="external")
    message = hold_message(["client@outside.example"], subject="Merger terms")
    notice = deliver(mailbox, 1)[0]
    assert notice["From"] == "Northwind Legal <portal@localhost>"
    assert notice["Subject"].strip() == "sender@example.com sent you a Northwind secure message"
    assert "Northwind Legal holds a message for you." in body_text(notice)
    reader = tab_for(client)
    reader.goto(f"/messages/{message.public_id}/")
    expect(reader).to_have_title("Merger terms · Northwind Legal")
    expect(reader.get_by_text("Northwind Legal LLP. Confidential.")).to_be_visible()


def violations(page):
    return [(v["id"], v["impact"]) for v in Axe().run(page).response["violations"]]


@pytest.mark.parametrize(
    ("locale", "words"),
    [
        (
            "fr-FR",
            {
                "logging in as": "Connexion en tant que client@outside.example",
                "failure": "Nom d’utilisateur, mot de passe ou autorisations non valides. "
                "Veuillez vérifier que vous utilisez la bonne URL.",
                "reference": "Code de référence",
                "contact": "Contactez l’expéditeur du message",
                "log in": "Se connecter",
                "new password": "Nouveau mot de passe",
                "confirm": "Confirmer le nouveau mot de passe",
                "change": "Changer le mot de passe",
                "reply": "Répondre",
            },
        ),
        (
            "de-DE",
            {
                "logging in as": "Anmeldung als client@outside.example",
                "failure": "Ungültiger Benutzername, ungültiges Passwort oder fehlende Berechtigungen.",
                "reference": "Referenzcode",
                "contact": "Wenden Sie sich an den Absender der Nachricht",
                "log in": "Anmelden",
                "new password": "Neues Passwort",
                "confirm": "Neues Passwort bestätigen",
                "change": "Passwort ändern",
                "reply": "Antworten",
            },
        ),
    ],
)
def test_an_external_recipient_logs_in_and_reads_in_their_language(
    chromium, live_server, hold_message, mailbox, locale, words
):
    hold_message(["client@outside.example"], subject="Offer")
    emails = deliver(mailbox, 2)
    texts = [body_text(m) for m in emails]
    link = next(LINK.search(t).group(1) for t in texts if LINK.search(t))
    temporary = next(TEMPORARY.search(t).group(1) for t in texts if TEMPORARY.search(t))

    context = chromium.new_context(base_url=live_server.url, locale=locale)
    page = context.new_page()
    seen = {}
    try:
        page.goto(link)
        language = locale[:2]
        assert page.locator("html").get_attribute("lang") == language
        expect(page.get_by_text(words["logging in as"])).to_be_visible()
        seen["password"] = violations(page)
        page.locator("#id_password").fill("not the password")
        page.get_by_role("button", name=words["log in"]).click()
        alert = page.get_by_role("alert")
        expect(alert).to_contain_text(words["failure"])
        expect(alert).to_contain_text(words["reference"])
        expect(alert).to_contain_text(words["contact"])
        seen["failure"] = violations(page)
        page.locator("#id_password").press_sequentially(temporary)
        page.get_by_role("button", name=words["log in"]).click()
        page.get_by_label(words["new password"], exact=True).fill("client chosen secret 7")
        page.get_by_label(words["confirm"]).fill("client chosen secret 7")
        seen["change"] = violations(page)
        page.get_by_role("button", name=words["change"]).click()
        expect(page.get_by_role("heading", name="Offer")).to_be_visible()
        expect(page.get_by_role("link", name=words["reply"], exact=True)).to_be_visible()
        seen["message"] = violations(page)
    finally:
        context.close()
    assert seen == {name: [] for name in seen}
    assert User.objects.get(email="client@outside.example").language == language
