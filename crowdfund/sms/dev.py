"""The development provider: nothing leaves the machine; the code is in the log and on /dev/sms."""
import logging
import threading
from collections import OrderedDict

from crowdfund.models.base import utcnow
from crowdfund.sms import SmsProvider

log = logging.getLogger(__name__)
KEEP = 50  # numbers remembered


class DevProvider(SmsProvider):
    """Keeps the latest message per number in memory (one process: `flask run`, the tests' live server)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._latest = OrderedDict()

    def send(self, phone, template, params):
        log.info("SMS to %s (%s): %s", phone, template, params)
        with self._lock:
            self._latest.pop(phone, None)
            self._latest[phone] = {"phone": phone, "template": template, "params": dict(params), "sent_at": utcnow()}
            while len(self._latest) > KEEP:
                self._latest.popitem(last=False)
        return "dev"

    def latest(self):
        """The latest message per number, newest first."""
        with self._lock:
            return list(reversed(self._latest.values()))
