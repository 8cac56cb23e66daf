"""The one exception type domain modules raise for what a user must be told."""
from typing import Optional

from .i18n import N_


class UserError(Exception):
    """A failure to show the user: `message` is a translatable sentence with %(name)s params."""

    message = N_("That did not work.")
    translated: tuple = ()  # params that are themselves messages to translate

    def __init__(self, message: Optional[str] = None, **params):
        self.message = message or self.message
        self.params = params
        super().__init__(self.message % params if params else self.message)

    def render(self, translate) -> str:
        """The message in the reader's language (`translate` maps a message id to its translation)."""
        params = {key: translate(value) % self.params if key in self.translated else value
                  for key, value in self.params.items()}
        text = translate(self.message)
        return text % params if params else text
