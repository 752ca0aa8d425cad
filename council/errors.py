"""What kind of failure a domain error is, so that the web layer picks its status in one place.

Domain modules raise their own errors (`VoteError`, `PersonaError`, ...) with messages written
for the user. An error that means "what the request names does not exist" also derives from
`NotFound`, and one that means "it exists but is not ready for that" from `Conflict`;
`council.web.errors.status_for` answers them with 404 and 409, other user errors with 400.
"""


class NotFound(LookupError):
    """What a request names does not exist (any more); the message says which."""


class Conflict(Exception):
    """What a request names exists but is not in a state to take it (yet); the message says
    why."""
