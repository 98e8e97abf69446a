#!/usr/bin/env python3
"""Gateway filter: report the message to the gateway's alerts mailbox, as a gateway's rule that notifies an
administrator does. With --deliver the message goes on to its recipients untouched (an "incident report" rule:
Exchange's transport rule action "Generate incident report and send it to"); with --quarantine it is held and
never delivered, and the notice says so (a quarantine notice).

Run by Postfix's pipe(8) as `notify --deliver|--quarantine ALERTS -f SENDER -- RECIPIENT...` with the message on
stdin. The notice names the message the way real ones do: its Message-ID, sender, recipients and subject in the
text, not as headers of the notice.
"""
import email
import email.policy
import email.utils
import smtplib
import sys
from email.message import EmailMessage

REINJECT = ("127.0.0.1", @REINJECT@)


def main() -> int:
    mode, alerts, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    sender = args[1] if args[:1] == ["-f"] else ""
    recipients = args[args.index("--") + 1:]
    raw = sys.stdin.buffer.read()
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    if mode == "--deliver":
        code = reinject(sender, recipients, raw)
        if code:
            return code
    notice = EmailMessage()
    notice["From"] = "Lab gateway <gateway-alerts@example.test>"
    notice["To"] = alerts
    notice["Date"] = email.utils.formatdate(localtime=False)
    notice["Message-ID"] = email.utils.make_msgid(domain="gateway.example.test")
    held = mode == "--quarantine"
    notice["Subject"] = (
        f"Quarantine notice: 1 message held for {', '.join(recipients)}" if held
        else f"Incident report: a message to {', '.join(recipients)} matched a lab gateway rule"
    )
    notice.set_content("\n".join([
        "A message was held in quarantine and not delivered." if held
        else "A message matched a rule that reports it. It was delivered.",
        "",
        f"Message ID: {msg.get('Message-ID', '')}",
        f"Sender: {sender}",
        f"Subject: {msg.get('Subject', '')}",
        f"To: {', '.join(recipients)}",
        "Severity: Medium",
        "Rule Hit: Rule: lab-notify, Action: " + ("Quarantine" if held else "GenerateIncidentReport"),
    ]) + "\n")
    return reinject("", [alerts], notice.as_bytes())


def reinject(sender: str, recipients: list, data: bytes) -> int:
    try:
        with smtplib.SMTP(*REINJECT, timeout=30) as smtp:
            smtp.sendmail(sender, recipients, data)
    except (OSError, smtplib.SMTPException) as e:
        print(f"4.3.0 notify filter could not re-inject: {e}")
        return 75  # EX_TEMPFAIL: Postfix retries later
    return 0


if __name__ == "__main__":
    sys.exit(main())
