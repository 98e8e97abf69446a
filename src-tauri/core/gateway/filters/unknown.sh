#!/bin/sh
# Gateway filter: accept the message, then report its recipient unknown after the SMTP session ended, as a
# gateway in front of a directory that no longer has the mailbox does. Exit 67 (EX_NOUSER) makes Postfix bounce
# it with a delivery status notification; the text below is its diagnostic.
cat > /dev/null
echo "5.1.1 Lab gateway policy: no mailbox here by that name (user unknown)"
exit 67
