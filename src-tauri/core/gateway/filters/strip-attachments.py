#!/usr/bin/env python3
"""Gateway filter: remove every attachment, note it in a header, and re-inject the message. With --tag, leave
the attachments and prefix the Subject with [SUSPICIOUS] instead.

Run by Postfix's pipe(8) as `strip-attachments [--tag] -f SENDER -- RECIPIENT...` with the message on stdin.
"""
import email
import email.policy
import smtplib
import sys

REINJECT = ("127.0.0.1", @REINJECT@)


def main() -> int:
    args = sys.argv[1:]
    tag = args[:1] == ["--tag"]
    if tag:
        args = args[1:]
    sender = args[1] if args[:1] == ["-f"] else ""
    recipients = args[args.index("--") + 1:]
    msg = email.message_from_binary_file(sys.stdin.buffer, policy=email.policy.default)
    if tag:
        subject = msg.get("Subject", "")
        del msg["Subject"]
        msg["Subject"] = f"[SUSPICIOUS] {subject}"
        return reinject(sender, recipients, msg.as_bytes())
    removed = []
    if msg.is_multipart():
        for part in list(msg.walk()):
            if part.is_multipart():
                kept = []
                for child in part.get_payload():
                    if child.is_attachment() or (not child.is_multipart() and child.get_content_maintype() not in ("text",)):
                        removed.append(child.get_filename() or child.get_content_type())
                    else:
                        kept.append(child)
                part.set_payload(kept)
    msg["X-Lab-Stripped"] = f"{len(removed)} attachment(s) removed: {', '.join(removed) or 'none'}"
    return reinject(sender, recipients, msg.as_bytes())


def reinject(sender: str, recipients: list, data: bytes) -> int:
    try:
        with smtplib.SMTP(*REINJECT, timeout=30) as smtp:
            smtp.sendmail(sender, recipients, data)
    except (OSError, smtplib.SMTPException) as e:
        print(f"4.3.0 strip filter could not re-inject: {e}")
        return 75  # EX_TEMPFAIL: Postfix retries later
    return 0


if __name__ == "__main__":
    sys.exit(main())
