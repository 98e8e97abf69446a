#!/usr/bin/env python3
"""A fake Google OAuth 2.0 server and Gmail API (mail) on loopback, backed by the lab's real mail chain.

OAuth: the consent page (/o/oauth2/v2/auth) consents at once for the account the config names as signed in and
redirects to the client's loopback redirect_uri with a code and the state, as Google does once the user chose
Allow (or with error=access_denied when told to refuse); the token endpoint (/token) takes the authorization-code
grant only with the right client secret, redirect_uri and PKCE S256 verifier, and the refresh-token grant; errors
are Google's {"error", "error_description"} bodies (invalid_grant "Token has been expired or revoked.",
invalid_client, redirect_uri_mismatch). Tokens are opaque ("ya29." and "1//" prefixed) as Google's are. With no
account signed in, the consent is the login_hint's (the lab's own issuer runs so). Google's token checks are
served as mail servers use them: /oauth2/v3/tokeninfo?access_token= (the token's email, scope, expiry; 400
"invalid_token" otherwise) and /oauth2/v2/userinfo (Bearer), which the lab's Dovecot asks for XOAUTH2 and
OAUTHBEARER sign-ins (its oauth2 passdb, configured as Dovecot's documentation does for Google).

Gmail: /gmail/v1/users/me/{profile, labels, messages, messages/ID, messages/ID/trash, history} and the media
upload /upload/gmail/v1/users/me/messages/send, with Google's JSON error bodies ({"error": {"code", "message",
"errors": [{"reason"}], "status"}}) and 429 rateLimitExceeded when throttled. Mail is real: a send goes to the
lab's Postfix (submission, STARTTLS, as the account's lab user) and a copy is kept in the lab mailbox's "Sent"
(label SENT); the mailbox is the lab user's Dovecot mailbox over IMAPS: INBOX is INBOX, Junk is SPAM, Trash is
TRASH, other folders are user labels. History ids grow as the fake first sees each message; a control can make
every older start point expire (404), as Gmail's do after about a week.

    python3 tests/fakes/google.py --lab-env /tmp/lab/lab.env --config fake.json

prints "listening on http://127.0.0.1:PORT". The config names the OAuth clients (id, secret) and the accounts
(address → lab user) with the one signed in to the browser. POST /_fake/control changes that at run time
({"signedIn": address}, {"refuseConsent": true}, {"revoke": address}, {"throttleNext": N}, {"expireHistory":
true}, {"replaceMessageId": address}); GET /_fake/log lists every request, every token issued and its grant.
"""

import base64
import email
import email.policy
import email.utils
import hashlib
import imaplib
import json
import re
import secrets
import smtplib
import ssl
import sys
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler

import fakelab

SCOPE = "https://www.googleapis.com/auth/gmail.modify"
FOLDER_LABELS = {"INBOX": "INBOX", "Junk": "SPAM", "Trash": "TRASH", "Sent": "SENT"}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


