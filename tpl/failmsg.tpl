From: MAILER-DAEMON@${host_name}
To: ${return_path}
Subject: Undeliverable: your message could not be delivered
Auto-Submitted: auto-replied
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

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

The delivery status follows in the second part of this report, your
original message (or its headers) in the third.
