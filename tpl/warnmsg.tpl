From: MAILER-DAEMON@${host_name}
To: ${return_path}
Subject: Delayed: your message has not been delivered yet
Auto-Submitted: auto-replied
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

Hello,

this is an automatic report from the mail system at ${host_name}
(${package} ${version}).

Your message could not be delivered yet to the following addresses:

@failed_rcpts

Details about the delay:

${err_msg}

There is nothing you need to do now. Delivery will be tried again
until it succeeds or the retry period ends; in the latter case you
will receive a separate failure report.

If you have questions, the administrator of this system can be
reached at <postmaster@${host_name}>.

The delivery status follows in the second part of this report, the
headers of your original message in the third.
