"""A real OpenLDAP server (Debian's slapd) for the tests: its own config, seed data and certificate."""

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from .certificates import self_signed

SUFFIX = "dc=corp,dc=example"
SERVICE_DN = f"cn=portal,ou=services,{SUFFIX}"
SERVICE_PASSWORD = "service secret"
PORTAL_GROUP = f"cn=portal-users,ou=groups,{SUFFIX}"
PEOPLE = f"ou=people,{SUFFIX}"

# (uid, name, mail, password, in the portal group)
PEOPLE_ROWS = [
    ("alice", "Alice Directory", "alice@corp.example", "alice network pass", True),
    ("bob", "Bob Outsider", "bob@corp.example", "bob network pass", False),
    ("carol", "Carol Both", "carol@corp.example", "carol network pass", True),
]

SEED = (
    f"""dn: {SUFFIX}
objectClass: dcObject
objectClass: organization
dc: corp
o: Corp

dn: {PEOPLE}
objectClass: organizationalUnit
ou: people

dn: ou=groups,{SUFFIX}
objectClass: organizationalUnit
ou: groups

dn: ou=services,{SUFFIX}
objectClass: organizationalUnit
ou: services

dn: {SERVICE_DN}
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: portal
userPassword: {SERVICE_PASSWORD}
"""
    + "".join(
        f"""
dn: uid={uid},{PEOPLE}
objectClass: inetOrgPerson
uid: {uid}
cn: {name}
sn: {name.split()[-1]}
mail: {mail}
userPassword: {password}
"""
        for uid, name, mail, password, _ in PEOPLE_ROWS
    )
    + f"""
dn: {PORTAL_GROUP}
objectClass: groupOfNames
cn: portal-users
"""
    + "".join(f"member: uid={uid},{PEOPLE}\n" for uid, *_, member in PEOPLE_ROWS if member)
)

CONFIG = """include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile {folder}/slapd.pid
TLSCertificateFile {folder}/server.pem
TLSCertificateKeyFile {folder}/server.key

database mdb
maxsize 10485760
suffix "{suffix}"
rootdn "cn=admin,{suffix}"
rootpw admin-secret
directory {folder}/data
access to attrs=userPassword
    by anonymous auth
    by * none
access to *
    by dn.exact="{service}" read
    by self read
    by * none

database monitor
access to *
    by dn.exact="cn=admin,{suffix}" read
    by * none
"""


class Slapd:
    """slapd on a free loopback port; stop(), start(), freeze() and thaw() for outage tests."""

    def __init__(self, folder, port):
        self.folder, self.port = Path(folder), port
        self.uri = f"ldap://127.0.0.1:{port}"
        self.ca_file = str(self.folder / "server.pem")
        self.process = None
        (self.folder / "data").mkdir(parents=True)
        self_signed(self.folder, "server")
        config = self.folder / "slapd.conf"
        config.write_text(CONFIG.format(folder=self.folder, suffix=SUFFIX, service=SERVICE_DN))
        (self.folder / "seed.ldif").write_text(SEED)
        subprocess.run(
            ["/usr/sbin/slapadd", "-f", str(config), "-l", str(self.folder / "seed.ldif")],
            check=True, capture_output=True,
        )  # fmt: skip

    def start(self):
        if self.running:
            return
        self.process = subprocess.Popen(
            ["/usr/sbin/slapd", "-f", str(self.folder / "slapd.conf"), "-h", self.uri + "/", "-d", "0"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError("slapd did not start") from None
                time.sleep(0.05)

    @property
    def running(self):
        return self.process is not None and self.process.poll() is None

    def stop(self):
        if self.running:
            self.thaw()
            self.process.terminate()
            self.process.wait(timeout=10)

    def freeze(self):
        """The server still accepts connections but never answers: a hung directory."""
        os.kill(self.process.pid, signal.SIGSTOP)

    def thaw(self):
        if self.running:
            os.kill(self.process.pid, signal.SIGCONT)

    def completed(self, operation):
        """How many operations of a kind ("Bind", "Search") the server has completed (cn=Monitor)."""
        import ldap

        connection = ldap.initialize(self.uri)
        connection.simple_bind_s(f"cn=admin,{SUFFIX}", "admin-secret")
        base = f"cn={operation},cn=Operations,cn=Monitor"
        ((_dn, attributes),) = connection.search_s(base, ldap.SCOPE_BASE, attrlist=["monitorOpCompleted"])
        connection.unbind_s()
        return int(attributes["monitorOpCompleted"][0])

    def settings(self):
        """The portal's LDAP_* settings for this server."""
        return {
            "LDAP_SERVER_URI": self.uri,
            "LDAP_BIND_DN": SERVICE_DN,
            "LDAP_BIND_PASSWORD": SERVICE_PASSWORD,
            "LDAP_USER_BASE": PEOPLE,
            "LDAP_USER_FILTER": "(mail=%(user)s)",
            "LDAP_GROUP_BASE": f"ou=groups,{SUFFIX}",
            "LDAP_PORTAL_GROUP": PORTAL_GROUP,
            "LDAP_START_TLS": False,
            "LDAP_CA_FILE": "",
            "LDAP_TIMEOUT": 2,
        }
