From: MAILER-DAEMON@${host_name}
To: ${return_path}
Subject: Undeliverable: your message could not be delivered
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/mixed;
	boundary="${uid}/${host_name}"
Content-Transfer-Encoding: 8bit

This report is in MIME format. The notice is in the first part, your
original message in the second.

--${uid}/${host_name}
Content-Type: text/plain; charset=utf-8
Content-Description: Notification

Hello,

this is an automatic report from the mail system at ${host_name}
(${package} ${version}).

Your message was not delivered to the following addresses, and no
further attempts will be made:

@failed_rcpts

Details about the failure:

${err_msg}

Please check the addresses and send the message again. If the problem
persists, the administrator of this system can be reached at
<postmaster@${host_name}>; please include this report.

Your message is attached below.

--${uid}/${host_name}
Content-Type: message/rfc822
Content-Description: Undelivered Message
Content-Transfer-Encoding: 8bit

@msg_headers

@msg_body

--${uid}/${host_name}--
