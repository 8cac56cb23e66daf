"""Work the app does by itself while it runs (synchronising, the daily backup): a thread that does one
round every `interval` seconds, or at once when woken; a failed round is logged (its kind, never its
content) and the next one tries again."""
import logging
import threading

log = logging.getLogger("fieldkit.periodic")


class Periodic(threading.Thread):
    def __init__(self, name: str, interval: float):
        super().__init__(name=name, daemon=True)
        self.interval, self.wake = interval, threading.Event()

    def run(self) -> None:
        while True:
            self.wake.wait(self.interval)
            self.wake.clear()
            try:
                self.round()
            except Exception as error:  # the vault locked meanwhile, a full disk: the next round tries again
                log.warning("%s round failed: %s", self.name, type(error).__name__)

    def round(self) -> None:
        raise NotImplementedError