class State:
    def __init__(self, lab, config):
        self.lab = lab
        self.clients = {c["id"]: c for c in config["clients"]}
        self.accounts = {a["address"].lower(): a for a in config["accounts"]}
        self.signed_in = config.get("signedIn")
        self.refuse = False
        self.codes = {}  # code -> (client, redirect, challenge, address)
        self.refresh = {}  # refresh token -> (client, address, scope)
        self.access = {}  # access token -> (address, expiry, scope, client)
        self.issued = []
        self.grants = []  # {grant, account} of every token issued
        self.verifiers = []  # every PKCE code verifier a client sent
        self.lock = threading.Lock()
        self.log = []
        self.throttle_next = 0
        self.history = {}  # address -> {"next": int, "ids": {key: (gmail id, history id)}, "floor": int}
        self.replace_message_id = set()

    def control(self, body):
        with self.lock:
            if "signedIn" in body:
                self.signed_in = body["signedIn"]
            if "refuseConsent" in body:
                self.refuse = bool(body["refuseConsent"])
            if "revoke" in body:
                who = body["revoke"].lower()
                self.refresh = {t: v for t, v in self.refresh.items() if v[1] != who}
                self.access = {t: v for t, v in self.access.items() if v[0] != who}
            if "throttleNext" in body:
                self.throttle_next = int(body["throttleNext"])
            if "expireHistory" in body:
                # Every mark handed out so far is too old now, including the latest (a mailbox where nothing
                # happened since would otherwise keep its mark, and the test would depend on its neighbours).
                for h in self.history.values():
                    h["next"] += 1
                    h["floor"] = h["next"]
            if "replaceMessageId" in body:
                self.replace_message_id.add(body["replaceMessageId"].lower())


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state: State = None

    def log_message(self, fmt, *args):
        pass

    def reply(self, status, body=None, headers=None, raw=None, content_type="application/json"):
        data = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data:
            self.wfile.write(data)
        with self.state.lock:
            self.state.log.append({"method": self.command, "path": self.path, "status": status})

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def oauth_error(self, status, error, description):
        self.reply(status, {"error": error, "error_description": description})

    def api_error(self, code, status, message, reason, domain="global"):
        self.reply(code, {"error": {"code": code, "message": message,
                                    "errors": [{"message": message, "domain": domain, "reason": reason}],
                                    "status": status}})

    def do_GET(self):
        self.route("GET")

    def do_POST(self):
        self.route("POST")

    def route(self, method):
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        path = url.path
        if path == "/_fake/log":
            with self.state.lock:
                log = {"requests": list(self.state.log), "issuedTokens": list(self.state.issued),
                       "grants": list(self.state.grants), "verifiers": list(self.state.verifiers)}
            return self.reply(200, log)
        if path == "/_fake/control" and method == "POST":
            self.state.control(json.loads(self.body() or b"{}"))
            return self.reply(200, {"ok": True})
        if path == "/o/oauth2/v2/auth" and method == "GET":
            return self.consent(query)
        if path == "/token" and method == "POST":
            return self.token(dict(urllib.parse.parse_qsl(self.body().decode())))
        if path == "/oauth2/v3/tokeninfo":
            self.body()
            return self.tokeninfo(query.get("access_token", ""))
        if path == "/oauth2/v2/userinfo" and method == "GET":
            return self.userinfo()
        if path.startswith("/gmail/v1/users/me/") or path == "/upload/gmail/v1/users/me/messages/send":
            return self.gmail(method, path, query)
        self.body()
        self.reply(404, raw=b"<html><body>Not Found</body></html>", content_type="text/html")

    # --- OAuth ------------------------------------------------------------------------------------------------

    def consent(self, q):
        st = self.state
        client = st.clients.get(q.get("client_id", ""))
        redirect = q.get("redirect_uri", "")
        if client is None:
            return self.reply(401, raw=b"<html>Error 401: invalid_client. The OAuth client was not found.</html>", content_type="text/html")
        if not re.fullmatch(r"http://127\.0\.0\.1:\d+/?", redirect):
            return self.reply(400, raw=b"<html>Error 400: redirect_uri_mismatch</html>", content_type="text/html")
        if q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
            return self.reply(400, raw=b"<html>Error 400: invalid_request. Missing code_challenge.</html>", content_type="text/html")
        state = urllib.parse.quote(q.get("state", ""), safe="")
        with st.lock:
            refuse, who = st.refuse, st.signed_in or q.get("login_hint", "")
        if not who:
            return self.reply(200, raw=b"<html>Choose an account</html>", content_type="text/html")
        if refuse:
            return self.reply(302, headers={"Location": f"{redirect}?error=access_denied&state={state}"}, raw=b"")
        code = "4/0A" + secrets.token_urlsafe(40)
        with st.lock:
            st.codes[code] = (client["id"], redirect, q["code_challenge"], who.lower(), q.get("scope", ""))
        scope = urllib.parse.quote(q.get("scope", ""), safe="")
        self.reply(302, headers={"Location": f"{redirect}?state={state}&code={urllib.parse.quote(code, safe='')}&scope={scope}"}, raw=b"")

    def token(self, form):
        st = self.state
        client = st.clients.get(form.get("client_id", ""))
        if client is None:
            return self.oauth_error(401, "invalid_client", "The OAuth client was not found.")
        if form.get("client_secret") != client["secret"]:
            return self.oauth_error(401, "invalid_client", "Unauthorized")
        grant = form.get("grant_type")
        if grant == "authorization_code":
            with st.lock:
                entry = st.codes.pop(form.get("code", ""), None)
            if entry is None or entry[0] != client["id"]:
                return self.oauth_error(400, "invalid_grant", "Malformed auth code.")
            _, redirect, challenge, who, scope = entry
            if form.get("redirect_uri") != redirect:
                return self.oauth_error(400, "redirect_uri_mismatch", "Bad Request")
            verifier = form.get("code_verifier", "")
            with st.lock:
                st.verifiers.append(verifier)
            if b64url(hashlib.sha256(verifier.encode()).digest()) != challenge:
                return self.oauth_error(400, "invalid_grant", "Invalid code verifier.")
            refresh = "1//0g" + secrets.token_urlsafe(60)
            with st.lock:
                st.refresh[refresh] = (client["id"], who, scope)
                st.issued.append(refresh)
            return self.issue(who, scope, refresh, client["id"])
        if grant == "refresh_token":
            with st.lock:
                entry = st.refresh.get(form.get("refresh_token", ""))
            if entry is None or entry[0] != client["id"]:
                return self.oauth_error(400, "invalid_grant", "Token has been expired or revoked.")
            return self.issue(entry[1], entry[2], None, client["id"])
        self.oauth_error(400, "unsupported_grant_type", f"Invalid grant_type: {grant}")

    def issue(self, who, scope, refresh, client):
        access = "ya29.a0" + secrets.token_urlsafe(90)
        with self.state.lock:
            self.state.grants.append({"grant": "authorization_code" if refresh else "refresh_token", "account": who})
            self.state.access[access] = (who, time.time() + 3599, scope, client)
            self.state.issued.append(access)
        body = {"access_token": access, "expires_in": 3599, "scope": scope, "token_type": "Bearer"}
        if refresh:
            body["refresh_token"] = refresh
        self.reply(200, body)

    def tokeninfo(self, token):
        with self.state.lock:
            entry = self.state.access.get(token)
        if entry is None or entry[1] < time.time():
            return self.reply(400, {"error": "invalid_token", "error_description": "Invalid Value"})
        who, expiry, scope, client = entry
        self.reply(200, {"azp": client, "aud": client, "sub": str(abs(hash(who)) % 10**21), "scope": scope,
                         "exp": str(int(expiry)), "expires_in": str(int(expiry - time.time())), "email": who,
                         "email_verified": "true", "access_type": "offline"})

    def userinfo(self):
        auth = self.headers.get("Authorization", "")
        with self.state.lock:
            entry = self.state.access.get(auth[7:]) if auth.startswith("Bearer ") else None
        self.body()
        if entry is None or entry[1] < time.time():
            return self.reply(401, {"error": {"code": 401, "message": "Request is missing required authentication credential.", "status": "UNAUTHENTICATED"}})
        self.reply(200, {"id": str(abs(hash(entry[0])) % 10**21), "email": entry[0], "verified_email": True})

    # --- Gmail ------------------------------------------------------------------------------------------------

    def gmail(self, method, path, query):
        st = self.state
        auth = self.headers.get("Authorization", "")
        with st.lock:
            entry = st.access.get(auth[7:]) if auth.startswith("Bearer ") else None
            throttled = st.throttle_next > 0
            if throttled:
                st.throttle_next -= 1
        if entry is None or entry[1] < time.time():
            self.body()
            return self.api_error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.", "authError")
        if throttled:
            self.body()
            return self.api_error(429, "RESOURCE_EXHAUSTED", "Too many concurrent requests for user.", "rateLimitExceeded")
        account = st.accounts.get(entry[0])
        if account is None:
            self.body()
            return self.api_error(400, "FAILED_PRECONDITION", "Mail service not enabled", "failedPrecondition")
        rest = path.split("/users/me", 1)[1]
        if rest == "/messages/send" and method == "POST":
            return self.send(account)
        if rest == "/profile" and method == "GET":
            with self.imap(account) as imap:
                h = self.scan(account, imap)
            return self.reply(200, {"emailAddress": account["address"], "messagesTotal": len(h["ids"]),
                                    "threadsTotal": len(h["ids"]), "historyId": str(h["next"])})
        if rest == "/labels" and method == "GET":
            with self.imap(account) as imap:
                names = self.folders(imap)
            labels = [{"id": l, "name": l, "type": "system"} for l in ("INBOX", "SPAM", "TRASH", "SENT", "UNREAD")]
            labels += [{"id": self.label_id(n), "name": n, "type": "user"} for n in names if n not in FOLDER_LABELS]
            return self.reply(200, {"labels": labels})
        if rest == "/history" and method == "GET":
            return self.history(account, query)
        if rest == "/messages" and method == "GET":
            return self.search(account, query)
        m = re.fullmatch(r"/messages/([0-9a-f]+)(/trash)?", rest)
        if m:
            self.body()
            return self.message(account, m.group(1), bool(m.group(2)), query)
        self.body()
        self.api_error(404, "NOT_FOUND", "Requested entity was not found.", "notFound")

    def send(self, account):
        if self.headers.get("Content-Type", "").split(";")[0].strip() != "message/rfc822":
            self.body()
            return self.api_error(400, "INVALID_ARGUMENT", "Media type 'application/octet-stream' is not supported. Valid media types: [message/*]", "badContent")
        raw = self.body()
        msg = email.message_from_bytes(raw, policy=email.policy.compat32)
        rcpts = [a for _, a in email.utils.getaddresses(msg.get_all("To", []) + msg.get_all("Cc", []) + msg.get_all("Bcc", []))]
        if not rcpts:
            return self.api_error(400, "INVALID_ARGUMENT", "Invalid To header", "invalidArgument")
        if "Bcc" in msg:
            del msg["Bcc"]
        if account["address"].lower() in self.state.replace_message_id or "Message-ID" not in msg:
            del msg["Message-ID"]
            msg["Message-ID"] = f"<CA+{secrets.token_urlsafe(30)}@mail.gmail.com>"
        raw = msg.as_bytes()
        lab = self.state.lab
        ctx = ssl.create_default_context(cafile=lab["LAB_CA"])
        refused = {}
        with smtplib.SMTP(lab["LAB_HOST"], int(lab["LAB_SUBMISSION_PORT"]), timeout=30) as s:
            s.starttls(context=ctx)
            s.login(account["labUser"], account["labPassword"])
            try:
                refused = s.sendmail(account["address"], rcpts, raw)
            except smtplib.SMTPRecipientsRefused as e:
                refused = e.recipients
            except smtplib.SMTPDataError as e:
                refused = {r: (e.smtp_code, e.smtp_error) for r in rcpts}
        with self.imap(account) as imap:
            imap.create("Sent")
            imap.append("Sent", "\\Seen", None, raw)
            if refused:
                # Gmail accepted it; the next hop's refusal comes back as a bounce from mailer-daemon.
                imap.append("INBOX", None, None, self.bounce(account, msg, refused))
            h = self.scan(account, imap)
        sent = [gid for key, (gid, _) in h["ids"].items() if key[0] == "Sent"]
        self.reply(200, {"id": sent[-1] if sent else "0", "threadId": sent[-1] if sent else "0", "labelIds": ["SENT"]})

    def bounce(self, account, original, refused):
        boundary = f"{uuid.uuid4().hex}"
        lines = [f"From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>", f"To: {account['address']}",
                 f"Date: {email.utils.formatdate()}", f"Subject: Delivery Status Notification (Failure)",
                 f"Message-ID: <{uuid.uuid4().hex}@mx.google.com>", "Auto-Submitted: auto-replied", "MIME-Version: 1.0",
                 f'Content-Type: multipart/report; boundary="{boundary}"; report-type=delivery-status', "",
                 f"--{boundary}", "Content-Type: text/plain; charset=UTF-8", "",
                 "** Address not found **" if any(str(c).startswith("55") for c, _ in refused.values()) else "** Message blocked **", ""]
        lines += [f"Your message wasn't delivered to {r}. The response was: {c} {t if isinstance(t, str) else t.decode(errors='replace')}" for r, (c, t) in refused.items()]
        lines += ["", f"--{boundary}", "Content-Type: message/delivery-status", "", "Reporting-MTA: dns; googlemail.com", ""]
        for r, (c, t) in refused.items():
            text = t if isinstance(t, str) else t.decode(errors="replace")
            status = re.match(r"(\d\.\d{1,3}\.\d{1,3})", text)
            lines += [f"Final-Recipient: rfc822; {r}", "Action: failed", f"Status: {status.group(1) if status else '5.0.0'}",
                      f"Diagnostic-Code: smtp; {c} {text}", ""]
        lines += [f"--{boundary}", "Content-Type: text/rfc822-headers", "", "".join(f"{k}: {v}\r\n" for k, v in original.items()), f"--{boundary}--", ""]
        return "\r\n".join(lines).encode()

    # --- the lab mailbox behind it ----------------------------------------------------------------------------

    def imap(self, account):
        lab = self.state.lab
        ctx = ssl.create_default_context(cafile=lab["LAB_CA"])
        imap = imaplib.IMAP4_SSL(lab["LAB_HOST"], int(lab["LAB_IMAPS_PORT"]), ssl_context=ctx, timeout=30)
        imap.login(account["labUser"], account["labPassword"])
        return imap

    @staticmethod
    def folders(imap):
        names = []
        for line in imap.list()[1] or []:
            m = re.match(rb'\([^)]*\) "[^"]*" (?P<name>.+)', line)
            if m:
                names.append(m.group("name").decode().strip('"'))
        return names

    @staticmethod
    def label_id(name):
        return "Label_" + hashlib.sha1(name.encode()).hexdigest()[:8]

    def scan(self, account, imap):
        """Gives every message the fake has not seen yet a Gmail id and a history record, oldest first."""
        st = self.state
        key_of = account["address"].lower()
        with st.lock:
            h = st.history.setdefault(key_of, {"next": 1000, "ids": {}, "floor": 0, "where": {}})
        for name in self.folders(imap):
            if imap.select(f'"{name}"', readonly=True)[0] != "OK":
                continue
            validity = imap.response("UIDVALIDITY")[1][0].decode()
            uids = (imap.uid("SEARCH", "ALL")[1][0] or b"").split()
            for uid in uids:
                key = (name, validity, uid.decode())
                with st.lock:
                    if key not in h["ids"]:
                        h["next"] += 1
                        gid = format(int(time.time() * 1000), "x") + format(h["next"], "04x")
                        h["ids"][key] = (gid, h["next"])
                        h["where"][gid] = key
        # A message moved (trashed, filed as spam by a rule) shows up under its new folder with an id of its own;
        # its old id answers 404 from then on, as a deleted Gmail message does.
        return h

    def labels_of(self, name, flags):
        label = FOLDER_LABELS.get(name, self.label_id(name))
        out = [label]
        if b"\\Seen" not in flags and name != "Sent":
            out.append("UNREAD")
        return out

    def history(self, account, query):
        try:
            start = int(query.get("startHistoryId", ""))
        except ValueError:
            return self.api_error(400, "INVALID_ARGUMENT", "Invalid startHistoryId", "invalidArgument")
        with self.imap(account) as imap:
            h = self.scan(account, imap)
        if start < h["floor"]:
            return self.api_error(404, "NOT_FOUND", "Requested entity was not found.", "notFound")
        added = sorted((hid, gid, key) for key, (gid, hid) in h["ids"].items() if hid > start)
        records = [{"id": str(hid), "messages": [{"id": gid, "threadId": gid}],
                    "messagesAdded": [{"message": {"id": gid, "threadId": gid, "labelIds": [FOLDER_LABELS.get(key[0], self.label_id(key[0]))]}}]}
                   for hid, gid, key in added]
        body = {"historyId": str(h["next"])}
        if records:
            body["history"] = records
        self.reply(200, body)

    def search(self, account, query):
        q = query.get("q", "")
        spam_trash = query.get("includeSpamTrash") == "true"
        after = re.search(r"after:(\d+)", q)
        subject = re.search(r"subject:\((.*?)\)", q) or re.search(r'subject:"(.*?)"', q)
        msgid = re.search(r"rfc822msgid:(\S+)", q)
        found = []
        with self.imap(account) as imap:
            h = self.scan(account, imap)
            for (name, validity, uid), (gid, hid) in sorted(h["ids"].items(), key=lambda kv: -kv[1][1]):
                if not spam_trash and name in ("Junk", "Trash"):
                    continue
                if imap.select(f'"{name}"', readonly=True)[0] != "OK":
                    continue
                typ, data = imap.uid("FETCH", uid, "(INTERNALDATE BODY.PEEK[HEADER])")
                parts = [x for x in data or [] if isinstance(x, tuple)]
                if not parts:
                    continue
                when = imaplib.Internaldate2tuple(parts[0][0])
                if after and when and time.mktime(when) < int(after.group(1)):
                    continue
                head = email.message_from_bytes(parts[0][1], policy=email.policy.compat32)
                if subject and subject.group(1) not in str(head.get("Subject", "")):
                    continue
                if msgid and msgid.group(1).strip("<>") != (head.get("Message-ID") or "").strip().strip("<>"):
                    continue
                found.append({"id": gid, "threadId": gid})
        body = {"resultSizeEstimate": len(found)}
        if found:
            body["messages"] = found
        self.reply(200, body)

    def message(self, account, gid, trash, query):
        with self.imap(account) as imap:
            h = self.scan(account, imap)
            key = h["where"].get(gid)
            if key is None:
                return self.api_error(404, "NOT_FOUND", "Requested entity was not found.", "notFound")
            name, validity, uid = key
            if imap.select(f'"{name}"', readonly=not trash)[0] != "OK" or imap.response("UIDVALIDITY")[1][0].decode() != validity:
                return self.api_error(404, "NOT_FOUND", "Requested entity was not found.", "notFound")
            if trash:
                if name != "Trash":
                    imap.create("Trash")
                    imap.uid("MOVE", uid, "Trash")
                self.scan(account, imap)
                return self.reply(200, {"id": gid, "threadId": gid, "labelIds": ["TRASH"]})
            typ, data = imap.uid("FETCH", uid, "(FLAGS INTERNALDATE BODY.PEEK[])")
            parts = [x for x in data or [] if isinstance(x, tuple)]
            if not parts:
                return self.api_error(404, "NOT_FOUND", "Requested entity was not found.", "notFound")
            meta, raw = parts[0]
            when = imaplib.Internaldate2tuple(meta)
            item = {"id": gid, "threadId": gid, "labelIds": self.labels_of(name, meta), "historyId": str(h["ids"][key][1]),
                    "internalDate": str(int(time.mktime(when) * 1000) if when else int(time.time() * 1000)),
                    "sizeEstimate": len(raw), "snippet": ""}
            fmt = query.get("format", "full")
            if fmt == "raw":
                item["raw"] = base64.urlsafe_b64encode(raw).decode()
            else:
                head = email.message_from_bytes(raw.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n", policy=email.policy.compat32)
                item["payload"] = {"mimeType": head.get_content_type(), "headers": [{"name": k, "value": str(v)} for k, v in head.items()]}
            self.reply(200, item)


def main():
    fakelab.run(Handler, State, "accounts")


if __name__ == "__main__":
    sys.exit(main())
