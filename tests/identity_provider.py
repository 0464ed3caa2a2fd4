"""A real SAML identity provider for the tests, built with pysaml2 and served on a loopback port.

It signs in whoever the test names (`sign_in_as`), or refuses (`refuse`), and posts its signed answer
to the portal's ACS through the browser, as a real IdP does.
"""

import base64
import html
import re
import threading
from socketserver import ThreadingMixIn
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.config import IdPConfig
from saml2.metadata import entity_descriptor
from saml2.saml import (
    AUTHN_PASSWORD,
    NAME_FORMAT_URI,
    NAMEID_FORMAT_EMAILADDRESS,
    NAMEID_FORMAT_PERSISTENT,
    NameID,
)
from saml2.samlp import STATUS_AUTHN_FAILED
from saml2.server import Server
from saml2.sigver import verify_redirect_signature
from saml2.xmldsig import DIGEST_SHA1, DIGEST_SHA256, SIG_RSA_SHA1, SIG_RSA_SHA256

from .certificates import self_signed


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):
        pass


class IdentityProvider:
    def __init__(self, folder, port):
        self.folder, self.port = folder, port
        self.base = f"http://127.0.0.1:{port}"
        self.cert_file, self.key_file = self_signed(folder, "idp", common_name="idp", algorithm="rsa")
        self.metadata_file = folder / "idp-metadata.xml"
        self.metadata_file.write_text(str(entity_descriptor(self._config())))
        self.server = None
        self.person = None  # (address, display name) to sign in; None refuses
        self.sign_assertions = True
        self.opaque_name_id = False  # a persistent ID instead of the address, as some IdPs send
        self.name_id_text = None  # another NameID than the address (a UPN that is not the mail address)
        self.sha1 = False  # sign with the old SHA-1, as some IdPs still do
        self.last_request_url = ""
        self.last_logout = None  # the portal's last LogoutRequest: {"name_id", "session_index", "signed"}

    def _config(self, sp_metadata_file=None, slo_binding=BINDING_HTTP_REDIRECT):
        sso = [(f"{self.base}/sso", BINDING_HTTP_REDIRECT)]
        slo = [(f"{self.base}/slo", slo_binding)] if slo_binding else []
        config = IdPConfig()
        config.load(
            {
                "entityid": f"{self.base}/metadata",
                "xmlsec_binary": "/usr/bin/xmlsec1",
                "key_file": str(self.key_file),
                "cert_file": str(self.cert_file),
                "service": {
                    "idp": {
                        "endpoints": {"single_sign_on_service": sso, "single_logout_service": slo},
                        "name_id_format": [NAMEID_FORMAT_EMAILADDRESS],
                        "policy": {
                            "default": {
                                "lifetime": {"minutes": 5},
                                "attribute_restrictions": None,
                                "name_form": NAME_FORMAT_URI,
                            }
                        },
                    }
                },
                "metadata": {"local": [str(sp_metadata_file)]} if sp_metadata_file else {},
            }
        )
        return config

    def metadata_logging_out_by_post(self):
        """Another copy of its metadata whose logout service takes HTTP-POST only (as some IdPs do)."""
        path = self.folder / "idp-metadata-post-logout.xml"
        path.write_text(str(entity_descriptor(self._config(slo_binding=BINDING_HTTP_POST))))
        return path

    def metadata_without_logout(self):
        """A copy of its metadata with no SingleLogoutService (as Google Workspace publishes none)."""
        path = self.folder / "idp-metadata-no-logout.xml"
        path.write_text(str(entity_descriptor(self._config(slo_binding=None))))
        return path

    def trust(self, sp_metadata):
        """Know the portal (its entity ID and ACS) from its metadata, as an IdP administrator would."""
        path = self.folder / "sp-metadata.xml"
        path.write_text(sp_metadata)
        self.server = Server(config=self._config(path))

    def sign_in_as(self, address, name="Sam Single"):
        self.person = (address, name)

    def refuse(self):
        self.person = None

    def _portal(self):
        return next(iter(self.server.metadata.service_providers()))

    def logout_request(self, address, *, signed=True, binding=BINDING_HTTP_REDIRECT, sha1=False):
        """The IdP's own LogoutRequest for `address` to the portal's single logout service: the URL
        (HTTP-Redirect), or (the address, the form's fields) for HTTP-POST."""
        portal = self._portal()
        sls = self.server.metadata.single_logout_service(portal, binding, "spsso")[0]["location"]
        name_id = NameID(format=NAMEID_FORMAT_EMAILADDRESS, text=address)
        algorithm = SIG_RSA_SHA1 if sha1 else SIG_RSA_SHA256
        if binding == BINDING_HTTP_POST:
            self.last_logout_request_id, request = self.server.create_logout_request(
                sls, portal, name_id=name_id, sign=signed, sign_alg=algorithm, digest_alg=DIGEST_SHA256
            )
            encoded = base64.b64encode(str(request).encode()).decode()
            return sls, {"SAMLRequest": encoded, "RelayState": "idp-logout"}
        _id, request = self.server.create_logout_request(sls, portal, name_id=name_id, sign=False)
        info = self.server.apply_binding(
            BINDING_HTTP_REDIRECT, str(request), sls, relay_state="idp-logout", sign=signed, sigalg=algorithm
        )
        return dict(info["headers"])["Location"]

    def _single_logout(self, query, start_response, binding=BINDING_HTTP_REDIRECT):
        """The portal's LogoutRequest: noted, and answered with a LogoutResponse (HTTP-Redirect); or the
        portal's LogoutResponse to the IdP's own request: checked (its signature too) and noted."""
        if "SAMLResponse" in query:
            response = self.server.parse_logout_request_response(query["SAMLResponse"][0], binding)
            self.last_logout_response = {
                "status": response.response.status.status_code.value,
                "in_response_to": response.response.in_response_to,
                "signed": response.response.signature is not None,
                "relay_state": query.get("RelayState", [""])[0],
            }
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"logged out"]
        text = query["SAMLRequest"][0]
        relay_state = query.get("RelayState", [""])[0]
        request = self.server.parse_logout_request(text, binding)
        message = {"SAMLRequest": text, **({"RelayState": relay_state} if "RelayState" in query else {})}
        signed = binding == BINDING_HTTP_POST and request.message.signature is not None
        if "Signature" in query:
            message.update(Signature=query["Signature"][0], SigAlg=query["SigAlg"][0])
            certificates = self.server.metadata.certs(self._portal(), "spsso", use="signing")
            signed = any(
                verify_redirect_signature(message, self.server.sec.sec_backend, cert)
                for _n, cert in certificates
            )
        self.last_logout = {
            "name_id": request.message.name_id.text,
            "session_index": [i.text for i in request.message.session_index],
            "signed": signed,
        }
        answer = self.server.create_logout_response(request.message, [BINDING_HTTP_REDIRECT])
        where = self.server.response_args(request.message, [BINDING_HTTP_REDIRECT])
        info = self.server.apply_binding(
            where["binding"], str(answer), where["destination"], relay_state, response=True
        )
        start_response("302 Found", [("Location", dict(info["headers"])["Location"])])
        return [b""]

    def __call__(self, environ, start_response):
        """The IdP's SSO endpoint (HTTP-Redirect in, HTTP-POST out), a WSGI application."""
        query = parse_qs(environ.get("QUERY_STRING", ""))
        if environ.get("PATH_INFO") == "/slo" and environ["REQUEST_METHOD"] == "POST":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            form = parse_qs(environ["wsgi.input"].read(length).decode())
            return self._single_logout(form, start_response, BINDING_HTTP_POST)
        if environ.get("PATH_INFO") == "/slo":
            return self._single_logout(query, start_response)
        request = self.server.parse_authn_request(query["SAMLRequest"][0], BINDING_HTTP_REDIRECT)
        self.last_request_url = environ.get("QUERY_STRING", "")
        args = self.server.response_args(request.message, [BINDING_HTTP_POST])
        if self.person is None:
            response = self.server.create_error_response(
                request.message.id, args["destination"], (STATUS_AUTHN_FAILED, "wrong password at the IdP")
            )
        else:
            address, name = self.person
            if self.opaque_name_id:
                name_id = NameID(format=NAMEID_FORMAT_PERSISTENT, text="u-8f3a2c")
            elif self.name_id_text:
                name_id = NameID(format=NAMEID_FORMAT_EMAILADDRESS, text=self.name_id_text)
            else:
                name_id = NameID(format=NAMEID_FORMAT_EMAILADDRESS, text=address)
            response = self.server.create_authn_response(
                identity={"mail": [address], "displayName": [name]},
                userid=address,
                name_id=name_id,
                authn={"class_ref": AUTHN_PASSWORD, "authn_auth": self.base},
                sign_assertion=self.sign_assertions,
                sign_alg=SIG_RSA_SHA1 if self.sha1 else SIG_RSA_SHA256,
                digest_alg=DIGEST_SHA1 if self.sha1 else DIGEST_SHA256,
                **args,
            )
        relay_state = query.get("RelayState", [""])[0]
        http_args = self.server.apply_binding(
            BINDING_HTTP_POST, str(response), args["destination"], relay_state, response=True
        )
        start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
        return [http_args["data"].encode()]

    def start(self):
        self.httpd = make_server(
            "127.0.0.1", self.port, self, server_class=_ThreadingServer, handler_class=_QuietHandler
        )
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def _answer_form(page):
    """The form that carries the SAML answer (a page may have others, as the language chooser)."""
    forms = re.findall(r"<form\b.*?</form>", page, re.S)
    return next((f for f in forms if "SAMLResponse" in f), forms[0] if forms else page)


def form_fields(page):
    """The fields of the page's SAML form: what a browser would post."""
    fields = {}
    for tag in re.findall(r"<input[^>]*>", _answer_form(page)):
        name = re.search(r'name="([^"]+)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        if name:
            fields[html.unescape(name.group(1))] = html.unescape(value.group(1)) if value else ""
    return fields


def form_action(page):
    return html.unescape(re.search(r'<form[^>]*action="([^"]+)"', _answer_form(page)).group(1))
