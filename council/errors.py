"""What kind of failure a domain error is, so that the web layer picks its status in one place.

Domain modules raise their own errors (`VoteError`, `PersonaError`, ...) with messages written
for the user. An error that means "what the request names does not exist" also derives from
`NotFound`; `council.web.errors.status_for` answers it with 404 and other user errors with 400.
"""


class NotFound(LookupError):
    """What a request names does not exist (any more); the message says which."""
