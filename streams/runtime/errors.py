"""One error hierarchy, split by what the caller does with it."""


class SynthstreamError(Exception):
    """Base of every error raised by synthstream code."""


class PoisonRecord(SynthstreamError):
    """Input that can never be processed: the agent dead-letters it and moves on.

    ``reason`` is a short code from a small fixed set (it becomes a metric label);
    the message carries the detail.
    """

    def __init__(self, reason: str, detail: str, prompt_id: str | None = None, task: str | None = None) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.prompt_id = prompt_id
        self.task = task


class DecodeError(PoisonRecord):
    """Bytes that are not a record we know: bad marker, unknown fingerprint, corrupt body."""


class TransientError(SynthstreamError):
    """A failure that may go away: retried a bounded number of times, then dead-lettered."""


class ConfigError(SynthstreamError):
    """Configuration that cannot work: raised at start-up with a message saying what to fix."""
