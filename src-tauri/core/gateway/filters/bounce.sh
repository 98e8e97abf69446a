#!/bin/sh
# Gateway filter: accept the message, then refuse it after the SMTP session ended. Exit 69 (EX_UNAVAILABLE)
# makes Postfix bounce it, and the sender receives a delivery status notification with this text.
cat > /dev/null
echo "5.7.1 Lab gateway policy: message refused after acceptance"
exit 69
