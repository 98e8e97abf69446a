#!/usr/bin/env python3
"""A fake Microsoft identity platform and Microsoft Graph (mail) on loopback, backed by the lab's real mail chain.

The token endpoint and the Graph endpoints Mailproof calls answer with the real services' request and response
shapes: the form of a client-credentials request, JWT-shaped access tokens with the granted application roles,
AADSTS error bodies, Graph's {"error": {"code", "message", "innerError"}} bodies, request-id headers, 202 for
sendMail, 429 with Retry-After when throttled, and Exchange Online's limit of 4 concurrent requests per mailbox.

Mail is real: sendMail hands the MIME to the lab's Postfix (submission, STARTTLS, as the mailbox's lab user) and
keeps a copy in the mailbox's "Sent" folder as Exchange keeps one in Sent Items; the mailbox endpoints read the
lab's Dovecot mailboxes over IMAPS (INBOX is Inbox, Junk is Junk Email, Trash is Deleted Items, subfolders are
child folders, "Recoverable Items/Deletions" is the well-known recoverableitemsdeletions folder — outside the
mailbox-wide listing, as in Exchange).

    python3 tests/fakes/microsoft365.py --lab-env /tmp/lab/lab.env --config fake.json

prints "listening on http://127.0.0.1:PORT" and serves until killed. The config names the tenant, its apps
(client id, secrets with their expiry, granted roles) and the mailboxes (address → lab user). A control endpoint,
POST /_fake/control, changes that at run time (revoke consent, expire a secret, throttle the next requests, have
sendMail replace the Message-ID as Exchange may, remove delivered mail as zero-hour auto purge or an
administrator's soft delete does), and GET /_fake/log lists every request (method, path, status) for the tests.
"""

import base64
import email
import email.header
import email.policy
import email.utils
import imaplib
import json
import re
import smtplib
import ssl
import sys
import threading
import time
import urllib.parse
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler

import fakelab

GRAPH_ROLES = ("Mail.Send", "Mail.ReadWrite")
MAILBOX_CONCURRENCY = 4
FOLDERS = {"INBOX": "Inbox", "Junk": "Junk Email", "Trash": "Deleted Items", "Sent": "Sent Items"}
RECOVERABLE = "Recoverable Items/Deletions"
WELL_KNOWN = {"inbox": "INBOX", "junkemail": "Junk", "deleteditems": "Trash", "sentitems": "Sent",
              "recoverableitemsdeletions": RECOVERABLE}


