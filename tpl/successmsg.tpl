From: MAILER-DAEMON@${host_name}
To: ${return_path}
Subject: Delivered: your message has been delivered
Auto-Submitted: auto-replied
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

Hello,

this is an automatic report from the mail system at ${host_name}
(${package} ${version}).

You asked to be told when your message reached the following
addresses. It was delivered to them, or handed on to a system that
does not send such reports:

@failed_rcpts

The delivery status follows in the second part of this report, the
headers of your original message in the third.
