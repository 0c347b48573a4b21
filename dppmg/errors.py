"""Exceptions raised for bad input: each message names the file, row or argument at fault."""


class DPPMGError(Exception):
    """Base class of every error the suite raises on purpose."""


class DatasetError(DPPMGError):
    """A dataset file is missing, unreadable or inconsistent."""


class ConfigError(DPPMGError):
    """An argument or configuration value is invalid."""


class OfflineError(DPPMGError):
    """A download was requested but the origin cannot be reached."""
