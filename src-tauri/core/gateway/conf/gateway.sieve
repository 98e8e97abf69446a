require ["fileinto", "mailbox"];
# Mail the gateway flagged as spam goes to Junk, as a real gateway + mailbox would do.
if header :contains "X-Spam-Flag" "YES" {
  fileinto :create "Junk";
  stop;
}
