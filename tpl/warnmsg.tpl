From: MAILER-DAEMON@${host_name}
To: ${return_path}
Subject: Delayed: your message has not been delivered yet
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/mixed;
	boundary="${uid}/${host_name}"
Content-Transfer-Encoding: 8bit

This report is in MIME format. The notice is in the first part, the
headers of your original message in the second.

--${uid}/${host_name}
Content-Type: text/plain; charset=utf-8
Content-Description: Notification

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

--${uid}/${host_name}
Content-Type: text/rfc822-headers
Content-Description: Undelivered Message Headers
Content-Transfer-Encoding: 8bit

@msg_headers

--${uid}/${host_name}--