def hidden(name: str) -> bool:
    """Recoverable Items is outside the mailbox's folder tree and its mailbox-wide message listing."""
    return name == "Recoverable Items" or name.startswith("Recoverable Items/")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def now_text() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class State:
    def __init__(self, lab: dict, config: dict):
        self.lab = lab
        self.tenant = config["tenant"]
        self.apps = {a["clientId"]: a for a in config["apps"]}
        self.mailboxes = {m["address"].lower(): m for m in config["mailboxes"]}
        self.tokens = {}  # access token -> (client id, roles, expiry)
        self.lock = threading.Lock()
        self.throttle_next = 0
        self.retry_after = 1
        self.in_flight = {}
        self.max_in_flight = {}
        self.log = []
        self.token_lifetime = int(config.get("tokenLifetime", 3599))
        self.replace_message_id = set()  # sending mailboxes whose Message-IDs sendMail replaces
        self.zaps = []  # {"mailbox", "toContains", "to": a well-known folder name or a folder path}
        self.issued = []  # every access token handed out, for the tests' scans
        self.headers = {}  # (lab user, folder, UIDVALIDITY, UID) -> the message's header block

    def control(self, body: dict):
        with self.lock:
            if "throttleNext" in body:
                self.throttle_next = int(body["throttleNext"])
                self.retry_after = int(body.get("retryAfter", 1))
            if "revokeConsent" in body:
                self.apps[body["revokeConsent"]]["roles"] = []
                self.tokens = {t: v for t, v in self.tokens.items() if v[0] != body["revokeConsent"]}
            if "expireSecret" in body:
                for s in self.apps[body["expireSecret"]]["secrets"]:
                    s["expires"] = "2000-01-01T00:00:00Z"
            if "invalidateTokens" in body:
                self.tokens.clear()
            if "policyBlocks" in body:
                self.mailboxes[body["policyBlocks"].lower()]["blockedByPolicy"] = True
            if "tokenLifetime" in body:
                self.token_lifetime = int(body["tokenLifetime"])
            if "replaceMessageId" in body:
                self.replace_message_id.add(body["replaceMessageId"].lower())
            if "zap" in body:
                self.zaps.append(body["zap"])


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state: State = None

    def log_message(self, fmt, *args):  # the request log is kept in State instead
        pass

    # --- plumbing -------------------------------------------------------------------------------------------

    def reply(self, status: int, body=None, headers=None, raw: bytes = None, content_type="application/json"):
        data = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if data or status not in (202, 204):
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data:
            self.wfile.write(data)
        with self.state.lock:
            self.state.log.append({"method": self.command, "path": self.path, "status": status,
                                   "contentLength": self.headers.get("Content-Length")})

    def body(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def graph_error(self, status: int, code: str, message: str, request_id: str, headers=None):
        inner = {"date": now_text(), "request-id": request_id, "client-request-id": request_id}
        h = {"request-id": request_id, "client-request-id": request_id}
        h.update(headers or {})
        self.reply(status, {"error": {"code": code, "message": message, "innerError": inner}}, h)

    def aad_error(self, status: int, error: str, code: int, description: str):
        trace, corr = str(uuid.uuid4()), str(uuid.uuid4())
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")
        text = f"AADSTS{code}: {description}\r\nTrace ID: {trace}\r\nCorrelation ID: {corr}\r\nTimestamp: {stamp}"
        self.reply(status, {
            "error": error, "error_description": text, "error_codes": [code], "timestamp": stamp,
            "trace_id": trace, "correlation_id": corr,
            "error_uri": f"https://login.microsoftonline.com/error?code={code}",
        })

    def do_GET(self):
        self.route("GET")

    def do_POST(self):
        self.route("POST")

    def do_DELETE(self):
        self.route("DELETE")

    def route(self, method: str):
        path = urllib.parse.urlsplit(self.path).path
        if method == "POST" and self.headers.get("Content-Length") is None and "Transfer-Encoding" not in self.headers:
            # As Graph's front door answers a POST without a length.
            return self.reply(411, raw=b"<h2>Length Required</h2>", content_type="text/html")
        if path == "/_fake/log" and method == "GET":
            with self.state.lock:
                log = {"requests": list(self.state.log), "maxInFlight": dict(self.state.max_in_flight),
                       "issuedTokens": list(self.state.issued)}
            # Outside the lock: reply() takes it to log this request.
            return self.reply(200, log)
        if path == "/_fake/control" and method == "POST":
            self.state.control(json.loads(self.body() or b"{}"))
            return self.reply(200, {"ok": True})
        m = re.fullmatch(r"/([^/]+)/oauth2/v2\.0/token", path)
        if m and method == "POST":
            return self.token(m.group(1))
        m = re.fullmatch(r"/v1\.0/users/([^/]+)(/.*)", path)
        if m:
            return self.graph(method, urllib.parse.unquote(m.group(1)), m.group(2))
        self.reply(404, {"error": {"code": "BadRequest", "message": f"Resource not found for the segment '{path}'."}})

    # --- the identity platform ------------------------------------------------------------------------------

    def token(self, tenant: str):
        form = urllib.parse.parse_qs(self.body().decode())
        get = lambda k: (form.get(k) or [""])[0]
        st = self.state
        if tenant != st.tenant:
            return self.aad_error(400, "invalid_request", 90002, f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.")
        if get("grant_type") != "client_credentials":
            return self.aad_error(400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type.")
        app = st.apps.get(get("client_id"))
        if app is None:
            return self.aad_error(400, "unauthorized_client", 700016, f"Application with identifier '{get('client_id')}' was not found in the directory '{tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.")
        if get("scope") != "https://graph.microsoft.com/.default":
            return self.aad_error(400, "invalid_scope", 1002012, f"The provided value for scope {get('scope')} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).")
        secret = next((s for s in app["secrets"] if s["value"] == get("client_secret")), None)
        if secret is None:
            return self.aad_error(401, "invalid_client", 7000215, f"Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{app['clientId']}'.")
        if secret.get("expires") and secret["expires"] < now_text():
            return self.aad_error(401, "invalid_client", 7000222, f"The provided client secret keys for app '{app['clientId']}' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds.")
        with st.lock:
            lifetime = st.token_lifetime
        exp = int(time.time()) + lifetime
        claims = {"aud": "https://graph.microsoft.com", "iss": f"https://sts.windows.net/{tenant}/", "tid": tenant,
                  "appid": app["clientId"], "exp": exp, "nbf": int(time.time()) - 5}
        roles = list(app.get("roles", GRAPH_ROLES))
        if roles:
            claims["roles"] = roles
        token = ".".join([b64url(json.dumps({"typ": "JWT", "alg": "RS256"}).encode()),
                          b64url(json.dumps(claims).encode()), b64url(uuid.uuid4().bytes * 8)])
        with st.lock:
            st.tokens[token] = (app["clientId"], roles, exp)
            st.issued.append(token)
        self.reply(200, {"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime,
                         "access_token": token})

    # --- Graph ----------------------------------------------------------------------------------------------

    def graph(self, method: str, user: str, rest: str):
        st = self.state
        rid = str(uuid.uuid4())
        auth = self.headers.get("Authorization", "")
        with st.lock:
            entry = st.tokens.get(auth[7:]) if auth.startswith("Bearer ") else None
        if entry is None or entry[2] < time.time():
            self.body()
            return self.graph_error(401, "InvalidAuthenticationToken",
                                    "Access token has expired or is not yet valid." if entry else "Access token is empty.", rid,
                                    {"WWW-Authenticate": 'Bearer realm="", error="invalid_token"'})
        _, roles, _ = entry
        box = st.mailboxes.get(user.lower())
        with st.lock:
            throttled = st.throttle_next > 0
            if throttled:
                st.throttle_next -= 1
            key = user.lower()
            busy = st.in_flight.get(key, 0)
            if not throttled and busy >= MAILBOX_CONCURRENCY:
                throttled = True
            if not throttled:
                st.in_flight[key] = busy + 1
                st.max_in_flight[key] = max(st.max_in_flight.get(key, 0), busy + 1)
        if throttled:
            self.body()
            return self.graph_error(429, "ApplicationThrottled", "Application is over its MailboxConcurrency limit.",
                                    rid, {"Retry-After": str(st.retry_after)})
        try:
            self.mailbox_request(method, box, user, rest, roles, rid)
        finally:
            with st.lock:
                st.in_flight[key] -= 1

    def mailbox_request(self, method, box, user, rest, roles, rid):
        headers = {"request-id": rid, "client-request-id": rid}
        if box is None:
            self.body()
            return self.graph_error(404, "ErrorInvalidUser", f"The requested user '{user}' is invalid.", rid)
        if box.get("blockedByPolicy"):
            self.body()
            return self.graph_error(403, "ErrorAccessDenied", "Access to OData is disabled: [RAOP] : Blocked by tenant configured AppOnly AccessPolicy settings.", rid)
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))
        if rest == "/sendMail" and method == "POST":
            if "Mail.Send" not in roles:
                self.body()
                return self.graph_error(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.", rid)
            if not self.headers.get("Content-Type", "").startswith("text/plain"):
                self.body()
                return self.graph_error(400, "ErrorInvalidRequest", "The request body must be base64-encoded MIME with Content-Type text/plain, or JSON.", rid)
            try:
                raw = base64.b64decode(self.body(), validate=True)
            except ValueError:
                return self.graph_error(400, "ErrorMimeContentInvalidBase64String", "Invalid base64 string for MIME content.", rid)
            msg = email.message_from_bytes(raw, policy=email.policy.compat32)
            rcpts = [a for _, a in email.utils.getaddresses(msg.get_all("To", []) + msg.get_all("Cc", []) + msg.get_all("Bcc", []))]
            if not rcpts:
                return self.graph_error(400, "ErrorInvalidRecipients", "At least one recipient isn't valid., Recipient '' isn't resolved. All recipients must be resolved before a message can be submitted.", rid)
            if "Bcc" in msg:
                del msg["Bcc"]
            if box["address"].lower() in self.state.replace_message_id:
                del msg["Message-ID"]
                msg["Message-ID"] = f"<{uuid.uuid4().hex.upper()[:32]}@AM0PR01MB1234.eurprd01.prod.exchangelabs.com>"
            raw = msg.as_bytes()
            refused = self.submit(box, rcpts, raw)
            with self.imap(box) as imap:
                imap.create("Sent")
                imap.append("Sent", "\\Seen", None, raw)
                if refused:
                    # Exchange Online accepted the request; what the next hop refused comes back as an NDR.
                    imap.append("INBOX", None, None, self.ndr(box, msg, refused))
            return self.reply(202, headers=headers)
        if "Mail.ReadWrite" not in roles and "Mail.Read" not in roles:
            self.body()
            return self.graph_error(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.", rid)
        m = re.fullmatch(r"/mailFolders(?:/([^/]+))?(/childFolders)?", rest)
        if m and method == "GET":
            return self.folders(box, m.group(1), bool(m.group(2)), headers, rid)
        m = re.fullmatch(r"(?:/mailFolders/([^/]+))?/messages", rest)
        if m and method == "GET":
            return self.messages(box, m.group(1), query, headers, rid)
        m = re.fullmatch(r"/messages/([^/]+)/permanentDelete", rest)
        if m and method == "POST":
            self.body()
            return self.message(box, "PURGE", urllib.parse.unquote(m.group(1)), False, query, headers, rid)
        m = re.fullmatch(r"/messages/([^/]+)(/\$value)?", rest)
        if m and method in ("GET", "DELETE"):
            return self.message(box, method, urllib.parse.unquote(m.group(1)), bool(m.group(2)), query, headers, rid)
        self.body()
        self.graph_error(400, "BadRequest", f"Resource not found for the segment '{rest}'.", rid)

    # --- the lab behind it ----------------------------------------------------------------------------------

    def submit(self, box, rcpts, raw):
        """Hands the message to the lab's Postfix; returns the recipients it refused, with its reply."""
        lab = self.state.lab
        ctx = ssl.create_default_context(cafile=lab["LAB_CA"])
        with smtplib.SMTP(lab["LAB_HOST"], int(lab["LAB_SUBMISSION_PORT"]), timeout=30) as s:
            s.starttls(context=ctx)
            s.login(box["labUser"], box["labPassword"])
            try:
                refused = s.sendmail(box["address"], rcpts, raw)
            except smtplib.SMTPRecipientsRefused as e:
                refused = e.recipients
            except smtplib.SMTPDataError as e:
                refused = {r: (e.smtp_code, e.smtp_error) for r in rcpts}
        return {r: (code, text.decode(errors="replace") if isinstance(text, bytes) else str(text))
                for r, (code, text) in refused.items()}

    def ndr(self, box, original, refused) -> bytes:
        """A non-delivery report as Exchange Online writes one: multipart/report with a readable part, the
        machine-readable message/delivery-status and the original's headers."""
        domain = box["address"].split("@")[1]
        host = "AM0PR01MB1234.eurprd01.prod.exchangelabs.com"
        boundary = f"--_{uuid.uuid4().hex}_"
        readable = "".join(f"<p><b>{r}</b><br>Remote server returned '{code} {text}'</p>" for r, (code, text) in refused.items())
        status = [f"Reporting-MTA: dns;{host}", f"Received-From-MTA: dns;{host}", f"Arrival-Date: {email.utils.formatdate()}"]
        for r, (code, text) in refused.items():
            enhanced = re.match(r"(\d\.\d{1,3}\.\d{1,3})", text or "")
            status += ["", f"Original-Recipient: rfc822;{r}", f"Final-Recipient: rfc822;{r}", "Action: failed",
                       f"Status: {enhanced.group(1) if enhanced else '5.0.0'}", f"Diagnostic-Code: smtp;{code} {text}"]
        original_headers = "".join(f"{k}: {v}\r\n" for k, v in original.items())
        subject = original.get("Subject", "")
        lines = [
            f"From: Microsoft Outlook <MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@{domain}>",
            f"To: {box['address']}",
            f"Date: {email.utils.formatdate()}",
            f"Subject: Undeliverable: {subject}",
            f"Message-ID: <{uuid.uuid4()}@{host}>",
            "Auto-Submitted: auto-replied",
            "Content-Language: en-US",
            "X-MS-Exchange-Message-Is-Ndr:",
            "MIME-Version: 1.0",
            f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"',
            "",
            f"--{boundary}",
            "Content-Type: text/html; charset=us-ascii",
            "",
            f"<html><body><p>Your message to the recipients below couldn't be delivered.</p>{readable}</body></html>",
            f"--{boundary}",
            "Content-Type: message/delivery-status",
            "",
            *status,
            "",
            f"--{boundary}",
            "Content-Type: text/rfc822-headers",
            "",
            original_headers,
            f"--{boundary}--",
            "",
        ]
        return "\r\n".join(lines).encode()

    def imap(self, box):
        lab = self.state.lab
        ctx = ssl.create_default_context(cafile=lab["LAB_CA"])
        imap = imaplib.IMAP4_SSL(lab["LAB_HOST"], int(lab["LAB_IMAPS_PORT"]), ssl_context=ctx, timeout=30)
        imap.login(box["labUser"], box["labPassword"])
        return imap

    @staticmethod
    def folder_id(name: str) -> str:
        return b64url(b"folder:" + name.encode())

    @staticmethod
    def folder_of(fid: str):
        if fid.lower() in WELL_KNOWN:
            return WELL_KNOWN[fid.lower()]
        try:
            raw = unb64url(fid)
        except ValueError:
            return None
        return raw[7:].decode() if raw.startswith(b"folder:") else None

    def list_folders(self, imap):
        names = []
        typ, data = imap.list()
        for line in data or []:
            m = re.match(rb'\((?P<flags>[^)]*)\) "(?P<sep>[^"]*)" (?P<name>.+)', line)
            if m:
                names.append(m.group("name").decode().strip('"'))
        return names

    def folders(self, box, which, children, headers, rid):
        with self.imap(box) as imap:
            names = self.list_folders(imap)
            if which:
                name = self.folder_of(which)
                if name == RECOVERABLE and name not in names:
                    imap.create(f'"{RECOVERABLE}"')  # always there in Exchange
                    names.append(name)
                if name is None or (name not in names and name != "Sent"):
                    return self.graph_error(404, "ErrorItemNotFound", "The specified object was not found in the store.", rid)
            if children:
                listed = [n for n in names if n.startswith(name + "/") and "/" not in n[len(name) + 1:]]
            elif which:
                listed = [name]
            else:
                listed = [n for n in names if "/" not in n and not hidden(n)]
            value = []
            for n in listed:
                typ, data = imap.status(f'"{n}"', "(MESSAGES UNSEEN)")
                counts = re.findall(rb"(MESSAGES|UNSEEN) (\d+)", data[0] if data and data[0] else b"")
                c = {k.decode(): int(v) for k, v in counts}
                parent = n.rsplit("/", 1)[0] if "/" in n else ""
                kids = sum(1 for o in names if o.startswith(n + "/") and "/" not in o[len(n) + 1:])
                value.append({"id": self.folder_id(n), "displayName": FOLDERS.get(n, n.rsplit("/", 1)[-1]),
                              "parentFolderId": self.folder_id(parent), "childFolderCount": kids,
                              "unreadItemCount": c.get("UNSEEN", 0), "totalItemCount": c.get("MESSAGES", 0),
                              "isHidden": False})
        if which and not children:
            return self.reply(200, dict(value[0], **{"@odata.context": "fake"}), headers)
        self.reply(200, {"@odata.context": "fake", "value": value}, headers)

    def zap(self, box, imap):
        """Removes delivered mail the tests said a defence removes (zero-hour auto purge, an admin's soft
        delete): moved out of Inbox and Junk Email before any listing can see it there."""
        for rule in [z for z in self.state.zaps if z["mailbox"].lower() == box["address"].lower()]:
            target = WELL_KNOWN.get(rule["to"], rule["to"])
            imap.create(f'"{target}"')
            for source in ("INBOX", "Junk"):
                if imap.select(f'"{source}"')[0] != "OK":
                    continue
                typ, data = imap.uid("SEARCH", "TO", f'"{rule["toContains"]}"')
                for uid in (data[0].split() if data and data[0] else []):
                    imap.uid("MOVE", uid, f'"{target}"')

    def messages(self, box, folder, query, headers, rid):
        since, msgid = None, None
        flt = query.get("$filter", "")
        for part in [p.strip() for p in re.split(r"\s+and\s+", flt) if p.strip()]:
            m = re.fullmatch(r"receivedDateTime ge (\S+)", part)
            n = re.fullmatch(r"internetMessageId eq '(.*)'", part)
            if m:
                try:
                    since = datetime.fromisoformat(m.group(1).replace("Z", "+00:00"))
                except ValueError:
                    return self.graph_error(400, "BadRequest", f"The DateTimeOffset text '{m.group(1)}' should be in format 'yyyy-mm-ddThh:mm:ss('.'s+)?(zzzzzz)?' and each field value is within valid range.", rid)
            elif n:
                msgid = n.group(1).replace("''", "'")
            else:
                return self.graph_error(400, "ErrorInvalidUrlQueryFilter", "The query filter contains one or more invalid nodes.", rid)
        top = min(int(query.get("$top", "10")), 1000)
        skip = int(query.get("$skip", "0"))
        want_headers = "internetMessageHeaders" in query.get("$select", "")
        found = []
        with self.imap(box) as imap:
            self.zap(box, imap)
            names = [self.folder_of(folder)] if folder else [n for n in self.list_folders(imap) if not hidden(n)]
            for name in names:
                if name is None or imap.select(f'"{name}"', readonly=True)[0] != "OK":
                    continue
                uidvalidity = imap.response("UIDVALIDITY")[1][0].decode()
                crit = ["ALL"]
                if since:
                    crit = ["SINCE", since.strftime("%d-%b-%Y")]
                if msgid:
                    crit += ["HEADER", "Message-ID", msgid]
                typ, data = imap.uid("SEARCH", *crit)
                uids = data[0].split() if data and data[0] else []
                # Dates and flags of all in one command; headers (which never change for a UID) fetched once.
                metas = {}
                if uids:
                    typ, fetched = imap.uid("FETCH", b",".join(uids).decode(), "(UID INTERNALDATE FLAGS)")
                    for line in fetched or []:
                        line = line[0] if isinstance(line, tuple) else line
                        m = re.search(rb"UID (\d+)", line or b"")
                        if m:
                            metas[m.group(1)] = line
                key = lambda uid: (box["labUser"], name, uidvalidity, uid)
                with self.state.lock:
                    missing = [u for u in metas if key(u) not in self.state.headers]
                if missing:
                    typ, fetched = imap.uid("FETCH", b",".join(missing).decode(), "(UID BODY.PEEK[HEADER])")
                    for x in fetched or []:
                        m = re.search(rb"UID (\d+)", x[0]) if isinstance(x, tuple) else None
                        if m:
                            with self.state.lock:
                                self.state.headers[key(m.group(1))] = x[1]
                for uid, meta in metas.items():
                    with self.state.lock:
                        head = self.state.headers.get(key(uid), b"")
                    when = imaplib.Internaldate2tuple(meta)
                    received = datetime.fromtimestamp(time.mktime(when), timezone.utc) if when else datetime.now(timezone.utc)
                    received_text = received.strftime("%Y-%m-%dT%H:%M:%SZ")
                    if since and received < since:
                        continue
                    h = email.message_from_bytes(head, policy=email.policy.compat32)
                    if msgid and (h.get("Message-ID") or "").strip() != msgid:
                        continue
                    mid = b64url(f"msg:{name}\0{uidvalidity}\0{uid.decode()}".encode())
                    item = {
                        "id": mid, "receivedDateTime": received_text, "subject": str(email.header.make_header(email.header.decode_header(h.get("Subject", "")))),
                        "internetMessageId": (h.get("Message-ID") or "").strip(), "parentFolderId": self.folder_id(name),
                        "isRead": b"\\Seen" in meta,
                        "from": {"emailAddress": {"name": "", "address": email.utils.parseaddr(h.get("From", ""))[1]}},
                        "toRecipients": [{"emailAddress": {"name": "", "address": a}} for _, a in email.utils.getaddresses(h.get_all("To", []))],
                    }
                    if want_headers:
                        item["internetMessageHeaders"] = [{"name": k, "value": str(v)} for k, v in h.items()]
                    found.append(item)
        found.sort(key=lambda x: (x["receivedDateTime"], x["id"]), reverse=True)
        page = found[skip:skip + top]
        body = {"@odata.context": "fake", "value": page}
        if skip + top < len(found):
            q = dict(query)
            q["$skip"] = str(skip + top)
            body["@odata.nextLink"] = f"http://{self.headers['Host']}{urllib.parse.urlsplit(self.path).path}?{urllib.parse.urlencode(q)}"
        self.reply(200, body, headers)

    def message(self, box, method, mid, value, query, headers, rid):
        try:
            kind, rest = unb64url(mid).decode().split(":", 1)
            name, uidvalidity, uid = rest.split("\0")
            assert kind == "msg"
        except Exception:
            return self.graph_error(400, "ErrorInvalidIdMalformed", "Id is malformed.", rid)
        missing = lambda: self.graph_error(404, "ErrorItemNotFound", "The specified object was not found in the store.", rid)
        with self.imap(box) as imap:
            if imap.select(f'"{name}"', readonly=(method == "GET"))[0] != "OK" or imap.response("UIDVALIDITY")[1][0].decode() != uidvalidity:
                return missing()
            if method == "PURGE":
                # permanentDelete: to the Purges folder, out of every listing.
                typ, _ = imap.uid("STORE", uid, "+FLAGS", "(\\Deleted)")
                if typ != "OK":
                    return missing()
                imap.expunge()
                return self.reply(204, headers=headers)
            if method == "DELETE":
                # Graph's DELETE moves the message to Deleted Items.
                typ, _ = imap.uid("MOVE", uid, "Trash") if name != "Trash" else imap.uid("STORE", uid, "+FLAGS", "(\\Deleted)")
                if typ != "OK":
                    return missing()
                if name == "Trash":
                    imap.expunge()
                return self.reply(204, headers=headers)
            typ, fetched = imap.uid("FETCH", uid, "(BODY.PEEK[])")
            raw = b"".join(x[1] for x in fetched if isinstance(x, tuple))
            if not raw:
                return missing()
            if value:
                return self.reply(200, headers=headers, raw=raw, content_type="text/plain")
            return self.reply(200, {"id": mid}, headers)


def main():
    fakelab.run(Handler, State, "mailboxes")


if __name__ == "__main__":
    sys.exit(main())
