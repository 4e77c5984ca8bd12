"""``{name:anytext}``: a path parameter of any text, ``/`` (sent as is or as ``%2F``, which the server
decodes before routing) and line breaks included. Starlette's ``str`` convertor stops at ``/`` and its
``path`` convertor (``.*``) at a line break, so a client-chosen name holding either would reach no route
(404). Routes whose path names client text (a session id, a property key) use it."""

from __future__ import annotations

from starlette.convertors import Convertor, register_url_convertor

ANY_TEXT = "anytext"


class AnyText(Convertor[str]):
    regex = "(?s:.*)"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


# Starlette reads convertors from its registry when a route is declared, so this runs before the
# routes of any module importing it; registering again is harmless.
register_url_convertor(ANY_TEXT, AnyText())
